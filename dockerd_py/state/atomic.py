"""Crash-safe file writes: temp file, fsync, rename, fsync of the directory.

A daemon killed at any instant leaves either the old or the new content.
This is the only place that knows how; every persisted file goes through it.
"""

import json
import os

# what JSON decodes to (spelled without `typing`: the shim imports this module and stays lean)
JSONValue = dict | list | str | int | float | bool | None


def write_bytes(path: str, data: bytes, mode: int = 0o600) -> None:
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: str, obj: JSONValue, mode: int = 0o600) -> None:
    write_bytes(path, json.dumps(obj, separators=(",", ":")).encode(), mode)


def read_json(path: str) -> JSONValue:
    with open(path, "rb") as f:
        return json.load(f)
