"""The daemon's side of the child: spawn it, read its status lines, stream tar data."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_F_SETPIPE_SZ = 1031
_CHUNK = 1 << 20
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))}


class ChildError(Exception):
    """The child's error report: `kind` is "notfound" or "system"."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


class _Child:
    """A started child, waiting for its request on a pipe (it has done its imports meanwhile)."""

    def __init__(self) -> None:
        status_r, status_w = os.pipe()
        request_r, request_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", "from dockerd_py.containerfs.child import main; main()",
                 str(request_r), str(status_w)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(request_r, status_w), close_fds=True,
                env=_ENV)
        except BaseException:
            for fd in (status_r, request_w):
                os.close(fd)
            raise
        finally:
            os.close(status_w)
            os.close(request_r)
        self.request_w, self.status_r = request_w, status_r
        try:
            fcntl.fcntl(self.proc.stdout.fileno(), _F_SETPIPE_SZ, _CHUNK)
        except OSError:
            pass

    def discard(self) -> None:
        """An unused child: without a request it exits."""
        os.close(self.request_w)
        os.close(self.status_r)
        for f in (self.proc.stdin, self.proc.stdout):
            f.close()
        self.proc.wait()


class _Spare:
    """Children started ahead of need: imports are most of a child's start (~0.1 s on a busy host).

    `docker cp` makes two requests back to back (a stat, then the copy), so two
    are kept; they are started after a use and discarded after IDLE seconds unused.
    """

    COUNT = 2
    IDLE = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: list[_Child] = []
        self._timer: threading.Timer | None = None

    def take(self) -> _Child:
        with self._lock:
            child = self._children.pop(0) if self._children else None
        if child is None or child.proc.poll() is not None:
            if child is not None:
                child.discard()
            child = _Child()
        threading.Thread(target=self._refill, daemon=True, name="containerfs-spare").start()
        return child

    def _refill(self) -> None:
        with self._lock:
            missing = self.COUNT - len(self._children)
        started = [_Child() for _ in range(max(missing, 0))]
        with self._lock:
            while started and len(self._children) < self.COUNT:
                self._children.append(started.pop())
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.IDLE, self._expire)
            self._timer.daemon = True
            self._timer.start()
        for child in started:
            child.discard()

    def _expire(self) -> None:
        with self._lock:
            children, self._children, self._timer = self._children, [], None
        for child in children:
            child.discard()


_SPARE = _Spare()


class Session:
    """One child process doing one operation; close() always reaps it."""

    def __init__(self, request: dict, data_in: bool = False, data_out: bool = False) -> None:
        child = _SPARE.take()
        self.proc = child.proc
        self._status = os.fdopen(child.status_r, "r")
        try:
            with os.fdopen(child.request_w, "w") as f:
                f.write(json.dumps(request) + "\n")
        except BrokenPipeError:
            pass  # the child died: status() reports it
        if not data_in:
            self.proc.stdin.close()
        if not data_out:
            self.proc.stdout.close()

    def status(self) -> dict:
        """The next status line; raises ChildError for an error report or a child that died."""
        line = self._status.readline()
        if not line:
            code = self.proc.wait()
            raise ChildError(f"container filesystem helper exited with status {code}", "system")
        msg = json.loads(line)
        if "error" in msg:
            raise ChildError(msg["error"], msg.get("kind", "system"))
        return msg

    def feed(self, chunks: Iterable[bytes]) -> None:
        """Send tar data to the child's stdin; a child that stopped reading ends it (its status says why)."""
        try:
            for chunk in chunks:
                self.proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def output(self) -> Iterator[bytes]:
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, _CHUNK)
            if not data:
                return
            yield data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self._status):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
