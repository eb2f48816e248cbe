"""Device nodes and the /dev symlinks of a container (before pivot_root)."""

from __future__ import annotations

import os
import stat

from .mounts import mkdir_all, secure_join
from .syscalls import MS_BIND, Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# (name, major, minor): the nodes every container gets when /dev is a tmpfs.
DEFAULT_DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                   ("urandom", 1, 9), ("tty", 5, 0)]
SYMLINKS = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr")]


def needs_dev_setup(mounts: list[dict[str, Any]]) -> bool:
    """runc creates nodes unless /dev is bind-mounted from somewhere."""
    for m in mounts:
        if m.get("destination") == "/dev":
            return "bind" not in (m.get("options") or []) and "rbind" not in (m.get("options") or []) \
                and m.get("type") != "bind"
    return False


def create_defaults(sys: Syscalls, rootfs: str, extra: list[dict[str, Any]], bind: bool = False) -> None:
    """mknod the default nodes plus linux.devices; caller has umask 0. With
    ``bind`` (a user namespace: mknod is refused) bind the host's nodes instead, as runc."""
    dev = os.path.join(rootfs, "dev")
    for name, major, minor in DEFAULT_DEVICES:
        if bind:
            _bind_host(sys, "/dev/" + name, os.path.join(dev, name))
        else:
            _mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, major, minor, 0, 0)
    for d in extra:
        if bind:
            _bind_host(sys, d["path"], secure_join(rootfs, d["path"]))
            continue
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(d.get("type", "c"))
        if kind is None:
            raise OSError(22, f"device {d.get('path')}: unknown type {d.get('type')!r}")
        path = secure_join(rootfs, d["path"])
        mkdir_all(os.path.dirname(path))
        _mknod(path, kind | (d.get("fileMode") or 0o666) & 0o7777, d.get("major", 0), d.get("minor", 0),
               d.get("uid", 0), d.get("gid", 0))


def _bind_host(sys: Syscalls, host_path: str, target: str) -> None:
    mkdir_all(os.path.dirname(target))
    if not os.path.lexists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    sys.mount(host_path, target, "bind", MS_BIND)


def _mknod(path: str, mode: int, major: int, minor: int, uid: int, gid: int) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mknod(path, mode, os.makedev(major, minor))
    os.chown(path, uid, gid)


def create_symlinks(rootfs: str) -> None:
    dev = os.path.join(rootfs, "dev")
    links = list(SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    for target, name in links:
        try:
            os.symlink(target, os.path.join(dev, name))
        except FileExistsError:
            pass
    ptmx = os.path.join(dev, "ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)
