"""Layer extraction, in this process or in a child process.

Decompressing, hashing and untarring cost CPU per byte, so by default the
daemon hands them to a child process (`extract.main`, kept in a small pool)
that speaks JSON lines on stdin/stdout, one request at a time:

    {"op": "hash", "src": PATH}                  -> {"diff_id": ...}
    {"op": "extract", "src": PATH, "dest": DIR, "overlay": BOOL}
                                                 -> {"diff_id", "size", "split" (base64)}
    with "progress": true, {"progress": N} lines (bytes of PATH read) come first
    failures                                     -> {"error": MESSAGE, "status": 400|500}
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import lzma
import os
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from typing import Any, BinaryIO, Callable, Iterator

from .. import errors
from . import archive, tarsplit


_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hash_layer(src: str) -> str:
    """The diff id of a (possibly compressed) layer file."""
    with open(src, "rb") as raw:
        hashed = archive.HashingReader(archive.decompress(raw))
        hashed.drain()
    return hashed.digest


Progress = Callable[[int], None]
PROGRESS_EVERY = 0.1   # seconds between two progress reports


class _Counting:
    """Reports how much of the (compressed) layer file has been read, every PROGRESS_EVERY at most."""

    def __init__(self, raw: BinaryIO, report: Progress) -> None:
        self._raw = raw
        self._report = report
        self._count = 0
        self._last = 0.0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._count += len(data)
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            self._last = now
            self._report(self._count)
        return data

    def readable(self) -> bool:
        return True


def extract_layer(src: str, dest: str, overlay: bool = True,
                  on_progress: Progress | None = None) -> tuple[str, int, bytes]:
    """Apply a layer file to `dest`: (diff id, size, tar-split bytes).

    `dest` is an empty overlay diff dir (size: its files), or with `overlay`
    false a copy of the parent layer (size: the tar's contents, as moby's naive driver).
    """
    with open(src, "rb") as f:
        raw: BinaryIO = _Counting(f, on_progress) if on_progress else f  # type: ignore[assignment]
        hashed = archive.HashingReader(archive.decompress(raw))
        rec = tarsplit.Recorder(hashed)  # type: ignore[arg-type]
        contents = archive.apply_layer(rec, dest, lambda i: rec.member(  # type: ignore[arg-type]
            i.offset, i.offset_data, i.size if i.isreg() else 0, i.name), overlay)
        split = rec.finish()
    return hashed.digest, archive.tree_size(dest) if overlay else contents, split


def classify(exc: BaseException) -> errors.DockerError:
    """Bad layer data is the client's fault (400); anything else is ours (500)."""
    if isinstance(exc, errors.DockerError):
        return exc
    if isinstance(exc, (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, tarfile.TarError, ValueError)):
        return errors.InvalidParameter(f"invalid layer: {exc}")
    if isinstance(exc, OSError) and exc.errno is None:
        return errors.InvalidParameter(f"invalid layer: {exc}")
    zstd = sys.modules.get("zstandard")  # loaded only once a zstd layer was met
    if zstd is not None and isinstance(exc, zstd.ZstdError):
        return errors.InvalidParameter(f"invalid layer: {exc}")
    return errors.SystemErr(str(exc))


class Extractor:
    """Runs extraction in the calling thread."""

    def hash(self, src: str) -> str:
        try:
            return hash_layer(src)
        except Exception as e:
            raise classify(e) from e

    def extract(self, src: str, dest: str, overlay: bool = True,
                on_progress: Progress | None = None) -> tuple[str, int, bytes]:
        try:
            return extract_layer(src, dest, overlay, on_progress)
        except Exception as e:
            raise classify(e) from e

    def close(self) -> None:
        pass

    def __enter__(self) -> "Extractor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChildExtractor(Extractor):
    """Runs extraction in a child process, started on first use."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.in_sync = True   # False when a request was interrupted before its reply

    def _call(self, request: dict[str, Any], on_progress: Progress | None = None) -> dict[str, Any]:
        with self._lock:
            if self._proc is None:
                env = dict(os.environ)
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", "from dockerd_py.images.extract import main; main()"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, env=env)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self.in_sync = False
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
                while line.startswith(b'{"progress":'):
                    if on_progress is not None:
                        on_progress(json.loads(line)["progress"])
                    line = self._proc.stdout.readline()
            except BrokenPipeError:
                line = b""
            if not line:
                self._proc.kill()
                self._proc.wait()
                self._proc = None
                self.in_sync = True
                raise errors.SystemErr("layer extraction process died")
            self.in_sync = True
        reply = json.loads(line)
        if "error" in reply:
            cls = errors.InvalidParameter if reply.get("status") == 400 else errors.SystemErr
            raise cls(reply["error"])
        return reply

    def hash(self, src: str) -> str:
        return self._call({"op": "hash", "src": src})["diff_id"]

    def extract(self, src: str, dest: str, overlay: bool = True,
                on_progress: Progress | None = None) -> tuple[str, int, bytes]:
        request = {"op": "extract", "src": src, "dest": dest, "overlay": overlay, "progress": on_progress is not None}
        reply = self._call(request, on_progress)
        return reply["diff_id"], reply["size"], base64.b64decode(reply["split"])

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                assert self._proc.stdin is not None and self._proc.stdout is not None
                if not self.in_sync:
                    self._proc.kill()
                self._proc.stdin.close()
                self._proc.stdout.close()
                self._proc.wait()
                self._proc = None


class ExtractorPool:
    """Hands out extractors; child processes are kept (a few idle) and reused."""

    def __init__(self, in_child: bool, max_idle: int = 2) -> None:
        self.in_child = in_child
        self.max_idle = max_idle
        self._idle: list[ChildExtractor] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def get(self) -> Iterator[Extractor]:
        if not self.in_child:
            yield Extractor()
            return
        with self._lock:
            ex = self._idle.pop() if self._idle else ChildExtractor()
        try:
            yield ex
        finally:
            with self._lock:
                keep = ex.in_sync and len(self._idle) < self.max_idle
                if keep:
                    self._idle.append(ex)
            if not keep:
                ex.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for ex in idle:
            ex.close()


def _report_progress(count: int) -> None:
    sys.stdout.write(json.dumps({"progress": count}) + "\n")
    sys.stdout.flush()


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    try:
        if request["op"] == "hash":
            return {"diff_id": hash_layer(request["src"])}
        report = _report_progress if request.get("progress") else None
        diff_id, size, split = extract_layer(request["src"], request["dest"], request.get("overlay", True), report)
        return {"diff_id": diff_id, "size": size, "split": base64.b64encode(split).decode()}
    except Exception as e:  # reported to the parent, which raises it
        err = classify(e)
        return {"error": err.message, "status": err.status}


def main() -> None:
    for line in sys.stdin.buffer:
        if line.strip():
            reply = _serve(json.loads(line))
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
