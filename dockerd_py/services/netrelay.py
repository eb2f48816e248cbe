"""A userland relay for ports published on IPv6 host addresses that DNAT cannot serve.

Published ports are DNAT rules, but not on ``::1``: the kernel drops a reply whose
destination, once de-NATed, is ``::1`` arriving on a bridge (IPv6 has no
``route_localnet``). So connections to ``[::1]:<port>`` (an explicit ``::1``
binding, or ``::``) reach the socket the daemon holds the port with
(`netports.reserve`), and this relay joins each to the container's IPv6 address,
as Docker's userland proxy does. On an IPv4-only network Docker's proxy also serves
``[::]`` (and any IPv6 HostIp) to the container's IPv4 address: TCP connections
and UDP datagrams (one upstream socket per client address, dropped after
`UDP_IDLE` seconds without a reply). It lives in the daemon: while the daemon is
down such connections are refused; a restarted daemon relays again.
"""

from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)


UDP_IDLE = 60.0


def serve(listener: socket.socket, target: tuple[str, int]) -> None:
    """Relay every connection (TCP) or datagram (UDP) `listener` gets to `target`
    until the listener is shut down (`stop`)."""
    loop = _accept_loop if listener.type == socket.SOCK_STREAM else _datagram_loop
    threading.Thread(target=loop, args=(listener, target), daemon=True,
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


def _datagram_loop(listener: socket.socket, target: tuple[str, int]) -> None:
    upstreams: dict[tuple, socket.socket] = {}
    lock = threading.Lock()
    while True:
        try:
            data, client = listener.recvfrom(65535)
        except OSError:
            break
        if not client:  # shut down
            break
        with lock:
            up = upstreams.get(client)
            if up is None:
                try:
                    up = socket.socket(socket.AF_INET6 if ":" in target[0] else socket.AF_INET, socket.SOCK_DGRAM)
                    up.connect(target)
                except OSError as exc:
                    log.debug("udp relay to %s:%s failed: %s", target[0], target[1], exc)
                    continue
                upstreams[client] = up
                threading.Thread(target=_replies, args=(listener, up, client, upstreams, lock),
                                 daemon=True, name="relay6-udp").start()
        try:
            up.send(data)
        except OSError:
            pass
    with lock:
        for up in upstreams.values():
            up.close()


def _replies(listener: socket.socket, up: socket.socket, client: tuple,
             upstreams: dict[tuple, socket.socket], lock: threading.Lock) -> None:
    """The container's replies to one client, until `UDP_IDLE` passes without one."""
    up.settimeout(UDP_IDLE)
    try:
        while True:
            listener.sendto(up.recv(65535), client)
    except OSError:  # idle, or closed
        pass
    with lock:
        if upstreams.get(client) is up:
            del upstreams[client]
    up.close()
