"""Docker's init layer: the files every container gets above its image.

Written straight into the init layer's diff dir. Parent directories copy the
mode and owner of the same directory in the image (searched top-down through
the lower layers) so the init layer does not change how the image looks.
On a copying driver (vfs) the dir already holds the image: what exists is
kept, and no path is followed through the image's symlinks (they could name
host paths).
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


def _mkdirs(diff: str, rel: str, lowers: list[str]) -> bool:
    """Create `rel` and its parents; False when one of them is a symlink or not a directory."""
    parts = [p for p in rel.split("/") if p]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        path = os.path.join(diff, sub)
        if os.path.lexists(path):
            if os.path.islink(path) or not os.path.isdir(path):
                return False
            continue
        st = _image_dir_stat(lowers, sub)
        os.mkdir(path, 0o755)
        if st is not None:
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, stat.S_IMODE(st.st_mode))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def setup(diff: str, lowers: list[str]) -> None:
    """Create the init files in `diff`; `lowers` are the image's diff dirs, top first."""
    for path, kind in ENTRIES:
        rel = path.lstrip("/")
        if not _mkdirs(diff, os.path.dirname(rel), lowers):
            continue
        target = os.path.join(diff, rel)
        if kind == "dir":
            existed = os.path.lexists(target)
            if _mkdirs(diff, rel, lowers) and not existed and _image_dir_stat(lowers, rel) is None:
                os.chmod(target, 0o755)
        elif os.path.lexists(target):
            continue
        elif kind == "file":
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o755)
            os.close(fd)
            os.chown(target, 0, 0)
        else:
            os.symlink(kind, target)
