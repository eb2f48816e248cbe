"""Hijacked connections (attach, exec start): the handler owns the raw socket.

The handler writes `HTTP/1.1 101 UPGRADED` itself, pumps bytes both ways, and
then raises StopIteration from the WSGI response so that gunicorn closes the
connection without writing a response of its own (flask-sock does the same).
"""

import socket
import threading
from collections.abc import Callable

from flask import Response, request

from .versioning import SERVER_HEADER, common_headers

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class _Hijacked(Response):
    def __call__(self, environ, start_response):
        raise StopIteration()


def client_socket() -> socket.socket:
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        raise RuntimeError("connection hijacking needs gunicorn's gthread or sync worker")
    return sock


def upgrade(content_type: str, with_common_headers: bool = False) -> socket.socket:
    """Send the 101 (or 200 when the client did not ask to upgrade) and return the socket."""
    sock = client_socket()
    upgrading = "upgrade" in request.headers.get("Connection", "").lower()
    if not upgrading:  # moby: a plain 200 is always a raw stream
        content_type = RAW
    lines = ["HTTP/1.1 101 UPGRADED" if upgrading else "HTTP/1.1 200 OK", f"Content-Type: {content_type}"]
    if upgrading:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    if with_common_headers:
        lines += [f"{k}: {v}" for k, v in common_headers()] + [f"Server: {SERVER_HEADER}"]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def finish() -> Response:
    """The response a hijacking handler returns once it is done with the socket."""
    return _Hijacked()


def pump(client: socket.socket, backend: socket.socket, on_stdin: Callable[[bytes], bytes | None] | None = None,
         before_eof: Callable[[], None] | None = None) -> None:
    """Copy client→backend (stdin) and backend→client (output) until the output ends.

    A half-close of the client's write side ends stdin only (shutdown SHUT_WR on
    the backend); the output keeps flowing until the backend closes. `on_stdin`
    may rewrite stdin chunks, and returns None to end the session (detach keys).
    `before_eof` runs once the output ended, before the client is told so.
    """
    detached = threading.Event()

    def stdin_loop() -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if on_stdin is not None:
                    rewritten = on_stdin(data)
                    if rewritten is None:
                        detached.set()
                        break
                    data = rewritten
                if data:
                    backend.sendall(data)
        except OSError:
            pass
        try:
            if detached.is_set():
                backend.shutdown(socket.SHUT_RDWR)
            else:
                backend.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    reader = threading.Thread(target=stdin_loop, daemon=True, name="attach-stdin")
    reader.start()
    try:
        while True:
            data = backend.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    if before_eof is not None:
        before_eof()
    try:
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def client_gone_check(sock: socket.socket) -> "Callable[[], bool]":
    """A cheap test of whether the peer closed the connection (readable with EOF)."""
    import select

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (OSError, ValueError):
            return True

    return gone
