"""`repositories.json`: tags and digests pointing at image ids.

On disk: {"Repositories": {"busybox": {"busybox:latest": "sha256:..."}}},
keyed by familiar names as Docker writes it. In memory: normalised refs.
"""

from __future__ import annotations

import json
import os

from .. import errors
from ..state import atomic
from .reference import Reference, parse_normalized


class RefStore:
    """Reference -> image id, persisted on every change (caller holds the lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.refs: dict[Reference, str] = {}
        if os.path.exists(path):
            try:
                data = atomic.read_json(path)
            except (OSError, ValueError):
                data = {}
            for repo in (data.get("Repositories") or {}).values():
                for text, image_id in repo.items():
                    try:
                        self.refs[parse_normalized(text)] = image_id
                    except errors.DockerError:
                        continue

    def save(self) -> None:
        repos: dict[str, dict[str, str]] = {}
        for ref, image_id in self.refs.items():
            repos.setdefault(ref.familiar_name, {})[ref.familiar()] = image_id
        out = {"Repositories": {name: dict(sorted(tags.items())) for name, tags in sorted(repos.items())}}
        atomic.write_bytes(self.path, json.dumps(out, separators=(",", ":")).encode(), 0o600)

    def get(self, ref: Reference) -> str | None:
        return self.refs.get(ref)

    def add(self, ref: Reference, image_id: str, force: bool = True) -> str | None:
        """Point `ref` at `image_id`; return the id it pointed at before (if other)."""
        if ref.familiar_name == "sha256":  # "sha256:<hex>" would read as an image ID
            raise errors.InvalidParameter("refusing to create an ambiguous tag using digest algorithm as name")
        if ref.digest is None and ref.tag is None:
            ref = ref.with_default_tag()
        old = self.refs.get(ref)
        if old is not None and old != image_id:
            if ref.digest is not None:
                raise errors.Conflict(f"Cannot overwrite digest {ref.digest}")
            if not force:
                raise errors.Conflict(
                    f"Conflict: Tag {ref.familiar()} is already set to image {old}, "
                    "if you want to replace it, please use the force option")
        self.refs[ref] = image_id
        self.save()
        return old if old != image_id else None

    def delete(self, ref: Reference) -> bool:
        if self.refs.pop(ref, None) is None:
            return False
        self.save()
        return True

    def references(self, image_id: str) -> list[Reference]:
        """All refs of an image, sorted by familiar string (as Docker lists them)."""
        return sorted((r for r, i in self.refs.items() if i == image_id), key=lambda r: r.familiar())

    def drop_image(self, image_id: str) -> list[Reference]:
        gone = self.references(image_id)
        for ref in gone:
            del self.refs[ref]
        if gone:
            self.save()
        return gone
