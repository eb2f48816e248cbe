"""A userland relay for TCP ports published on the host's IPv6 loopback address.

Published ports are DNAT rules, but not on ``::1``: the kernel drops a reply whose
destination, once de-NATed, is ``::1`` arriving on a bridge (IPv6 has no
``route_localnet``). So connections to ``[::1]:<port>`` (an explicit ``::1``
binding, or ``::``) reach the socket the daemon holds the port with
(`netports.reserve`), and this relay joins each to the container's IPv6 address,
as Docker's userland proxy does. It lives in the daemon: while the daemon is down
such connections are refused; a restarted daemon relays again.
"""

from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)


def serve(listener: socket.socket, target: tuple[str, int]) -> None:
    """Relay every connection `listener` accepts to `target` until the listener is shut down."""
    threading.Thread(target=_accept_loop, args=(listener, target), daemon=True,
                     name=f"relay6-{listener.getsockname()[1]}").start()


def stop(listener: socket.socket) -> None:
    """Wake a blocked accept (close alone does not) and close the listener."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


def _accept_loop(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # shut down: the port was released
        threading.Thread(target=_pair, args=(conn, target), daemon=True, name="relay6-conn").start()


def _pair(conn: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=5)
    except OSError as exc:
        log.debug("relay to [%s]:%s failed: %s", target[0], target[1], exc)
        conn.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True, name="relay6-back")
    back.start()
    _pump(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until EOF, then pass the EOF on (half-close)."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
