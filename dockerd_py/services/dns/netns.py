"""The listening sockets of one container, opened inside its network namespace.

A socket belongs to the namespace of the thread that creates it and keeps it
afterwards, so a short-lived thread setns(2)s into the sandbox (Python 3.11
has no os.setns), opens and binds both sockets, and ends; no process forks.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from typing import Any

ADDRESS = ("127.0.0.11", 53)
CLONE_NEWNET = 0x40000000
_libc: Any = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "not a network namespace" if err == errno.EINVAL else os.strerror(err))


def _bind(netns_path: str) -> tuple[socket.socket, socket.socket]:
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    finally:
        os.close(fd)
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
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["sockets"] = _bind(netns_path)
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="dns-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        exc = outcome["error"]
        raise OSError(exc.errno, f"embedded DNS cannot listen on 127.0.0.11:53 in "
                      f"{netns_path}: {exc.strerror or exc}") from exc
    return outcome["sockets"]
