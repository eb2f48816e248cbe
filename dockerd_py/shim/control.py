"""The control socket DIR/shim.sock: one JSON request line per connection, one reply line.

This is the transport only; what each request does is the shim's (server.py).
"""

import json
import selectors
import socket
from collections.abc import Callable

MAX_REQUEST = 1 << 20  # bytes of a request line

# handle(connection, request, what the client sent after the request line)
Handler = Callable[[socket.socket, dict, bytes], None]


def parse_request(line: bytes) -> dict:
    req = json.loads(line)
    if not isinstance(req, dict):
        raise ValueError("request is not an object")
    return req


def reply(sock: socket.socket, obj: dict, keep: bool = False) -> bool:
    """Send one reply line; close the connection unless `keep` (and it worked)."""
    try:
        sock.setblocking(True)
        sock.settimeout(5)
        sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        ok = True
    except OSError:
        ok = False
    if not keep or not ok:
        sock.close()
    return ok


class Conn:
    """A control connection still reading its request line."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()


class ControlSocket:
    """Accepts connections and reads their request lines in the event loop, then hands
    each request to `handle`."""

    def __init__(self, listener: socket.socket, sel: selectors.BaseSelector,
                 handle: Handler) -> None:
        self.listener = listener
        self.sel = sel
        self.handle = handle
        self.conns: dict[int, Conn] = {}

    def start(self) -> None:
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, self.on_accept)

    def on_accept(self, key: selectors.SelectorKey, mask: int) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        self.conns[sock.fileno()] = Conn(sock)
        self.sel.register(sock, selectors.EVENT_READ, self.on_readable)

    def on_readable(self, key: selectors.SelectorKey, mask: int) -> None:
        c = self.conns[key.fd]
        try:
            data = c.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            c.buf += data
            if b"\n" not in c.buf and len(c.buf) < MAX_REQUEST:
                return
        del self.conns[key.fd]
        self.sel.unregister(key.fd)
        line, _, rest = bytes(c.buf).partition(b"\n")
        if not line.strip():
            c.sock.close()
            return
        try:
            req = parse_request(line)
        except ValueError as e:
            reply(c.sock, {"error": f"bad request: {e}"})
            return
        self.handle(c.sock, req, rest)

    def drain(self, handle: Handler) -> None:
        """The last requests: those connected or queued in the listen backlog are read
        (blocking, briefly) and given to `handle`; then the listener is closed."""
        socks = [c.sock for c in self.conns.values()]
        self.conns.clear()
        while True:
            try:
                sock, _ = self.listener.accept()
                socks.append(sock)
            except OSError:
                break
        for sock in socks:
            try:
                sock.setblocking(True)
                sock.settimeout(0.5)
                buf = b""
                while b"\n" not in buf:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                req = parse_request(buf.split(b"\n", 1)[0])
            except (OSError, ValueError):
                sock.close()
                continue
            handle(sock, req, b"")
        self.listener.close()


class Waiters:
    """Connections waiting to be told a process's exit; one that hangs up is forgotten."""

    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.socks: list[socket.socket] = []

    def add(self, sock: socket.socket) -> None:
        self.socks.append(sock)
        self.sel.register(sock, selectors.EVENT_READ, lambda key, mask: self.on_readable(sock))

    def on_readable(self, sock: socket.socket) -> None:
        """A waiting client hung up (or sent junk, which is ignored)."""
        try:
            if sock.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.sel.unregister(sock)
        self.socks.remove(sock)
        sock.close()

    def answer(self, obj: dict) -> None:
        for sock in self.socks:
            try:
                self.sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            reply(sock, obj)
        self.socks.clear()
