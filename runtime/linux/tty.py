"""Console for ``process.terminal``: a pty from the container's devpts instance,
master sent over --console-socket (SCM_RIGHTS), slave as controlling terminal."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

from . import syscalls as sc
from .syscalls import Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty() -> tuple[int, str]:
    """Open /dev/ptmx (-> pts/ptmx of the container's devpts) and unlock it."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    num = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    return master, f"/dev/pts/{num}"


def setup(sys: Syscalls, console_sock: socket.socket, size: dict[str, Any] | None,
          console: bool = True) -> str:
    """Create the pty, bind the slave on /dev/console (init only, not for
    exec), hand the master over."""
    master, slave = open_pty()
    try:
        if size:
            fcntl.ioctl(master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))
        if console:
            target = "/dev/console"
            if not os.path.exists(target):
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            sys.mount(slave, target, "bind", sc.MS_BIND)
        socket.send_fds(console_sock, [b"/dev/ptmx"], [master])
    finally:
        os.close(master)
        console_sock.close()
    return slave


def make_controlling(slave: str) -> None:
    """Open the slave as stdio and controlling terminal of this (session leader) process."""
    fd = os.open(slave, os.O_RDWR)
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)
