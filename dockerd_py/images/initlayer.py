"""Docker's init layer: the files every container gets above its image.

Written straight into the init layer's diff dir. Parent directories copy the
mode and owner of the same directory in the image (searched top-down through
the lower layers) so the init layer does not change how the image looks.
"""

from __future__ import annotations

import os
import stat

ENTRIES: tuple[tuple[str, str], ...] = (
    ("/dev/pts", "dir"),
    ("/dev/shm", "dir"),
    ("/proc", "dir"),
    ("/sys", "dir"),
    ("/.dockerenv", "file"),
    ("/etc/resolv.conf", "file"),
    ("/etc/hosts", "file"),
    ("/etc/hostname", "file"),
    ("/dev/console", "file"),
    ("/etc/mtab", "/proc/mounts"),
)


def _image_dir_stat(lowers: list[str], rel: str) -> os.stat_result | None:
    for lower in lowers:
        path = os.path.join(lower, rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return st if stat.S_ISDIR(st.st_mode) else None
    return None


def _mkdirs(diff: str, rel: str, lowers: list[str]) -> None:
    parts = [p for p in rel.split("/") if p]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        path = os.path.join(diff, sub)
        if os.path.isdir(path):
            continue
        st = _image_dir_stat(lowers, sub)
        os.mkdir(path, 0o755)
        if st is not None:
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, stat.S_IMODE(st.st_mode))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def setup(diff: str, lowers: list[str]) -> None:
    """Create the init files in `diff`; `lowers` are the image's diff dirs, top first."""
    for path, kind in ENTRIES:
        rel = path.lstrip("/")
        _mkdirs(diff, os.path.dirname(rel), lowers)
        target = os.path.join(diff, rel)
        if kind == "dir":
            _mkdirs(diff, rel, lowers)
            if _image_dir_stat(lowers, rel) is None:
                os.chmod(target, 0o755)
        elif kind == "file":
            fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o755)
            os.close(fd)
            os.chown(target, 0, 0)
        else:
            os.symlink(kind, target)
