"""Foreground ``run`` of a terminal container without --console-socket: we are
the console's receiver ourselves and copy between our terminal and the pty."""

from __future__ import annotations

import fcntl
import os
import select
import socket
import termios

from .. import signals


class Proxy:
    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1

    def receive(self) -> None:
        """Take the pty master init sent (create has returned: it is there)."""
        self.theirs.close()
        _, fds, _, _ = socket.recv_fds(self.ours, 1024, 1)
        self.ours.close()
        if not fds:
            raise OSError("no pty master received from the container")
        self.master = fds[0]
        self.resize()

    def resize(self) -> None:
        try:
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass

    def copy_until_exit(self, pid: int) -> int:
        """Pump stdin -> pty and pty -> stdout until init exits; its wait status."""
        saved = None
        if os.isatty(0):
            saved = termios.tcgetattr(0)
            raw = termios.tcgetattr(0)
            raw[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
            raw[2] |= termios.CS8
            raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
            termios.tcsetattr(0, termios.TCSAFLUSH, raw)
        signals.signal(28, lambda *_: self.resize())  # SIGWINCH
        inputs = [0, self.master]
        status = None
        try:
            while True:
                if status is None:
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = st
                try:
                    ready, _, _ = select.select(inputs, [], [], 0.05)
                except InterruptedError:
                    continue
                if self.master in ready:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    os.write(1, data)
                elif status is not None:
                    break
                if 0 in ready:
                    data = os.read(0, 65536)
                    if data:
                        os.write(self.master, data)
                    else:
                        inputs.remove(0)
        finally:
            if saved is not None:
                termios.tcsetattr(0, termios.TCSAFLUSH, saved)
            os.close(self.master)
        if status is None:
            _, status = os.waitpid(pid, 0)
        return status
