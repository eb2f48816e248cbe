"""The overlay2 graph driver's directory layout and mounts.

`overlay2/<id>/{diff,link,lower,work,merged}`; `overlay2/l/<link>` is a short
symlink to `../<id>/diff` that keeps the mount options below one page.
Layers are staged in `overlay2/.tmp-<id>` and renamed into place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess

from . import archive, layerdiff
from .ids import link_id

LINK_DIR = "l"
STAGING_PREFIX = ".tmp-"
MNT_DETACH = 2
_PAGE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


def is_mounted(path: str) -> bool:
    return os.path.realpath(path) in mount_points()


def detach_under(path: str) -> None:
    """Lazily unmount everything mounted at or below `path` (deepest first)."""
    real = os.path.realpath(path)
    for mp in sorted((m for m in mount_points() if m == real or m.startswith(real + "/")),
                     key=len, reverse=True):
        _libc.umount2(mp.encode(), MNT_DETACH)


class Overlay2:
    """Directory management and mounts for `<data-root>/overlay2`."""

    name = "overlay2"
    overlay_whiteouts = True

    def __init__(self, home: str) -> None:
        self.home = home
        os.makedirs(os.path.join(home, LINK_DIR), mode=0o700, exist_ok=True)
        self._index_off = os.path.exists("/sys/module/overlay/parameters/index")

    def dir(self, cache_id: str) -> str:
        return os.path.join(self.home, cache_id)

    def diff_dir(self, cache_id: str) -> str:
        return os.path.join(self.home, cache_id, "diff")

    def exists(self, cache_id: str) -> bool:
        return os.path.isdir(self.dir(cache_id))

    # -- creation -----------------------------------------------------------
    def _populate(self, base: str, parent: str | None) -> str:
        """Fill `base` with diff/, link, and (with a parent) work/ and lower; return the link id."""
        os.makedirs(os.path.join(base, "diff"), mode=0o755, exist_ok=True)
        lid = link_id()
        with open(os.path.join(base, "link"), "w") as f:
            f.write(lid)
        if parent is not None:
            os.makedirs(os.path.join(base, "work"), mode=0o700, exist_ok=True)
            lower = self.lower_spec(parent)
            with open(os.path.join(base, "lower"), "w") as f:
                f.write(lower)
        return lid

    def stage(self, cache_id: str, parent: str | None = None) -> str:
        """Create the staging dir for a new image layer; return its (empty) diff dir."""
        base = os.path.join(self.home, STAGING_PREFIX + cache_id)
        os.mkdir(base, 0o710)
        os.mkdir(os.path.join(base, "diff"), 0o755)
        return os.path.join(base, "diff")

    def discard(self, cache_id: str) -> None:
        archive.remove_tree(os.path.join(self.home, STAGING_PREFIX + cache_id))

    def commit(self, cache_id: str, parent: str | None) -> None:
        """Finish a staged layer and rename it into place."""
        base = os.path.join(self.home, STAGING_PREFIX + cache_id)
        lid = self._populate(base, parent)
        _fsync_tree_top(base)
        os.rename(base, self.dir(cache_id))
        self._link(lid, cache_id)
        if parent is not None:
            open(os.path.join(self.dir(parent), "committed"), "a").close()

    def create(self, cache_id: str, parent: str | None) -> None:
        """Create an empty layer (the init and read-write layers of a container)."""
        base = os.path.join(self.home, STAGING_PREFIX + cache_id)
        os.mkdir(base, 0o710)
        lid = self._populate(base, parent)
        os.rename(base, self.dir(cache_id))
        self._link(lid, cache_id)

    def _link(self, lid: str, cache_id: str) -> None:
        target = os.path.join("..", cache_id, "diff")
        path = os.path.join(self.home, LINK_DIR, lid)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)

    def link_of(self, cache_id: str) -> str:
        with open(os.path.join(self.dir(cache_id), "link")) as f:
            return f.read().strip()

    def lower_spec(self, cache_id: str) -> str:
        """The `lower` file of a child of `cache_id`: its link, then its own lowers."""
        spec = f"{LINK_DIR}/{self.link_of(cache_id)}"
        try:
            with open(os.path.join(self.dir(cache_id), "lower")) as f:
                rest = f.read().strip()
        except FileNotFoundError:
            rest = ""
        return spec + (":" + rest if rest else "")

    def lowers(self, cache_id: str) -> list[str]:
        try:
            with open(os.path.join(self.dir(cache_id), "lower")) as f:
                return [p for p in f.read().strip().split(":") if p]
        except FileNotFoundError:
            return []

    def lower_dirs(self, cache_id: str) -> list[str]:
        """Absolute diff dirs of the lower layers, uppermost first."""
        return [os.path.realpath(os.path.join(self.home, p)) for p in self.lowers(cache_id)]

    def metadata(self, cache_id: str) -> dict[str, str]:
        base = self.dir(cache_id)
        data = {"MergedDir": os.path.join(base, "merged"),
                "UpperDir": os.path.join(base, "diff"),
                "WorkDir": os.path.join(base, "work")}
        lowers = self.lower_dirs(cache_id)
        if lowers:
            data["LowerDir"] = ":".join(lowers)
        return dict(sorted(data.items()))

    def changes(self, cache_id: str, parent: str | None = None) -> list[dict]:
        """Read from the upper dir and the lower layers (`parent` is among them)."""
        return layerdiff.changes(self.diff_dir(cache_id), self.lower_dirs(cache_id))

    def diff_size(self, cache_id: str, parent: str | None = None) -> int:
        return archive.tree_size(self.diff_dir(cache_id))

    # -- mounts -------------------------------------------------------------
    def mount(self, cache_id: str) -> str:
        """Mount the layer's merged view (idempotent) and return it."""
        base = self.dir(cache_id)
        merged = os.path.join(base, "merged")
        os.makedirs(merged, mode=0o700, exist_ok=True)
        if is_mounted(merged):
            return merged
        lowers = self.lowers(cache_id)
        if not lowers:
            raise OSError(f"layer {cache_id} has no lower layers to mount")
        prefix = "index=off," if self._index_off else ""
        absolute = (f"{prefix}lowerdir={':'.join(os.path.join(self.home, p) for p in lowers)},"
                    f"upperdir={os.path.join(base, 'diff')},workdir={os.path.join(base, 'work')}")
        if len(absolute) < _PAGE - 1:
            if _libc.mount(b"overlay", merged.encode(), b"overlay", 0, absolute.encode()) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"mount overlay on {merged}: {os.strerror(err)}")
            return merged
        relative = (f"{prefix}lowerdir={':'.join(lowers)},"
                    f"upperdir={cache_id}/diff,workdir={cache_id}/work")
        proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", relative, merged],
                              cwd=self.home, capture_output=True, text=True)
        if proc.returncode != 0:
            raise OSError(f"mount overlay on {merged}: {proc.stderr.strip()}")
        return merged

    def unmount(self, cache_id: str) -> None:
        merged = os.path.join(self.dir(cache_id), "merged")
        while is_mounted(merged):
            if _libc.umount2(merged.encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unmount {merged}: {os.strerror(err)}")

    # -- removal ------------------------------------------------------------
    def remove(self, cache_id: str) -> None:
        base = self.dir(cache_id)
        if not os.path.isdir(base):
            return
        detach_under(base)
        try:
            lid = self.link_of(cache_id)
            path = os.path.join(self.home, LINK_DIR, lid)
            if lid and os.path.lexists(path):
                os.unlink(path)
        except FileNotFoundError:
            pass
        archive.remove_tree(base)

    def entries(self) -> list[str]:
        """Names of all layer dirs (and staging leftovers) under the home."""
        return [n for n in os.listdir(self.home) if n != LINK_DIR]

    def clean_links(self) -> None:
        """Remove short links whose layer is gone."""
        ldir = os.path.join(self.home, LINK_DIR)
        for name in os.listdir(ldir):
            path = os.path.join(ldir, name)
            if not os.path.exists(path):
                os.unlink(path)


def _fsync_tree_top(base: str) -> None:
    """Flush the layer's files (the whole filesystem) before the rename that publishes it."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
