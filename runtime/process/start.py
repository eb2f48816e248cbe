"""Releasing a created init: read exec.fifo, then remove it (status -> running)."""

from __future__ import annotations

import os
import select

from .. import state as st
from ..container import Container
from ..errors import IncorrectStatus


def release(c: Container) -> None:
    """Open the fifo for reading (unblocking init's open), wait for its byte."""
    fifo = os.path.join(c.dir, st.FIFO)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(50):
                if os.read(fd, 1):
                    break
            if not c.init_alive():
                raise IncorrectStatus("cannot start a container that has stopped")
    finally:
        os.close(fd)
    os.unlink(fifo)
