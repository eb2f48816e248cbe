"""Forwarding to the host's resolvers, as Docker's embedded resolver does.

The servers are read from the host's resolv.conf at forward time (the first
three `nameserver` lines; Google's when there are none, as for a container's
own resolv.conf). Queries leave from sockets of the daemon's thread pool,
which lives in the host's network namespace, so loopback resolvers such as
systemd-resolved's 127.0.0.53 work. A server that fails, times out or
answers SERVFAIL/REFUSED is skipped for the next one.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Sequence

from ..resolvconf import DEFAULT_V4 as FALLBACK_NAMESERVERS
from . import wire

MAX_SERVERS = 3
TIMEOUT = 4.0  # per server, Docker's extIOTimeout
Server = tuple[int, tuple]  # (address family, sockaddr)


def nameservers(resolv_conf: str) -> list[str]:
    """The `nameserver` entries of a resolv.conf file (missing file: none)."""
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        words = line.split()
        if len(words) > 1 and words[0] == "nameserver":
            out.append(words[1])
    return out


def servers(entries: Sequence[str | tuple[str, int]]) -> list[Server]:
    """Socket addresses for entries "ip" (port 53) or (ip, port); bad ones skipped."""
    out: list[Server] = []
    for entry in entries:
        host, port = (entry, 53) if isinstance(entry, str) else entry
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM,
                                      flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            continue
        out.append((info[0][0], info[0][4]))
        if len(out) == MAX_SERVERS:
            break
    return out


def host_servers(resolv_conf: str) -> list[Server]:
    return servers(nameservers(resolv_conf) or list(FALLBACK_NAMESERVERS))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("upstream closed the connection")
        buf += chunk
    return bytes(buf)


def _matches(query: bytes, resp: bytes) -> bool:
    return len(resp) >= wire.HEADER.size and resp[:2] == query[:2] and bool(resp[2] & 0x80)


def _udp(query: bytes, server: Server, timeout: float) -> bytes | None:
    with socket.socket(server[0], socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(server[1])
        s.send(query)
        while True:  # a stray datagram with another id is ignored
            resp = s.recv(65535)
            if _matches(query, resp):
                return resp


def _tcp(query: bytes, server: Server, timeout: float) -> bytes | None:
    with socket.socket(server[0], socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(server[1])
        s.sendall(struct.pack("!H", len(query)) + query)
        (n,) = struct.unpack("!H", _recv_exact(s, 2))
        resp = _recv_exact(s, n)
        return resp if _matches(query, resp) else None


def forward(query: bytes, tcp: bool, upstream: Sequence[Server],
            timeout: float = TIMEOUT) -> bytes | None:
    """The first usable upstream reply to `query` (with the client's id), or None."""
    client_id, mine = query[:2], os.urandom(2)
    out = mine + query[2:]
    for server in upstream:
        try:
            resp = (_tcp if tcp else _udp)(out, server, timeout)
        except OSError:
            continue
        if resp is None or wire.rcode_of(resp) in (wire.SERVFAIL, wire.REFUSED):
            continue
        return client_id + resp[2:]
    return None
