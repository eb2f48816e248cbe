"""The json-file log's files as the shim rotates them (shim/logfile.py, moby's naming):
`<log>.<max-file - 1>[.gz]` oldest ... `<log>.1[.gz]`, then `<log>` being written.

The shim renames and unlinks them while the daemon reads: a reader opens a set that existed
at one moment (the names are stat'ed before and after opening; a rotation in between makes
it open them again), and a follower that finished a file finds the one written after it.
"""

from __future__ import annotations

import gzip
import os
import time
from typing import BinaryIO


def _inode(name: str) -> int | None:
    try:
        return os.stat(name).st_ino
    except FileNotFoundError:
        return None


def _open(name: str) -> BinaryIO | None:
    try:
        return open(name, "rb")
    except FileNotFoundError:
        return None


class LogFiles:
    """Open files of one log: `rotated` oldest first (a .gz one decompressing), and `current`."""

    def __init__(self, rotated: list[BinaryIO], current: BinaryIO | None, raw: list[BinaryIO]) -> None:
        self.rotated = rotated
        self.current = current
        self._raw = raw  # what to close (a GzipFile leaves its file open)

    @classmethod
    def open(cls, path: str, max_file: int) -> LogFiles:
        names = [name for i in range(max_file - 1, 0, -1) for name in (f"{path}.{i}", f"{path}.{i}.gz")]
        names.append(path)
        attempts = 100
        while True:
            before = [_inode(name) for name in names]
            opened: list[tuple[str, BinaryIO]] = []
            for i in range(max_file - 1, 0, -1):
                # a .1 being compressed has both; moby reads the plain one
                for name in (f"{path}.{i}", f"{path}.{i}.gz"):
                    f = _open(name)
                    if f is not None:
                        opened.append((name, f))
                        break
            current = _open(path)
            if current is not None:
                opened.append((path, current))
            same = [_inode(name) for name in names] == before and all(
                os.fstat(f.fileno()).st_ino == before[names.index(name)] for name, f in opened)
            attempts -= 1
            if same or not attempts:
                rotated = [gzip.GzipFile(fileobj=f, mode="rb") if name.endswith(".gz") else f
                           for name, f in opened if f is not current]
                return cls(rotated, current, [f for _, f in opened])
            for _, f in opened:
                f.close()
            time.sleep(0.005)

    def adopt(self, f: BinaryIO) -> None:
        """A follower's next file, closed with the others."""
        self._raw.append(f)

    def close(self) -> None:
        for f in self._raw:
            f.close()

    def __enter__(self) -> LogFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def successor(path: str, max_file: int, old: BinaryIO | None) -> tuple[BinaryIO, BinaryIO] | None:
    """The file the shim wrote after `old` (a raw file; None: no log was open), once `old` was
    rotated, as (raw file, file to read); None while it was not, or the next one is not there yet.

    `old` is looked for among `<log>.1[.gz] ...` (a plain file gzipped since is recognised by
    its size and first bytes): found at .i, the file at .i-1 (or <log>) is its successor, if
    `old` is still at .i once that was opened. `old` no longer there (max-file 1 unlinks it)
    leaves <log> as the best guess: a follower more than one rotation behind then misses
    files, as it may with moby.
    """
    now = _inode(path)
    if now is None or (old is not None and now == os.fstat(old.fileno()).st_ino):
        return None
    for i in range(1, max_file if old is not None else 1):
        if _holds(f"{path}.{i}", old):
            for name in ((path,) if i == 1 else (f"{path}.{i - 1}", f"{path}.{i - 1}.gz")):
                f = _open(name)
                if f is not None:
                    if _holds(f"{path}.{i}", old):
                        return f, gzip.GzipFile(fileobj=f, mode="rb") if name.endswith(".gz") else f
                    f.close()
            return None  # rotated again meanwhile: look again on the next poll
    f = _open(path)
    return (f, f) if f is not None else None


def _holds(name: str, old: BinaryIO) -> bool:
    """Whether `name` or `name.gz` is `old`, or `name.gz` is `old` compressed."""
    ino = os.fstat(old.fileno())
    if _inode(name) == ino.st_ino or _inode(name + ".gz") == ino.st_ino:
        return True
    gz = _open(name + ".gz")
    if gz is None:
        return False
    with gz:
        try:
            gz.seek(-4, os.SEEK_END)
            if int.from_bytes(gz.read(4), "little") != ino.st_size & 0xFFFFFFFF:  # gzip's ISIZE
                return False
            gz.seek(0)
            head = os.pread(old.fileno(), 4096, 0)
            return gzip.GzipFile(fileobj=gz, mode="rb").read(len(head)) == head
        except (OSError, EOFError):
            return False  # still being written
