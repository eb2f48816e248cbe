"""`docker diff`: a container's changes, read from its overlay upper dir.

Kinds as Docker's archive.Change: 0 modified, 1 added, 2 deleted. The result
is what Docker's overlay2 reports on kernels like this one (it falls back to
its "naive" diff when overlay's redirect_dir is enabled), computed from the
upper dir: a path there is added unless the lower layers show it, modified if
its type, mode, owner or device differ (for non-directories also its mtime or
size); a 0/0 character device is a whiteout (deleted); an opaque directory
deletes each entry the lower layers had there and the upper dir does not.
Every directory with a change inside is listed, as modified, before it.
"""

from __future__ import annotations

import os
import stat

from .archive import OPAQUE_XATTR

MODIFIED, ADDED, DELETED = 0, 1, 2


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Lowers:
    """The view of the lower layers (uppermost first), whiteouts and opaque dirs applied."""

    def __init__(self, layers: list[str]) -> None:
        self.layers = layers

    def lookup(self, rel: str) -> os.stat_result | None:
        parts = rel.split("/")
        for layer in self.layers:
            try:
                st = os.lstat(os.path.join(layer, rel))
            except (FileNotFoundError, NotADirectoryError):
                st = None
            if st is not None:
                return None if _is_whiteout(st) else st
            if self._hides_below(layer, parts):
                return None
        return None

    @staticmethod
    def _hides_below(layer: str, parts: list[str]) -> bool:
        """An ancestor of the path in this layer is a whiteout, an opaque dir or not a dir at all."""
        for i in range(1, len(parts)):
            ancestor = os.path.join(layer, *parts[:i])
            try:
                st = os.lstat(ancestor)
            except (FileNotFoundError, NotADirectoryError):
                return False
            if not stat.S_ISDIR(st.st_mode) or _is_opaque(ancestor):
                return True
        return False

    def names(self, rel: str) -> set[str]:
        """Entries the lower view has in directory `rel`."""
        found: set[str] = set()
        if self.lookup(rel) is None:
            return found
        for layer in self.layers:
            path = os.path.join(layer, rel)
            try:
                entries = os.listdir(path)
            except OSError:
                entries = []
            for name in entries:
                child = f"{rel}/{name}"
                if name not in found and self.lookup(child) is not None:
                    found.add(name)
            if _is_opaque(path):
                break
        return found


def _same_time(a: int, b: int) -> bool:
    """sameFsTime: equal, or equal seconds where one side has no sub-second part."""
    return a == b or (a // 10**9 == b // 10**9 and (a % 10**9 == 0 or b % 10**9 == 0))


def modified(old: os.stat_result, new: os.stat_result) -> bool:
    """Docker's comparison: type, mode, owner, device; for non-directories also mtime and size."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    if stat.S_ISDIR(new.st_mode):
        return False
    return not _same_time(old.st_mtime_ns, new.st_mtime_ns) or old.st_size != new.st_size


class ChangeList:
    """Changes in Docker's order: a directory with a change inside is listed (first) as modified."""

    def __init__(self) -> None:
        self.out: list[dict] = []
        self._listed: set[str] = set()  # directories already in `out`

    def record(self, path: str, kind: int, is_dir: bool = False) -> None:
        ancestor = ""
        for part in path.split("/")[1:-1]:
            ancestor += "/" + part
            if ancestor not in self._listed:
                self.out.append({"Path": ancestor, "Kind": MODIFIED})
                self._listed.add(ancestor)
        self.out.append({"Path": path, "Kind": kind})
        if is_dir:
            self._listed.add(path)


def changes(upper: str, lowers: list[str]) -> list[dict]:
    view = _Lowers(lowers)
    log = ChangeList()
    record = log.record

    def visit(rel: str) -> None:  # depth first, names sorted
        directory = os.path.join(upper, rel.lstrip("/"))
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        if rel and _is_opaque(directory):
            for name in sorted(view.names(rel.lstrip("/")) - set(names)):
                record(f"{rel}/{name}", DELETED)
        for name in names:
            path = f"{rel}/{name}"
            st = os.lstat(os.path.join(directory, name))
            if _is_whiteout(st):
                record(path, DELETED)
                continue
            lower = view.lookup(path.lstrip("/"))
            is_dir = stat.S_ISDIR(st.st_mode)
            if lower is None or modified(lower, st):
                record(path, ADDED if lower is None else MODIFIED, is_dir)
            if is_dir:
                visit(path)

    visit("")
    return log.out
