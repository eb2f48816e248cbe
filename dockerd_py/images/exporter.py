"""`docker save`: a tar that is both a Docker (manifest.json) and an OCI image layout.

The layout of Engine 25+ (PROTOCOL.md §9): blobs/sha256/<config id>, one
uncompressed blob per layer (digest == diff id, rebuilt byte for byte from
tar-split), one OCI manifest per image, index.json, manifest.json, oci-layout.
The legacy `repositories` file and v1 layer JSON are not written.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from ..errors import NotFound, no_such_image
from .ids import hex_of, parse_time
from .imagedb import Image
from .reference import Reference, parse_any

if TYPE_CHECKING:
    from .store import ImageStore

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass
class _Item:
    image: Image
    tags: list[Reference] = field(default_factory=list)


def _header(name: str, size: int, mtime: float, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mtime = int(mtime)
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _file(name: str, chunks: Iterable[bytes], size: int, mtime: float) -> Iterator[bytes]:
    yield _header(name, size, mtime)
    written = 0
    for chunk in chunks:
        written += len(chunk)
        yield chunk
    if written != size:
        raise OSError(f"{name}: wrote {written} bytes, expected {size}")
    if size % 512:
        yield b"\0" * (512 - size % 512)


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def select(store: "ImageStore", names: list[str]) -> list[_Item]:
    """Images to save with their tags; a bare repository name saves all its tags."""
    items: dict[str, _Item] = {}
    for name in names:
        parsed = parse_any(name)
        if not isinstance(parsed, str) and parsed.tag is None and parsed.digest is None:
            tagged = [r for r in store.refs.refs if r.name == parsed.name and r.tag is not None and r.digest is None]
            if tagged:
                for ref in sorted(tagged, key=lambda r: r.familiar()):
                    item = items.setdefault(store.refs.refs[ref], _Item(store.images[store.refs.refs[ref]]))
                    item.tags.append(ref)
                continue
        if not isinstance(parsed, str) and (parsed.tag is not None or parsed.digest is not None) \
                and store.refs.get(parsed) is None:
            raise NotFound("reference does not exist")  # moby's reference store, not the image lookup
        try:
            image = store.get(name)
        except NotFound:
            raise no_such_image(name) from None  # moby searches the ID set with the name as given
        item = items.setdefault(image.id, _Item(image))
        if not isinstance(parsed, str) and parsed.tag is not None and store.refs.get(parsed) == image.id:
            item.tags.append(parsed)
    return list(items.values())


def export(store: "ImageStore", items: list[_Item]) -> Iterator[bytes]:
    """Stream the archive; the caller has pinned the images' layers."""
    written: set[str] = set()
    manifest: list[dict] = []
    index: list[dict] = []
    yield _header("blobs/", 0, 0, directory=True)
    yield _header("blobs/sha256/", 0, 0, directory=True)
    for item in items:
        image = item.image
        created = parse_time(image.created)
        mtime = created[0] if created else 0
        layer_descs, layer_paths = [], []
        for diff_id, chain in zip(image.diff_ids, image.chain_ids):
            size = store.layers.tar_size(chain)
            path = f"blobs/sha256/{hex_of(diff_id)}"
            if diff_id not in written:
                written.add(diff_id)
                yield from _file(path, store.layers.tar_stream(chain), size, mtime)
            layer_paths.append(path)
            layer_descs.append({"mediaType": LAYER_TYPE, "digest": diff_id, "size": size})
        if image.id not in written:
            written.add(image.id)
            yield from _file(f"blobs/sha256/{hex_of(image.id)}", [image.raw], len(image.raw), mtime)
        oci = _json({"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                     "config": {"mediaType": CONFIG_TYPE, "digest": image.id, "size": len(image.raw)},
                     "layers": layer_descs})
        oci_digest = "sha256:" + hashlib.sha256(oci).hexdigest()
        if oci_digest not in written:
            written.add(oci_digest)
            yield from _file(f"blobs/sha256/{hex_of(oci_digest)}", [oci], len(oci), 0)
        desc = {"mediaType": MANIFEST_TYPE, "digest": oci_digest, "size": len(oci)}
        for ref in item.tags:
            index.append({**desc, "annotations": {"io.containerd.image.name": str(ref),
                                                  "org.opencontainers.image.ref.name": ref.tag}})
        if not item.tags:
            index.append(desc)
        manifest.append({"Config": f"blobs/sha256/{hex_of(image.id)}",
                         "RepoTags": [r.familiar() for r in item.tags] or None,
                         "Layers": layer_paths})
    index_bytes = _json({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": index})
    yield from _file("index.json", [index_bytes], len(index_bytes), time.time())
    manifest_bytes = _json(manifest) + b"\n"
    yield from _file("manifest.json", [manifest_bytes], len(manifest_bytes), 0)
    layout = b'{"imageLayoutVersion":"1.0.0"}'
    yield from _file("oci-layout", [layout], len(layout), 0)
    yield b"\0" * 1024
