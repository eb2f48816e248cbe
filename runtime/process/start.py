"""Releasing a created init: read exec.fifo, then remove it (status -> running)."""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import select

from .. import state as st
from ..container import Container
from ..errors import IncorrectStatus


def release(c: Container) -> None:
    """Open the fifo for reading (unblocking init's open), wait for its byte,
    or for init's exit (its pidfd), whichever comes first."""
    fifo = f"{c.dir}/{st.FIFO}"
    pidfd = c.pidfd()  # before the open: that open lets init run (and maybe exit)
    if pidfd is None:
        raise IncorrectStatus("cannot start a container that has stopped")
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except BaseException:
        os.close(pidfd)
        raise
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if fd in ready:
                if os.read(fd, 1):
                    break
                # EOF: init opened the fifo and went away without its byte
                raise IncorrectStatus("cannot start a container that has stopped")
            if pidfd in ready:
                raise IncorrectStatus("cannot start a container that has stopped")
    finally:
        os.close(fd)
        os.close(pidfd)
    os.unlink(fifo)
