"""The vfs graph driver: every layer is a full copy of its parent plus its own changes.

Docker's layout, `<data-root>/vfs/dir/<id>`; for hosts without overlayfs.
A new layer is staged as `dir/.tmp-<id>` (a copy of the parent, then the
layer's tar applied with deletions, moby's naive unpack) and renamed into
place. A container's rootfs is its read-write layer's directory itself.
"""

from __future__ import annotations

import os
import subprocess

from . import archive, naivediff

STAGING_PREFIX = ".tmp-"


class Vfs:
    name = "vfs"
    overlay_whiteouts = False

    def __init__(self, home: str) -> None:
        self.home = home
        self._dirs = os.path.join(home, "dir")
        os.makedirs(self._dirs, mode=0o700, exist_ok=True)

    def dir(self, cache_id: str) -> str:
        return os.path.join(self._dirs, cache_id)

    def diff_dir(self, cache_id: str) -> str:
        return self.dir(cache_id)

    def exists(self, cache_id: str) -> bool:
        return os.path.isdir(self.dir(cache_id))

    def _staging(self, cache_id: str) -> str:
        return os.path.join(self._dirs, STAGING_PREFIX + cache_id)

    def stage(self, cache_id: str, parent: str | None) -> str:
        base = self._staging(cache_id)
        if parent is None:
            os.mkdir(base, 0o755)
        else:
            _copy_tree(self.dir(parent), base)
        return base

    def discard(self, cache_id: str) -> None:
        archive.remove_tree(self._staging(cache_id))

    def commit(self, cache_id: str, parent: str | None) -> None:
        base = self._staging(cache_id)
        _sync(base)
        os.rename(base, self.dir(cache_id))

    def create(self, cache_id: str, parent: str | None) -> None:
        self.stage(cache_id, parent)
        os.rename(self._staging(cache_id), self.dir(cache_id))

    def mount(self, cache_id: str) -> str:
        path = self.dir(cache_id)
        if not os.path.isdir(path):
            raise OSError(f"layer {cache_id} does not exist")
        return path

    def unmount(self, cache_id: str) -> None:
        pass

    def remove(self, cache_id: str) -> None:
        archive.remove_tree(self.dir(cache_id))

    def entries(self) -> list[str]:
        return os.listdir(self._dirs)

    def clean_links(self) -> None:
        pass

    def metadata(self, cache_id: str) -> dict[str, str] | None:
        return None  # Docker's vfs reports no GraphDriver data

    def changes(self, cache_id: str, parent: str | None) -> list[dict]:
        return naivediff.changes(self.dir(cache_id), self.dir(parent) if parent else None)

    def diff_size(self, cache_id: str, parent: str | None) -> int:
        return naivediff.size(self.dir(cache_id), self.changes(cache_id, parent))


def _copy_tree(src: str, dest: str) -> None:
    """A full copy keeping owners, modes, times, hard links, devices and xattrs (trusted.* too)."""
    proc = subprocess.run(["cp", "-a", "--reflink=auto", src, dest], capture_output=True, text=True)
    if proc.returncode != 0:
        archive.remove_tree(dest)
        raise OSError(f"copy layer {os.path.basename(src)}: {proc.stderr.strip()}")


def _sync(path: str) -> None:
    """Flush the layer's files before the rename that publishes it."""
    os.sync()
