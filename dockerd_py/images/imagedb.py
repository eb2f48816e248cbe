"""`image/overlay2/imagedb`: image configs stored byte for byte, plus metadata.

`content/sha256/<id>` holds the config (its sha256 is the image id);
`metadata/sha256/<id>/{parent,lastUpdated}` holds what is not in it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..state import atomic
from . import archive
from .ids import chain_ids, hex_of, parse_time, sha256_digest, short_id


@dataclass(frozen=True)
class Image:
    """An image: its id, raw config bytes and parsed config."""

    id: str                                   # "sha256:<hex>"
    raw: bytes = field(repr=False)
    config: dict[str, Any] = field(repr=False, compare=False)

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def diff_ids(self) -> list[str]:
        rootfs = self.config.get("rootfs") or {}
        return list(rootfs.get("diff_ids") or [])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def top_layer(self) -> str | None:
        chains = self.chain_ids
        return chains[-1] if chains else None

    @property
    def run_config(self) -> dict[str, Any]:
        """The image's container defaults (`config` in the image JSON)."""
        return self.config.get("config") or {}

    @property
    def labels(self) -> dict[str, str]:
        return self.run_config.get("Labels") or {}

    @property
    def created(self) -> str | None:
        return self.config.get("created")

    @property
    def created_unix(self) -> int:
        parsed = parse_time(self.created)
        return int(parsed[0]) if parsed else 0

    @property
    def os(self) -> str:
        return self.config.get("os") or "linux"


def parse_config(raw: bytes) -> dict[str, Any]:
    """Validate an image config enough to store it."""
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise errors.InvalidParameter(f"invalid image JSON: {e}") from e
    if not isinstance(cfg, dict):
        raise errors.InvalidParameter("invalid image JSON: not an object")
    rootfs = cfg.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise errors.InvalidParameter("invalid image JSON: rootfs type must be layers")
    diffs = rootfs.get("diff_ids") or []
    if not isinstance(diffs, list) or not all(isinstance(d, str) and d.startswith("sha256:") for d in diffs):
        raise errors.InvalidParameter("invalid image JSON: bad diff_ids")
    return cfg


class ImageDB:
    """Config content and metadata on disk."""

    def __init__(self, root: str) -> None:
        self.content = os.path.join(root, "content", "sha256")
        self.meta = os.path.join(root, "metadata", "sha256")
        os.makedirs(self.content, mode=0o700, exist_ok=True)
        os.makedirs(self.meta, mode=0o700, exist_ok=True)

    def load_all(self) -> dict[str, Image]:
        images: dict[str, Image] = {}
        for name in os.listdir(self.content):
            path = os.path.join(self.content, name)
            if name.startswith(".") or not os.path.isfile(path):
                if ".tmp" in name:
                    os.unlink(path)
                continue
            with open(path, "rb") as f:
                raw = f.read()
            image_id = sha256_digest(raw)
            if hex_of(image_id) != name:
                continue  # corrupted content: never served
            try:
                images[image_id] = Image(image_id, raw, parse_config(raw))
            except errors.InvalidParameter:
                continue
        return images

    def put(self, raw: bytes) -> Image:
        image = Image(sha256_digest(raw), raw, parse_config(raw))
        path = os.path.join(self.content, hex_of(image.id))
        if not os.path.exists(path):
            atomic.write_bytes(path, raw, 0o600)
        return image

    def delete(self, image_id: str) -> None:
        try:
            os.unlink(os.path.join(self.content, hex_of(image_id)))
        except FileNotFoundError:
            pass
        archive.remove_tree(os.path.join(self.meta, hex_of(image_id)))

    def clean_metadata(self, known: set[str]) -> None:
        """Drop metadata of images whose content is gone."""
        for name in os.listdir(self.meta):
            if "sha256:" + name not in known:
                archive.remove_tree(os.path.join(self.meta, name))

    def set_meta(self, image_id: str, key: str, value: str) -> None:
        d = os.path.join(self.meta, hex_of(image_id))
        os.makedirs(d, mode=0o700, exist_ok=True)
        atomic.write_bytes(os.path.join(d, key), value.encode(), 0o600)

    def get_meta(self, image_id: str, key: str) -> str | None:
        try:
            with open(os.path.join(self.meta, hex_of(image_id), key)) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None
