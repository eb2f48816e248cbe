"""A process whose stdio the shim owns: the container's init, or one exec.

Its output (pipes, or a pty master) is copied to the json-file log and to every attach
stream that asked for it; attach streams feed its stdin. Back-pressure: while an attach
stream has more than HIGH_WATER bytes queued, the output is not read (the process
blocks on a full pipe); while stdin has, the attach streams are not read.
"""

import errno
import os
import selectors
import socket
import time

from .attach import HIGH_WATER, Attacher, stdcopy_frame
from .control import Waiters
from .jsonlog import JSONLog, now
from .runtime import READ_SIZE, Stdio
from .shimlog import log

DRAIN_TIMEOUT = 2.0  # seconds without output, after a process exits, before giving up on EOF


class Proc:
    """One process's stdio, attach streams, exit status and the clients waiting for it."""

    def __init__(self, exec_id: str, tty: bool, stdin: bool, logger: JSONLog | None,
                 sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.exec_id = exec_id                     # "" for the init process
        self.tty = tty
        self.stdin_open = stdin                    # whether attachers may feed stdin
        self.log = logger
        self.pid = 0
        self.exit: dict | None = None              # set when reaped
        self.exited_mono = 0.0
        self.last_output = 0.0
        self.outputs: dict[int, str] = {}          # fd -> "stdout" | "stderr"
        self.master: int | None = None             # pty master (tty mode)
        self.stdin_fd: int | None = None           # our end of the process's stdin
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.attachers: dict[int, Attacher] = {}
        self.waiters = Waiters(sel)
        self.output_paused = False
        self.done = False                          # exited, drained, streams closed

    def name(self) -> str:
        return f"exec {self.exec_id[:12]}" if self.exec_id else "init"

    def set_stdio(self, stdio: Stdio) -> None:
        self.outputs = stdio.outputs
        self.master = stdio.master
        self.stdin_fd = stdio.stdin_fd

    def set_exit(self, exit_code: int) -> None:
        self.exit = {"exit_code": exit_code, "exited_at": now(), "oom_killed": False}
        self.exited_mono = time.monotonic()

    # ---- output ---------------------------------------------------------------------------

    def watch_outputs(self) -> None:
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, self.on_output)

    def on_output(self, key: selectors.SelectorKey, mask: int) -> None:
        fd = key.fd
        stream = self.outputs[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:  # EIO on the pty master once every slave is closed
            if e.errno != errno.EIO:
                log(f"{self.name()}: read {stream}: {e}")
            data = b""
        if not data:
            self.close_output(fd)
            return
        self.last_output = time.monotonic()
        if self.log is not None:
            self.log.write(stream, data)
        if self.attachers:
            frame = data if self.tty else stdcopy_frame(stream, data)
            for a in list(self.attachers.values()):
                if a.wants(stream):
                    self.send(a, frame)

    def close_output(self, fd: int) -> None:
        self.outputs.pop(fd, None)
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        if fd != self.master:
            os.close(fd)

    def close_outputs(self) -> None:
        for fd in list(self.outputs):
            self.close_output(fd)

    def close_outputs_and_pty(self) -> None:
        """After the exit: stop reading output, close the pty master."""
        self.close_outputs()
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def pause_output(self) -> None:
        paused = any(a.backlogged() for a in self.attachers.values())
        if paused == self.output_paused:
            return
        self.output_paused = paused
        if paused:
            for fd in self.outputs:
                self.sel.unregister(fd)
        else:
            self.watch_outputs()

    def drain_timeout(self) -> float:
        """For an exited process whose output is still open: seconds left to wait for EOF.
        When none are left, attach streams that do not read are dropped (they hold up
        the output) or, if none does, the output is closed without EOF."""
        left = max(self.exited_mono, self.last_output) + DRAIN_TIMEOUT - time.monotonic()
        if left > 0:
            return left
        if self.output_paused:
            for a in list(self.attachers.values()):
                if a.backlogged():
                    log(f"{self.name()}: dropping an attach stream that does not read")
                    self.drop(a)
            self.last_output = time.monotonic()
            return DRAIN_TIMEOUT
        log(f"{self.name()}: no EOF on the output after exit; closing it")
        self.close_outputs()
        return 0

    # ---- attach streams -------------------------------------------------------------------

    def add_attacher(self, sock: socket.socket, req: dict, rest: bytes,
                     default_once: bool) -> None:
        """Make `sock` an attach stream; `rest` is stdin the client sent with its request."""
        sock.setblocking(False)
        a = Attacher(sock, req, default_once)
        self.attachers[a.fd] = a
        if rest and a.stdin:
            self.write_stdin(rest)
        self.update_attacher(a)

    def send(self, a: Attacher, data: bytes) -> None:
        if not a.send(data):
            self.drop(a)
            return
        self.update_attacher(a)

    def update_attacher(self, a: Attacher) -> None:
        events = a.events(self.stdin_full())
        registered = a.fd in self.sel.get_map()
        try:
            if events and registered:
                self.sel.modify(a.fd, events, self.on_attacher)
            elif events:
                self.sel.register(a.fd, events, self.on_attacher)
            elif registered:
                self.sel.unregister(a.fd)
        except (KeyError, ValueError, OSError):
            pass
        self.pause_output()

    def on_attacher(self, key: selectors.SelectorKey, mask: int) -> None:
        a = self.attachers.get(key.fd)
        if a is None:
            return
        if mask & selectors.EVENT_WRITE and a.out and not a.flush():
            self.drop(a)
            return
        if mask & selectors.EVENT_READ:
            data = a.receive()
            if data == b"":
                a.reading = False  # half-close: stdin EOF, keep sending output
                if a.stdin and a.stdin_once:
                    self.close_stdin()
                if not (a.stdout or a.stderr):
                    self.drop(a)
                    return
            elif data and a.stdin:
                self.write_stdin(data)
        self.update_attacher(a)

    def drop(self, a: Attacher) -> None:
        self.attachers.pop(a.fd, None)
        try:
            self.sel.unregister(a.fd)
        except (KeyError, ValueError):
            pass
        a.close()
        self.pause_output()

    def close_attachers(self) -> None:
        """Flush and half-close every attach stream (the client then sees EOF)."""
        for a in list(self.attachers.values()):
            try:
                self.sel.unregister(a.fd)
            except (KeyError, ValueError):
                pass
            a.finish()
        self.attachers.clear()

    # ---- stdin ----------------------------------------------------------------------------

    def stdin_full(self) -> bool:
        return len(self.stdin_buf) > HIGH_WATER

    def write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None or self.stdin_close_pending or not self.stdin_open:
            return
        was_full = self.stdin_full()
        self.stdin_buf += data
        self.flush_stdin()
        if self.stdin_full() != was_full:
            for a in list(self.attachers.values()):
                self.update_attacher(a)

    def flush_stdin(self) -> None:
        if self.stdin_fd is None:
            return
        while self.stdin_buf:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError as e:  # EPIPE: the process closed its stdin
                log(f"{self.name()}: write stdin: {e}")
                self.stdin_buf.clear()
                break
            del self.stdin_buf[:n]
        registered = self.stdin_fd in self.sel.get_map()
        if self.stdin_buf and not registered:
            self.sel.register(self.stdin_fd, selectors.EVENT_WRITE,
                              lambda key, mask: self.on_stdin_writable())
        elif not self.stdin_buf:
            if registered:
                self.sel.unregister(self.stdin_fd)
            if self.stdin_close_pending:
                self.stdin_close_pending = False
                self.close_stdin_now()

    def on_stdin_writable(self) -> None:
        was_full = self.stdin_full()
        self.flush_stdin()
        if was_full and not self.stdin_full():
            for a in list(self.attachers.values()):
                self.update_attacher(a)

    def close_stdin(self) -> None:
        """Close stdin once queued input is written (no-op with a TTY)."""
        if self.stdin_fd is None or self.tty:
            return
        if self.stdin_buf:
            self.stdin_close_pending = True
        else:
            self.close_stdin_now()

    def close_stdin_now(self) -> None:
        if self.stdin_fd is not None:
            if self.stdin_fd in self.sel.get_map():
                self.sel.unregister(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = None
