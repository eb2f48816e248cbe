"""json-file log driver: Docker's `<id>-json.log` line format (DEFAULTS.md §9)."""

import json
import time

from .logfile import LogFile

BUF_SIZE = 16 * 1024  # moby's copier defaultBufSize: longer lines become partial messages

_encode = json.encoder.encode_basestring  # C-accelerated, ensure_ascii=False flavour


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def now() -> str:
    """The current time the way Docker writes timestamps."""
    return rfc3339nano(time.time_ns())


def encode_line(data: bytes, stream: str, ts: str) -> bytes:
    """One log record (with trailing newline) the way moby's jsonlog encoder writes it."""
    s = _encode(data.decode("utf-8", "replace"))
    if "<" in s or ">" in s or "&" in s or "\u2028" in s or "\u2029" in s:
        s = (s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
             .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return f'{{"log":{s},"stream":"{stream}","time":"{ts}"}}\n'.encode()


_SPECIAL = (b"<", b">", b"&", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def encode_lines(lines: list[bytes], stream: str, ts: str) -> bytes:
    """Records for many complete lines (given without their newlines), one timestamp."""
    chunk = b"\n".join(lines)
    if any(c in chunk for c in _SPECIAL):
        return b"".join([encode_line(line + b"\n", stream, ts) for line in lines])
    # "\n" is ASCII, so decoding the whole chunk equals decoding line by line.
    tail = f'\\n","stream":"{stream}","time":"{ts}"}}\n'
    enc = _encode
    return "".join(['{"log":' + enc(t)[:-1] + tail
                    for t in chunk.decode("utf-8", "replace").split("\n")]).encode()


class JSONLog:
    """Splits each stream into lines and appends json-file records to the log (logfile.py)."""

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1, compress: bool = False) -> None:
        self.file = LogFile(path, max_size, max_file, compress)
        self.partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    def write(self, stream: str, data: bytes) -> None:
        """Buffer `data`; emit every complete line and every full 16 KiB piece."""
        buf = self.partial[stream]
        buf += data
        if b"\n" not in data and len(buf) < BUF_SIZE:
            return
        ts = now()
        last = buf.rfind(b"\n")
        if last >= 0 and last < BUF_SIZE * 64:
            lines = bytes(buf[:last]).split(b"\n")
            if max(map(len, lines)) < BUF_SIZE:  # fast path: only whole, short lines
                del buf[:last + 1]
                self.file.append(encode_lines(lines, stream, ts), ts)
                if len(buf) < BUF_SIZE:
                    return
        out = []
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start, start + BUF_SIZE)
            if nl >= 0:
                out.append(encode_line(bytes(buf[start:nl + 1]), stream, ts))
                start = nl + 1
            elif n - start >= BUF_SIZE:
                out.append(encode_line(bytes(buf[start:start + BUF_SIZE]), stream, ts))
                start += BUF_SIZE
            else:
                break
        del buf[:start]
        if out:
            self.file.append(b"".join(out), ts)

    def flush(self) -> None:
        """At EOF: write what is left of every stream as partial messages."""
        ts = now()
        out = []
        for stream, buf in self.partial.items():
            for i in range(0, len(buf), BUF_SIZE):
                out.append(encode_line(bytes(buf[i:i + BUF_SIZE]), stream, ts))
            buf.clear()
        if out:
            self.file.append(b"".join(out), ts)

    def close(self) -> None:
        self.flush()
        self.file.close()
