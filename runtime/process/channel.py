"""Typed JSON messages, one per line, over a pair of pipes between create and init.

init -> create: {"type": "hooks"} (run prestart/createRuntime now),
                {"type": "ready"}, {"type": "error", "msg": ...}
create -> init: {"type": "ok"} (hooks done / state saved), {"type": "error", "msg": ...}

Pipes rather than a socketpair: the socket module (and the enum module behind
it) is a measurable part of the start-up time of every container.
"""

from __future__ import annotations

import os
from .. import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    """One end: read from ``rfd``, write to ``wfd`` (both close-on-exec)."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self._buf = b""

    @staticmethod
    def pair() -> tuple["Channel", "Channel"]:
        r1, w1 = os.pipe()  # os.pipe() fds are O_CLOEXEC already
        r2, w2 = os.pipe()
        return Channel(r1, w2), Channel(r2, w1)

    def send(self, kind: str, **fields: Any) -> None:
        # One write of a short line: atomic on a pipe (< PIPE_BUF usually);
        # loop anyway for long error messages.
        data = (jsonio.dumps({"type": kind, **fields}) + "\n").encode()
        while data:
            data = data[os.write(self.wfd, data):]

    def recv(self) -> dict[str, Any] | None:
        """Next message, or None when the other side has gone."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return jsonio.loads(line)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1
