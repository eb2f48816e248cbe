"""Docker's stdcopy framing and detach-key detection, shared by attach and logs."""

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


def parse_detach_keys(spec: str) -> bytes:
    """`ctrl-p,ctrl-q` → b"\\x10\\x11" (Docker's syntax: ctrl-<a-z@[\\\\]^_> or single chars)."""
    keys = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if part.startswith("ctrl-") and len(part) == 6:
            ch = part[5]
            if "a" <= ch <= "z":
                keys.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                keys.append(ord(ch) - ord("@"))
            else:
                raise ValueError(f"Unknown character: '{part}'")
        elif len(part) == 1:
            keys.append(ord(part))
        else:
            raise ValueError(f"Unknown character: '{part}'")
    return bytes(keys)


class DetachWatcher:
    """Passes stdin through, holding back a partial detach sequence; None means 'detach'."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.detached = False
        self._held = b""

    def feed(self, data: bytes) -> bytes | None:
        if not self.keys:
            return data
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.detached = True
                    return None
                self._held = candidate
            else:
                out += candidate
                self._held = b""
        return bytes(out)


class Demuxer:
    """Undoes `frame`: feed bytes as they come, get the payloads of the complete frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while len(self._buf) >= _HEADER.size:
            _, size = _HEADER.unpack_from(self._buf)
            if len(self._buf) < _HEADER.size + size:
                break
            out.append(bytes(self._buf[_HEADER.size:_HEADER.size + size]))
            del self._buf[:_HEADER.size + size]
        return out
