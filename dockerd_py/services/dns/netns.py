"""The listening sockets of one container, opened inside its network namespace.

A socket belongs to the namespace of the thread that creates it and keeps it
afterwards, so a short-lived thread setns(2)s into the sandbox (Python 3.11
has no os.setns), opens and binds both sockets, and ends; no process forks.
"""

from __future__ import annotations

import socket

from ..netns import in_netns

ADDRESS = ("127.0.0.11", 53)


def _bind() -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(ADDRESS)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(ADDRESS)
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def open_listeners(netns_path: str) -> tuple[socket.socket, socket.socket]:
    """(udp, tcp) non-blocking sockets bound to 127.0.0.11:53 in `netns_path`.

    Raises OSError naming the path: FileNotFoundError when it does not exist.
    """
    try:
        return in_netns(netns_path, _bind)
    except OSError as exc:
        raise OSError(exc.errno, f"embedded DNS cannot listen on 127.0.0.11:53 in "
                      f"{netns_path}: {exc.strerror or exc}") from exc
