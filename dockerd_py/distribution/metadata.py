"""Distribution metadata, in Docker's layout under `image/overlay2/distribution/`.

`diffid-by-digest/sha256/<blob hex>` holds the DiffID a registry blob unpacks
to; `v2metadata-by-diffid/sha256/<diff hex>` holds the JSON list of
`{"Digest", "SourceRepository", "HMAC"}` where that layer was seen (at most
50, newest last). Push uses them to skip or mount blobs a registry has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass

from ..images.ids import hex_of
from ..state import atomic

MAX_METADATA = 50


@dataclass(frozen=True)
class V2Metadata:
    digest: str
    source_repository: str
    hmac: str = ""

    def to_json(self) -> dict[str, str]:
        return {"Digest": self.digest, "SourceRepository": self.source_repository, "HMAC": self.hmac}


def metadata_hmac(key: bytes, digest: str, repo: str) -> str:
    if not key:
        return ""
    return hmac.new(key, (digest + repo).encode(), hashlib.sha256).hexdigest()


class MetadataStore:
    def __init__(self, image_root: str) -> None:
        base = os.path.join(image_root, "distribution")
        self._by_digest = os.path.join(base, "diffid-by-digest", "sha256")
        self._by_diffid = os.path.join(base, "v2metadata-by-diffid", "sha256")
        for d in (self._by_digest, self._by_diffid):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self._lock = threading.Lock()

    def diff_id(self, digest: str) -> str | None:
        try:
            with open(os.path.join(self._by_digest, hex_of(digest))) as f:
                return f.read().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def get(self, diff_id: str) -> list[V2Metadata]:
        try:
            with open(os.path.join(self._by_diffid, hex_of(diff_id)), "rb") as f:
                items = json.load(f)
        except (OSError, ValueError):
            return []
        return [V2Metadata(i.get("Digest", ""), i.get("SourceRepository", ""), i.get("HMAC", ""))
                for i in items if isinstance(i, dict)]

    def add(self, diff_id: str, meta: V2Metadata) -> None:
        with self._lock:
            items = [m for m in self.get(diff_id) if m != meta] + [meta]
            items = items[-MAX_METADATA:]
            atomic.write_bytes(os.path.join(self._by_diffid, hex_of(diff_id)),
                               json.dumps([m.to_json() for m in items], separators=(",", ":")).encode(), 0o644)
            atomic.write_bytes(os.path.join(self._by_digest, hex_of(meta.digest)), diff_id.encode(), 0o644)

    def remove(self, diff_id: str, meta: V2Metadata) -> None:
        """Forget a blob the registry no longer has."""
        with self._lock:
            items = [m for m in self.get(diff_id) if m != meta]
            atomic.write_bytes(os.path.join(self._by_diffid, hex_of(diff_id)),
                               json.dumps([m.to_json() for m in items], separators=(",", ":")).encode(), 0o644)
