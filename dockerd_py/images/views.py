"""Docker's ImageInspect and ImageSummary JSON for an image."""

from __future__ import annotations

from typing import Any

from .ids import ZERO_TIME, parse_time
from .imagedb import Image
from .reference import Reference


def split_refs(refs: list[Reference]) -> tuple[list[str], list[str]]:
    tags = [r.familiar() for r in refs if r.tag is not None and r.digest is None]
    digests = [r.familiar() for r in refs if r.digest is not None]
    return tags, digests


def _comment(image: Image) -> str:
    comment = image.config.get("comment") or ""
    history = image.config.get("history") or []
    if not comment and history and isinstance(history[-1], dict):
        comment = history[-1].get("comment") or ""
    return comment


def inspect(image: Image, refs: list[Reference], size: int, graph_data: dict[str, str] | None,
            last_tag_time: str | None, parent: str = "", driver: str = "overlay2") -> dict[str, Any]:
    cfg = image.config
    tags, digests = split_refs(refs)
    created = parse_time(image.created)
    out: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": parent,
        "Comment": _comment(image),
        "Created": created[1] if created else "",
        "DockerVersion": cfg.get("docker_version") or "",
        "Author": cfg.get("author") or "",
        "Config": cfg.get("config"),
        "Architecture": cfg.get("architecture") or "",
    }
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    out["Os"] = cfg.get("os") or "linux"
    if cfg.get("os.version"):
        out["OsVersion"] = cfg["os.version"]
    if not created:
        del out["Created"]  # API 1.44+: omitted when the config has none
    out["Size"] = size
    out["GraphDriver"] = {"Data": graph_data, "Name": driver}
    out["RootFS"] = {"Type": "layers", "Layers": image.diff_ids}
    parsed = parse_time(last_tag_time) if last_tag_time else None
    out["Metadata"] = {"LastTagTime": parsed[1] if parsed else ZERO_TIME}
    return out


def summary(image: Image, refs: list[Reference], size: int, parent: str = "") -> dict[str, Any]:
    tags, digests = split_refs(refs)
    return {
        "Containers": -1,
        "Created": image.created_unix,
        "Id": image.id,
        "Labels": image.labels or None,
        "ParentId": parent,
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": size,
    }


def history(image: Image, layer_sizes: list[int], tags: list[str]) -> list[dict[str, Any]]:
    """ImageHistoryResponseItem list, newest first; `layer_sizes` per diff id."""
    items: list[dict[str, Any]] = []
    layer = 0
    for entry in image.config.get("history") or []:
        size = 0
        if not entry.get("empty_layer"):
            if layer < len(layer_sizes):
                size = layer_sizes[layer]
            layer += 1
        created = parse_time(entry.get("created"))
        items.insert(0, {"Comment": entry.get("comment") or "",
                         "Created": int(created[0]) if created else 0,
                         "CreatedBy": entry.get("created_by") or "",
                         "Id": "<missing>", "Size": size, "Tags": None})
    if items:
        items[0]["Id"] = image.id
        items[0]["Tags"] = tags or None
    return items
