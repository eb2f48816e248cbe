"""The legacy builder's image cache: a step is a hit when a child of the same parent image was
made from an equal container config (image/cache/compare.go); the newest such child wins.

Only images this daemon built are candidates, unless `--cache-from` names the images
(and their ancestors) to take steps from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..images.ids import parse_time

if TYPE_CHECKING:
    from ..images.store import ImageStore

BUILT_LOCALLY = "builtLocally"


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("OpenStdin") or b.get("OpenStdin"):
        return False
    for key in ("AttachStdout", "AttachStderr", "Tty"):
        if bool(a.get(key)) != bool(b.get(key)):
            return False
    if (a.get("User") or "") != (b.get("User") or ""):
        return False
    for key in ("Cmd", "Env", "Entrypoint"):
        if list(a.get(key) or []) != list(b.get(key) or []):
            return False
    for key in ("Labels", "ExposedPorts", "Volumes"):
        if dict(a.get(key) or {}) != dict(b.get(key) or {}):
            return False
    return True


class ImageCache:
    def __init__(self, store: "ImageStore", cache_from: list[str]) -> None:
        self.store = store
        self.sources: set[str] | None = None
        if cache_from:
            self.sources = set()
            for ref in cache_from:
                try:
                    image_id = store.get(ref).id
                except Exception:
                    continue   # Docker skips a --cache-from it cannot find
                while image_id and image_id not in self.sources:
                    self.sources.add(image_id)
                    image_id = store.parent_of(image_id)

    def _candidates(self, parent: str) -> list[str]:
        if parent:
            return self.store.children(parent)
        return [i for i in list(self.store.images) if not self.store.parent_of(i)]

    def lookup(self, parent: str, config: dict[str, Any]) -> str | None:
        best: tuple[float, str] | None = None
        for image_id in self._candidates(parent):
            if self.sources is not None:
                if image_id not in self.sources:
                    continue
            elif self.store.imagedb.get_meta(image_id, BUILT_LOCALLY) != "true":
                continue
            image = self.store.images.get(image_id)
            if image is None or not _same(image.config.get("container_config") or {}, config):
                continue
            created = parse_time(image.created)
            stamp = created[0] if created else 0.0
            if best is None or stamp > best[0]:
                best = (stamp, image_id)
        return best[1] if best else None

    def mark(self, image_id: str) -> None:
        self.store.imagedb.set_meta(image_id, BUILT_LOCALLY, "true")
