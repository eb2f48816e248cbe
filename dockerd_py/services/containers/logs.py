"""Reading the json-file log driver's files (DEFAULTS.md §9), rotated ones too (logfiles.py)."""

import gzip
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO

from ...timeutil import rfc3339_to_nano
from .logfiles import LogFiles, successor


@dataclass(frozen=True)
class LogLine:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time: str  # RFC3339Nano as written
    time_nano: int


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    since_nano: int = 0
    until_nano: int = 0  # 0: no bound
    tail: int = -1  # -1: all
    follow: bool = False


def _parse(raw: bytes) -> LogLine | None:
    try:
        entry = json.loads(raw)
        return LogLine(entry["stream"], entry["log"].encode("utf-8", "surrogateescape"), entry["time"],
                       rfc3339_to_nano(entry["time"]))
    except (ValueError, KeyError, TypeError):
        return None  # a torn last line while the shim writes it


class _Lines:
    """A file's complete lines, read as they come; the torn end waits for its newline."""

    def __init__(self, raw: BinaryIO, f: BinaryIO) -> None:
        self.raw = raw  # the file on disk; `f` reads it (decompressing a .gz)
        self.f = f
        self.pending = b""

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.f.read(1 << 16):
            *complete, self.pending = (self.pending + chunk).split(b"\n")
            yield from complete


def _last_lines(f: BinaryIO, count: int) -> tuple[list[bytes], bytes]:
    """The last `count` complete lines of a plain file (read backwards in blocks) and the torn
    end after them; the file is left at its end."""
    f.seek(0, os.SEEK_END)
    end = pos = f.tell()
    chunks: list[bytes] = []
    newlines = 0
    while pos > 0 and newlines <= count:
        step = min(65536, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        chunks.insert(0, chunk)
        newlines += chunk.count(b"\n")
    f.seek(end)
    *lines, torn = b"".join(chunks).split(b"\n")
    return (lines[-count:] if count else []), torn


def _tail(files: LogFiles, count: int) -> tuple[list[bytes], bytes]:
    """The last `count` lines across the files, oldest first, and the current file's torn end."""
    lines, torn = _last_lines(files.current, count) if files.current is not None else ([], b"")
    for f in reversed(files.rotated):
        if len(lines) >= count:
            break
        want = count - len(lines)
        older = ([raw.rstrip(b"\n") for raw in deque(f, maxlen=want)] if isinstance(f, gzip.GzipFile)
                 else _last_lines(f, want)[0])
        lines = older + lines
    return lines, torn


def read(path: str, query: LogQuery, still_running: Callable[[], bool],
         max_file: int = 1) -> Iterator[LogLine | None]:
    """Lines matching the query across the rotated files and the current one; with `follow`,
    keeps going (into the next file after each rotation) until the container stops.

    While following, None is yielded when idle so the caller can check its client.
    """
    with LogFiles.open(path, max_file) as files:
        if files.current is None and not files.rotated:
            return
        current = _Lines(files.current, files.current) if files.current is not None else None
        if query.tail >= 0:
            raws, torn = _tail(files, query.tail)
            if current is not None:
                current.pending = torn
        else:
            raws = chain(*files.rotated, current or ())
        for raw in raws:
            line = _parse(raw.rstrip(b"\n"))
            if line is not None and _wanted(line, query):
                yield line
        if not query.follow:
            return
        idle_after_stop = 0
        while True:
            got = False
            for line in _follow_lines(current, query):
                if line is _PAST_UNTIL:
                    return
                got = True
                yield line
            if got:
                continue
            nxt = successor(path, max_file, current.raw if current else None)
            if nxt is not None:
                # the old file is complete now: what was written to it before the rotation first
                for line in _follow_lines(current, query):
                    if line is _PAST_UNTIL:
                        return
                    yield line
                if current is not None:
                    current.raw.close()  # closing again with the others is harmless
                current = _Lines(*nxt)
                files.adopt(nxt[0])
                continue
            if not still_running():
                idle_after_stop += 1
                if idle_after_stop > 1:  # one more read after the stop catches the last lines
                    return
            elif query.until_nano and time.time_ns() > query.until_nano:
                return
            time.sleep(0.05)
            yield None


_PAST_UNTIL = LogLine("", b"", "", 0)


def _follow_lines(current: _Lines | None, query: LogQuery) -> Iterator[LogLine]:
    """The wanted lines that came to the file; _PAST_UNTIL ends the follower."""
    for raw in current or ():
        line = _parse(raw)
        if line is not None and _wanted(line, query):
            yield line
        elif line is not None and query.until_nano and line.time_nano > query.until_nano:
            yield _PAST_UNTIL
            return


def _wanted(line: LogLine, query: LogQuery) -> bool:
    if line.stream == "stdout" and not query.stdout:
        return False
    if line.stream == "stderr" and not query.stderr:
        return False
    if query.since_nano and line.time_nano < query.since_nano:
        return False
    if query.until_nano and line.time_nano > query.until_nano:
        return False
    return True
