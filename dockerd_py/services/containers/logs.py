"""Reading the json-file log driver's files (DEFAULTS.md §9)."""

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...timeutil import rfc3339_to_nano


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


def _last_lines(f, count: int) -> list[bytes]:
    """The last `count` complete lines of a file, reading backwards in blocks."""
    if count == 0:
        return []
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
    data = b"".join(chunks)
    f.seek(end)
    return data.splitlines()[-count:]


def read(path: str, query: LogQuery, still_running: Callable[[], bool]) -> Iterator[LogLine | None]:
    """Lines matching the query; with `follow`, keeps going until the container stops.

    While following, None is yielded when idle so the caller can check its client.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        lines = _last_lines(f, query.tail) if query.tail >= 0 else f.read().splitlines(keepends=False)
        for raw in lines:
            line = _parse(raw)
            if line is not None and _wanted(line, query):
                yield line
        if not query.follow:
            return
        pending = b""
        idle_after_stop = 0
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = _parse(raw)
                    if line is not None and _wanted(line, query):
                        if query.until_nano and line.time_nano > query.until_nano:
                            return
                        yield line
                continue
            if not still_running():
                idle_after_stop += 1
                if idle_after_stop > 1:  # one more read after the stop catches the last lines
                    return
            elif query.until_nano and time.time_ns() > query.until_nano:
                return
            time.sleep(0.05)
            yield None


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
