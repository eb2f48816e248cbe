"""The server side of RFC 6455 on a hijacked socket: the handshake and frames (no extensions).

Enough for `attach/ws`: binary or text messages out, client messages in
(masked, possibly fragmented), ping answered, close echoed.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading

from flask import request

from ..errors import InvalidParameter
from .hijack import client_socket

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocket:
    """One server-side connection; send() is safe from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()
        self._closed = False

    @staticmethod
    def handshake_key() -> str:
        """The client's key, once its request is checked to be a websocket upgrade."""
        key = request.headers.get("Sec-WebSocket-Key", "")
        if "websocket" not in request.headers.get("Upgrade", "").lower() or not key:
            raise InvalidParameter("websocket: the client is not using the websocket protocol")
        return key

    @classmethod
    def accept(cls, key: str) -> "WebSocket":
        """Answer the upgrade with the 101; from here on the socket is ours."""
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        sock = client_socket()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return cls(sock)

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, n])
        elif n < 1 << 16:
            head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
        with self._send_lock:
            if not self._closed:
                self.sock.sendall(head + payload)

    def close(self, code: int = 1000) -> None:
        try:
            self.send(code.to_bytes(2, "big"), CLOSE)
        except OSError:
            pass
        self._closed = True

    def _read_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def receive(self) -> bytes | None:
        """The next data message (fragments joined); None once the client closed or went away."""
        message = bytearray()
        try:
            while True:
                b0, b1 = self._read_exact(2)
                opcode, fin, n = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(self._read_exact(2), "big")
                elif n == 127:
                    n = int.from_bytes(self._read_exact(8), "big")
                mask = self._read_exact(4) if b1 & 0x80 else b""
                payload = self._read_exact(n) if n else b""
                if mask:
                    payload = _unmask(payload, mask)
                if opcode == CLOSE:
                    self.close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)
                    return None
                if opcode == PING:
                    self.send(payload, PONG)
                    continue
                if opcode == PONG:
                    continue
                message += payload
                if fin:
                    return bytes(message)
        except (EOFError, OSError):
            return None


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
