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
import hashlib
import json
import os
from typing import BinaryIO, Iterator

from .. import errors

FILE, SEGMENT = 1, 2


class Recorder:
    """A reader that records every byte outside the file payloads it is told about.

    Chunks read are kept by reference (not copied) until a member's payload
    passes them; only the header bytes between payloads are sliced out.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pos = 0
        self._chunks: list[tuple[int, bytes]] = []   # (stream offset, data) not yet recorded
        self._base = 0            # stream offset where the next segment starts
        self._skip_to = 0         # bytes before this offset are payload, not recorded
        self._lines: list[str] = []

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n) or b""
        start, self._pos = self._pos, self._pos + len(data)
        if self._pos > self._skip_to:
            self._chunks.append((start, data))
        return data

    def readable(self) -> bool:
        return True

    def _segment(self, upto: int) -> None:
        parts = []
        for start, data in self._chunks:
            lo, hi = max(self._base, start), min(upto, start + len(data))
            if lo < hi:
                parts.append(data[lo - start:hi - start])
        if parts:
            payload = base64.b64encode(b"".join(parts)).decode()
            self._lines.append(f'{{"type":{SEGMENT},"payload":"{payload}","position":{len(self._lines)}}}')

    def member(self, offset: int, offset_data: int, size: int, name: str) -> None:
        """Called for each member once its header has been parsed."""
        self._segment(offset_data)
        line = f'{{"type":{FILE},"name":{json.dumps(name)},"payload":null,"position":{len(self._lines)}'
        self._lines.append(line + (f',"size":{size}}}' if size else "}"))
        payload_end = offset_data + size
        # keep the chunks reaching past the payload (padding belongs to the next segment)
        self._chunks = [c for c in self._chunks if c[0] + len(c[1]) > payload_end]
        self._base = payload_end
        self._skip_to = payload_end

    def finish(self) -> bytes:
        """Record the trailing bytes; return the gzip'd JSON lines."""
        while self.read(1 << 20):
            pass
        self._segment(self._pos)
        self._lines.append("")
        return gzip.compress("\n".join(self._lines).encode(), compresslevel=6, mtime=0)


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


def verified(chunks: Iterator[bytes], diff_id: str) -> Iterator[bytes]:
    """`chunks`, failing at the end (as moby's layer.TarStream) when they do not hash to `diff_id`."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if "sha256:" + h.hexdigest() != diff_id:
        raise errors.SystemErr(f"could not verify layer data for: {diff_id}. This may be because internal "
                               "files in the layer store were modified. Re-pulling or rebuilding this "
                               "image may resolve the issue")


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
