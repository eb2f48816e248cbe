"""`docker load`: a `docker save` archive (Docker manifest.json, or OCI layout).

Every layer of every image is verified against its config's diff_ids before
any config or tag is stored; on failure the layers this load added are
removed again, so nothing is half-stored.
"""

from __future__ import annotations

import json
import os
import platform
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from .. import errors
from . import archive
from .imagedb import parse_config
from .importer import host_platform
from .reference import Reference, parse_normalized

if TYPE_CHECKING:
    from .store import ImageStore


@dataclass
class _Entry:
    raw: bytes
    config: dict[str, Any]
    layers: list[str]                      # paths of layer files in the unpacked archive
    tags: list[Reference] = field(default_factory=list)
    parent: str = ""


def _safe(base: str, rel: str) -> str:
    """A path inside the unpacked archive (symlinks resolved, never outside it)."""
    path = os.path.realpath(os.path.join(base, rel))
    root = os.path.realpath(base)
    if path != root and not path.startswith(root + os.sep):
        raise errors.InvalidParameter(f"invalid archive: {rel!r} is outside of the archive")
    return path


def _read(base: str, rel: str) -> bytes:
    try:
        with open(_safe(base, rel), "rb") as f:
            return f.read()
    except FileNotFoundError as e:
        raise errors.InvalidParameter(f"invalid archive: {rel} not found") from e


def _unpack(stream: BinaryIO, dest: str) -> None:
    try:
        with tarfile.open(fileobj=archive.decompress(stream), mode="r|") as tar:  # type: ignore[call-overload]
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise errors.InvalidParameter(f"invalid archive: {e}") from e


def _layer(base: str, rel: str) -> str:
    path = _safe(base, rel)
    if not os.path.isfile(path):
        raise errors.InvalidParameter(f"invalid archive: layer {rel} not found")
    return path


def _tags(names: list[str]) -> list[Reference]:
    out = []
    for name in names or []:
        ref = parse_normalized(name)
        if ref.tag is None or ref.digest is not None:
            raise errors.InvalidParameter(f'invalid tag "{name}"')
        out.append(ref)
    return out


def _docker_entries(base: str) -> list[_Entry]:
    try:
        manifest = json.loads(_read(base, "manifest.json"))
    except ValueError as e:
        raise errors.InvalidParameter(f"invalid manifest.json: {e}") from e
    entries = []
    for item in manifest if isinstance(manifest, list) else []:
        raw = _read(base, item.get("Config", ""))
        entries.append(_Entry(raw, parse_config(raw),
                              [_layer(base, p) for p in item.get("Layers") or []],
                              _tags(item.get("RepoTags") or []), item.get("Parent") or ""))
    return entries


def _blob(base: str, digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return _safe(base, os.path.join("blobs", algo, hexpart))


def _pick_platform(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    arch, _ = host_platform()
    plats = [m for m in manifests if m.get("platform")]
    if not plats:
        return manifests
    match = [m for m in plats if m["platform"].get("os") == "linux"
             and m["platform"].get("architecture") == arch]
    return match[:1]


def _oci_entries(base: str) -> list[_Entry]:
    index = json.loads(_read(base, "index.json"))
    entries = []
    for desc in index.get("manifests") or []:
        annotations = desc.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or ""
        if not name:
            short = annotations.get("org.opencontainers.image.ref.name") or ""
            name = short if (":" in short or "/" in short) and not short[0].isdigit() else ""
        manifests = [desc]
        while manifests and "index" in (manifests[0].get("mediaType") or ""):
            with open(_blob(base, manifests[0]["digest"]), "rb") as f:
                manifests = _pick_platform(json.load(f).get("manifests") or [])
        for mdesc in manifests:
            with open(_blob(base, mdesc["digest"]), "rb") as f:
                manifest = json.load(f)
            with open(_blob(base, manifest["config"]["digest"]), "rb") as f:
                raw = f.read()
            entries.append(_Entry(raw, parse_config(raw),
                                  [_layer(base, os.path.relpath(_blob(base, lay["digest"]), base))
                                   for lay in manifest.get("layers") or []],
                                  _tags([name]) if name else []))
    return entries


def _verify(store: "ImageStore", entries: list[_Entry], pinned: list[str], added: list[str]) -> None:
    """Make sure every layer exists (extracting those that do not)."""
    with store.extractor() as extractor:
        for entry in entries:
            os_name = entry.config.get("os") or "linux"
            if os_name != "linux":
                raise errors.InvalidParameter(f"cannot load {os_name} image on {platform.system().lower()}")
            diff_ids = entry.config["rootfs"].get("diff_ids") or []
            if len(entry.layers) != len(diff_ids):
                raise errors.InvalidParameter(
                    f"invalid manifest, layers length mismatch: expected {len(entry.layers)}, got {len(diff_ids)}")
            parent = None
            for i, (path, diff_id) in enumerate(zip(entry.layers, diff_ids)):
                layer, created = store.layers.ensure(parent, diff_id, path, extractor, i)
                pinned.append(layer.chain_id)
                if created:
                    added.append(layer.chain_id)
                parent = layer.chain_id


def load(store: "ImageStore", stream: BinaryIO) -> Iterator[str]:
    tmp = store.temp_path("docker-import-")
    os.makedirs(tmp, mode=0o700)
    pinned: list[str] = []
    added: list[str] = []
    try:
        _unpack(stream, tmp)
        if os.path.exists(os.path.join(tmp, "manifest.json")):
            entries = _docker_entries(tmp)
        elif os.path.exists(os.path.join(tmp, "index.json")):
            entries = _oci_entries(tmp)
        else:
            raise errors.InvalidParameter(
                "invalid archive: no manifest.json (legacy pre-1.10 archives are not supported)")
        try:
            _verify(store, entries, pinned, added)
        except BaseException:
            for chain in pinned:
                store.layers.unpin(chain)
            pinned.clear()
            store.release_layers(added)
            raise
    finally:
        archive.remove_tree(tmp)
    lines: list[str] = []
    ids_text: list[str] = []
    ref_count = 0
    try:
        for entry in entries:
            image = store.add_image(entry.raw)
            ids_text.append(f"Loaded image ID: {image.id}")
            ref_count = 0
            for ref in entry.tags:
                old = store.tag_ref(image.id, ref, event=False)
                if old:
                    lines.append(f"The image {ref.familiar()} already exists, renaming the old one "
                                 f"with ID {old} to empty string")
                lines.append(f"Loaded image: {ref.familiar()}")
                ref_count += 1
            if entry.parent:
                store.set_parent(image.id, entry.parent)
            store.emit("load", image.id, image.id)
    finally:
        for chain in pinned:
            store.layers.unpin(chain)
    if ref_count == 0:
        lines.extend(ids_text)
    yield from lines
