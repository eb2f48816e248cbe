"""User namespaces: the id maps, written by the parent into /proc/<pid>/{uid,gid}_map.

A process cannot map itself beyond its own ids, so the container's first
process unshares CLONE_NEWUSER and waits while the (host-root) parent writes
the maps for it, as runc does. ``setgroups`` is set to "deny" only where the
kernel demands it: a writer without CAP_SETGID in the parent namespace.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def map_text(mappings: list[dict[str, Any]]) -> str:
    """config.json mappings -> the kernel's "inside outside count" lines."""
    return "".join(f"{int(m['containerID'])} {int(m['hostID'])} {int(m['size'])}\n" for m in mappings)


def write_maps(pid: int, linux: dict[str, Any]) -> None:
    """Give the user namespace of ``pid`` the spec's uid and gid maps."""
    if os.geteuid() != 0:
        _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", map_text(linux.get("uidMappings") or []))
    _write(f"/proc/{pid}/gid_map", map_text(linux.get("gidMappings") or []))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    except OSError as e:
        raise OSError(e.errno, f"failed to write {text.strip()!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def maps_root(mappings: list[dict[str, Any]]) -> bool:
    """True if container id 0 is mapped (then init becomes root in the namespace)."""
    return any(int(m.get("containerID", -1)) <= 0 < int(m.get("containerID", -1)) + int(m.get("size", 0))
               for m in mappings)
