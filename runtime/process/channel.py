"""Typed JSON messages over a SOCK_SEQPACKET socketpair between create and init.

init -> create: {"type": "hooks"} (run prestart/createRuntime now),
                {"type": "ready"}, {"type": "error", "msg": ...}
create -> init: {"type": "ok"} (hooks done / state saved), {"type": "error", "msg": ...}
"""

from __future__ import annotations

import json
import socket
from typing import Any


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def send(self, kind: str, **fields: Any) -> None:
        self.sock.send(json.dumps({"type": kind, **fields}).encode())

    def recv(self) -> dict[str, Any] | None:
        """Next message, or None when the other side has gone."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return None
        return json.loads(data) if data else None

    def close(self) -> None:
        self.sock.close()
