"""The daemon's side of the child: spawn it, read its status lines, stream tar data."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_F_SETPIPE_SZ = 1031
_CHUNK = 1 << 20


class ChildError(Exception):
    """The child's error report: `kind` is "notfound" or "system"."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


class Session:
    """One child process doing one operation; close() always reaps it."""

    def __init__(self, request: dict, data_in: bool = False, data_out: bool = False) -> None:
        status_r, status_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", "from dockerd_py.containerfs.child import main; main()",
                 json.dumps({**request, "status_fd": status_w})],
                stdin=subprocess.PIPE if data_in else subprocess.DEVNULL,
                stdout=subprocess.PIPE if data_out else subprocess.DEVNULL,
                pass_fds=(status_w,), close_fds=True, env=env)
        finally:
            os.close(status_w)
        self._status = os.fdopen(status_r, "r")
        if data_out:
            try:
                fcntl.fcntl(self.proc.stdout.fileno(), _F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass

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
        assert self.proc.stdin is not None
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
        assert self.proc.stdout is not None
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
