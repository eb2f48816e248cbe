"""Id-mapped bind mounts (a mount's uidMappings/gidMappings, options idmap/ridmap).

Made by create in the host's mount namespace, before the fork, as runc 1.2
does: a user namespace holding the mappings (a short-lived child unshares it,
we write its maps), a detached copy of the source (open_tree), the idmap set
on it (mount_setattr). init attaches the fd at the destination (move_mount):
inside a user namespace it could not idmap a host filesystem itself.
"""

from __future__ import annotations

import os

from . import syscalls as sc
from . import userns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def is_idmapped(m: dict[str, Any]) -> bool:
    options = m.get("options") or []
    return bool(m.get("uidMappings") or m.get("gidMappings") or "idmap" in options or "ridmap" in options)


def is_bind(m: dict[str, Any]) -> bool:
    options = m.get("options") or []
    return m.get("type") == "bind" or "bind" in options or "rbind" in options


def mappings(m: dict[str, Any], linux: dict[str, Any]) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """The mount's own maps, else (idmap without maps) the container's user namespace maps."""
    if m.get("uidMappings") or m.get("gidMappings"):
        return m.get("uidMappings") or [], m.get("gidMappings") or []
    return linux.get("uidMappings") or [], linux.get("gidMappings") or []


def prepare(sys: sc.Syscalls, mounts: list[dict[str, Any]], linux: dict[str, Any]) -> dict[int, int]:
    """index in mounts -> fd of the id-mapped detached mount. On error, closes what it made."""
    fds: dict[int, int] = {}
    try:
        for i, m in enumerate(mounts):
            if not is_idmapped(m):
                continue
            uids, gids = mappings(m, linux)
            ns_fd = _userns_fd(uids, gids)
            try:
                recursive = "rbind" in (m.get("options") or []) or "ridmap" in (m.get("options") or [])
                fd = sys.open_tree(m["source"], recursive)
                fds[i] = fd
                sys.mount_setattr("", sc.MOUNT_ATTR_IDMAP, 0, recursive, fd=fd, userns_fd=ns_fd)
            except OSError as e:
                raise OSError(e.errno, f"failed to create id-mapped mount of {m.get('source')}: {e.strerror}") \
                    from None
            finally:
                os.close(ns_fd)
    except BaseException:
        close(fds)
        raise
    return fds


def close(fds: dict[int, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass


def _userns_fd(uids: list[dict[str, int]], gids: list[dict[str, int]]) -> int:
    """An fd of a new user namespace with these maps (held by a child only while we open it)."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(w)
            os.close(ready_r)
            sc.default().unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(r, 1)  # until the parent has the namespace
            code = 0
        finally:
            os._exit(code)
    os.close(r)
    os.close(ready_w)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "unable to create a user namespace for an id-mapped mount")
        userns.write_maps(pid, {"uidMappings": uids, "gidMappings": gids})
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w)
        os.close(ready_r)
        os.waitpid(pid, 0)
