"""tar-split: keep a layer tar's headers so the exact tar can be rebuilt from `diff`.

While a layer is extracted, the raw bytes between file payloads (headers,
padding, the end-of-archive blocks) are recorded as *segments* and each
member as a *file* entry, in the `tar-split.json.gz` format Docker keeps in
layerdb (JSON lines: {"type": 1 file | 2 segment, "name", "size", "payload"
(base64), "position"}). `docker save` rebuilds the original bytes, so the
diff id stays the same. File entries carry no crc64 payload (null).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
from typing import BinaryIO, Iterator

from .. import errors

FILE, SEGMENT = 1, 2


class Recorder:
    """A reader that records every byte outside the file payloads it is told about."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pos = 0
        self._kept = bytearray()
        self._base = 0            # stream offset of _kept[0]
        self._skip_to = 0         # bytes before this offset are payload, not recorded
        self._entries: list[dict] = []

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n) or b""
        start, self._pos = self._pos, self._pos + len(data)
        if self._pos > self._skip_to:
            cut = max(0, self._skip_to - start)
            self._kept += data[cut:]
        return data

    def readable(self) -> bool:
        return True

    def _segment(self, upto: int) -> None:
        chunk = bytes(self._kept[:upto - self._base])
        if chunk:
            self._entries.append({"type": SEGMENT, "payload": base64.b64encode(chunk).decode(),
                                  "position": len(self._entries)})

    def member(self, offset: int, offset_data: int, size: int, name: str) -> None:
        """Called for each member once its header has been parsed."""
        self._segment(offset_data)
        entry = {"type": FILE, "name": name, "payload": None, "position": len(self._entries)}
        if size:
            entry["size"] = size
        self._entries.append(entry)
        payload_end = offset_data + size
        # keep the bytes already read past the payload (padding belongs to the next segment)
        self._kept = self._kept[max(0, payload_end - self._base):] if self._pos > payload_end else bytearray()
        self._base = payload_end
        self._skip_to = payload_end

    def finish(self) -> bytes:
        """Record the trailing bytes; return the gzip'd JSON lines."""
        while self.read(1 << 20):
            pass
        self._segment(self._pos)
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            for entry in self._entries:
                gz.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        return buf.getvalue()


def _clean(name: str) -> str:
    return os.path.normpath("/" + name).lstrip("/")


def rebuild(tar_split: str, diff_dir: str) -> Iterator[bytes]:
    """The original layer tar, from `tar-split.json.gz` and the layer's diff dir."""
    with gzip.open(tar_split, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry["type"] == SEGMENT:
                yield base64.b64decode(entry.get("payload") or "")
            elif entry.get("size"):
                size = entry["size"]
                path = os.path.join(diff_dir, _clean(entry["name"]))
                with open(path, "rb") as src:
                    left = size
                    while left:
                        chunk = src.read(min(left, 1 << 20))
                        if not chunk:
                            raise errors.SystemErr(f"layer file {entry['name']} is shorter than recorded")
                        left -= len(chunk)
                        yield chunk


def total_size(tar_split: str) -> int:
    """Length in bytes of the tar `rebuild` produces, without reading the files."""
    total = 0
    with gzip.open(tar_split, "rb") as f:
        for line in f:
            if line.strip():
                entry = json.loads(line)
                if entry["type"] == SEGMENT:
                    total += len(base64.b64decode(entry.get("payload") or ""))
                else:
                    total += entry.get("size") or 0
    return total
