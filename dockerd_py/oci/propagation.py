"""Docker's start-time check of a bind's propagation against the mount its source is on.

A bind asking for shared propagation (``shared``, ``rshared``) needs its source on a shared
mount, one asking for slave (``slave``, ``rslave``) on a shared or slave mount: otherwise the
kernel would silently give less than asked, and Docker refuses to start the container (a
500 with its text, the container stays "created" with exit code 128).
"""

from __future__ import annotations

import os

from ..errors import DockerError
from . import mounts

_SHARED = ("shared", "rshared")
_SLAVE = ("slave", "rslave")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def source_mount(path: str, mountinfo: str = "/proc/self/mountinfo") -> tuple[str, set[str]]:
    """The mount point `path` lies on (after symlinks) and that mount's propagation tags
    ("shared", "master"): the longest mount point that is `path` or a parent of it."""
    real = os.path.realpath(path)
    best, tags = "/", set()
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            point = _unescape(fields[4])
            inside = real == point or point == "/" or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best = point
                optional = fields[6:fields.index("-")]
                tags = {o.split(":", 1)[0] for o in optional}
    return best, tags


def check(host_config: dict, mountinfo: str = "/proc/self/mountinfo") -> None:
    """Raise Docker's error for the first bind whose shared/slave propagation its source cannot give."""
    binds = [mounts.parse_bind(b) for b in host_config.get("Binds") or [] if mounts.is_host_bind(b)]
    binds += [mounts.from_api_mount(m) for m in host_config.get("Mounts") or [] if m.get("Type") == "bind"]
    for m in binds:
        if m.propagation not in _SHARED + _SLAVE:
            continue
        point, tags = source_mount(m.source, mountinfo)
        if m.propagation in _SHARED and "shared" not in tags:
            raise DockerError(f"path {m.source} is mounted on {point} but it is not a shared mount")
        if m.propagation in _SLAVE and not tags & {"shared", "master"}:
            raise DockerError(f"path {m.source} is mounted on {point} but it is not a shared or slave mount")
