"""`docker diff` for drivers without an upper dir (vfs): compare a layer's tree with its parent's.

Moby's naive diff (archive.ChangesDirs): a path only in the new tree is
added, only in the old one deleted, in both modified when `layerdiff.modified`
says so; a directory added or replaced lists everything below it as added.
"""

from __future__ import annotations

import os
import stat

from .layerdiff import ADDED, DELETED, MODIFIED, ChangeList, modified


def _names(path: str | None) -> set[str]:
    if path is None:
        return set()
    try:
        return set(os.listdir(path)) if stat.S_ISDIR(os.lstat(path).st_mode) else set()
    except OSError:
        return set()


def changes(new_root: str, old_root: str | None) -> list[dict]:
    log = ChangeList()

    def visit(rel: str, old_dir: str | None) -> None:  # depth first, names sorted
        new_dir = os.path.join(new_root, rel.lstrip("/"))
        new_names, old_names = _names(new_dir), _names(old_dir)
        for name in sorted(new_names | old_names):
            path = f"{rel}/{name}"
            if name not in new_names:
                log.record(path, DELETED)
                continue
            st = os.lstat(os.path.join(new_dir, name))
            old = os.lstat(os.path.join(old_dir, name)) if old_dir is not None and name in old_names else None
            is_dir = stat.S_ISDIR(st.st_mode)
            if old is None or modified(old, st):
                log.record(path, ADDED if old is None else MODIFIED, is_dir)
            if is_dir:
                keep_old = old is not None and stat.S_ISDIR(old.st_mode)
                visit(path, os.path.join(old_dir, name) if keep_old and old_dir is not None else None)

    visit("", old_root)
    return log.out


def size(root: str, found: list[dict]) -> int:
    """Bytes of the added and modified files (hard links counted once), as moby's ChangesSize."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for change in found:
        if change["Kind"] == DELETED:
            continue
        try:
            st = os.lstat(os.path.join(root, change["Path"].lstrip("/")))
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total
