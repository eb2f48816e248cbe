"""Attach streams: a client's socket that gets a process's output and may feed its stdin.

Output goes out in Docker's stdcopy framing (8-byte header: stream 1 stdout or 2 stderr,
three zero bytes, big-endian uint32 length), or raw for a TTY process. What the socket
does not take at once is queued here; the process (proc.py) decides what to do about a
stream that falls behind.
"""

import selectors
import socket
import struct

from .runtime import READ_SIZE

HIGH_WATER = 1 << 20  # bytes queued (for one attach stream, or for stdin) before pausing the source
STREAM_IDS = {"stdout": 1, "stderr": 2}


def stdcopy_frame(stream: str, data: bytes) -> bytes:
    return struct.pack(">BxxxL", STREAM_IDS[stream], len(data)) + data


class Attacher:
    """One attach stream: what it asked for, and its queued output."""

    __slots__ = ("sock", "fd", "stdin", "stdout", "stderr", "stdin_once", "out", "reading")

    def __init__(self, sock: socket.socket, req: dict, default_once: bool) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.stdin = bool(req.get("stdin"))
        self.stdout = bool(req.get("stdout"))
        self.stderr = bool(req.get("stderr"))
        once = req.get("stdin_once")
        self.stdin_once = default_once if once is None else bool(once)
        self.out = bytearray()
        self.reading = True  # until the client half-closes

    def wants(self, stream: str) -> bool:
        return self.stdout if stream == "stdout" else self.stderr

    def backlogged(self) -> bool:
        return len(self.out) > HIGH_WATER

    def events(self, stdin_full: bool) -> int:
        """The selector events to wait for: input unless stdin is full, output if queued."""
        return (selectors.EVENT_READ if self.reading and not stdin_full else 0) | \
               (selectors.EVENT_WRITE if self.out else 0)

    def send(self, data: bytes) -> bool:
        """Send what the socket takes now and queue the rest; False if the client is gone."""
        if self.out:
            self.out += data
            return True
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            return False
        if n < len(data):
            self.out += data[n:]
        return True

    def flush(self) -> bool:
        """Send queued output (the socket is writable); False if the client is gone."""
        try:
            n = self.sock.send(self.out)
            del self.out[:n]
        except BlockingIOError:
            pass
        except OSError:
            return False
        return True

    def receive(self) -> bytes | None:
        """Input from the client: b"" once it half-closed (or failed), None if none yet."""
        try:
            return self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def close(self) -> None:
        self.sock.close()

    def finish(self) -> None:
        """Send what is queued and half-close, so that the client sees EOF; then close."""
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(5)
            if self.out:
                self.sock.sendall(self.out)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()
