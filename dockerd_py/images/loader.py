"""`docker load`: a `docker save` archive (Docker manifest.json, or OCI layout).

As moby's image/tarexport/load.go (20.10 and 28 alike), the images are loaded
one after the other: each one's layers verified against its config's
diff_ids, then its config stored, then its tags. An image that fails stops
the load; the images before it stay loaded (and tagged), the layers added for
it are removed again, so nothing is half-stored. The messages are moby's:
`Loading layer` bars keyed by the short diff id, sized by the layer file,
then a `stream` line per tag.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import tarfile
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

from .. import errors, progress
from . import archive
from .ids import short_id
from .imagedb import parse_config
from .importer import host_platform
from .reference import Reference, parse_normalized

if TYPE_CHECKING:
    from .extract import Extractor
    from .store import ImageStore


@dataclass
class _Entry:
    raw: bytes
    config: dict[str, Any]
    layers: list[str]                      # paths of layer files in the unpacked archive
    tags: list[str] = field(default_factory=list)
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
    except tarfile.ReadError as e:  # Go's archive/tar words, as moby's chrootarchive reports them
        go = _GO_TAR_ERRORS.get(str(e))
        raise errors.InvalidParameter(f"Error processing tar file(exit status 1): {go}" if go
                                      else f"invalid archive: {e}") from e
    except (tarfile.TarError, OSError) as e:
        raise errors.InvalidParameter(f"invalid archive: {e}") from e


_GO_TAR_ERRORS = {"truncated header": "unexpected EOF", "unexpected end of data": "unexpected EOF",
                  "invalid header": "archive/tar: invalid tar header", "bad checksum": "archive/tar: invalid tar header"}


def _layer(base: str, rel: str) -> str:
    path = _safe(base, rel)
    if not os.path.isfile(path):
        raise errors.InvalidParameter(f"invalid archive: layer {rel} not found")
    return path


def _tag(name: str) -> Reference:
    ref = parse_normalized(name)
    if ref.tag is None or ref.digest is not None:
        raise errors.InvalidParameter(f'invalid tag "{name}"')
    return ref


def _docker_entries(base: str) -> list[Callable[[], _Entry]]:
    """The manifest's images, each read when its turn comes (a bad one fails only then)."""
    try:
        manifest = json.loads(_read(base, "manifest.json"))
    except ValueError as e:
        raise errors.InvalidParameter(f"invalid manifest.json: {e}") from e

    def entry(item: dict[str, Any]) -> Callable[[], _Entry]:
        def read() -> _Entry:
            raw = _read(base, item.get("Config", ""))
            return _Entry(raw, parse_config(raw), [_layer(base, p) for p in item.get("Layers") or []],
                          list(item.get("RepoTags") or []), item.get("Parent") or "")
        return read

    return [entry(item) for item in manifest] if isinstance(manifest, list) else []


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
                                  [name] if name else []))
    return entries


class _Failed:
    """An exception of the layer thread, carried to the generator that re-raises it."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class Load:
    """One `docker load`: `run()` yields its messages as moby writes them."""

    def __init__(self, store: "ImageStore") -> None:
        self.store = store
        self.pinned: list[str] = []
        self.added: list[str] = []
        self.cancel = threading.Event()

    def run(self, stream: BinaryIO, quiet: bool) -> Iterator[dict[str, Any]]:
        """Unpack the archive, then load its images in order; unless `quiet`, Docker's
        `Loading layer` bars for the layers extracted (none for those present)."""
        tmp = self.store.temp_path("docker-import-")
        os.makedirs(tmp, mode=0o700)
        try:
            _unpack(stream, tmp)
            if os.path.exists(os.path.join(tmp, "manifest.json")):
                readers = _docker_entries(tmp)
            elif os.path.exists(os.path.join(tmp, "index.json")):
                readers = [lambda e=e: e for e in _oci_entries(tmp)]   # type: ignore[misc]
            else:
                raise errors.InvalidParameter(
                    "invalid archive: no manifest.json (legacy pre-1.10 archives are not supported)")
            ids_text = ""
            ref_count = 0
            with self.store.extractor() as extractor:
                for read in readers:
                    entry = read()
                    if quiet:
                        self._verify(entry, extractor, None)
                    else:
                        yield from self._verify_reporting(entry, extractor)
                    image_id = self._store(entry)
                    ids_text += f"Loaded image ID: {image_id}\n"
                    ref_count = len(entry.tags)
                    yield from self._tag(image_id, entry)
            if ref_count == 0:   # moby writes it even when empty (no image): `{}`, a blank line in the CLI
                yield {"stream": ids_text} if ids_text else {}
        finally:
            self._unpin()
            self.store.release_layers(self.added)   # those no stored image uses: the failed one's
            archive.remove_tree(tmp)

    def _verify_reporting(self, entry: _Entry, extractor: "Extractor") -> Iterator[dict[str, Any]]:
        """`_verify` in a thread, its progress messages yielded here as they come."""
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def work() -> None:
            try:
                self._verify(entry, extractor, events.put)
                events.put(_DONE)
            except BaseException as e:  # noqa: BLE001 - re-raised by the generator
                events.put(_Failed(e))

        worker = threading.Thread(target=work, name="image-load", daemon=True)
        worker.start()
        try:
            while (item := events.get()) is not _DONE:
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:   # the client went away, or a layer failed: stop after the current layer
            self.cancel.set()
            worker.join()
            self.cancel.clear()

    def _verify(self, entry: _Entry, extractor: "Extractor", report: Callable[[dict[str, Any]], None] | None) -> None:
        """Make sure every layer of `entry` exists (extracting those that do not); they stay pinned."""
        os_name = entry.config.get("os") or "linux"
        if os_name != "linux":
            raise errors.InvalidParameter(f"cannot load {os_name} image on {platform.system().lower()}")
        diff_ids = entry.config["rootfs"].get("diff_ids") or []
        if len(entry.layers) != len(diff_ids):
            raise errors.InvalidParameter(
                f"invalid manifest, layers length mismatch: expected {len(entry.layers)}, got {len(diff_ids)}")
        parent = None
        for i, (path, diff_id) in enumerate(zip(entry.layers, diff_ids)):
            if self.cancel.is_set():
                raise errors.SystemErr("load cancelled")
            # as moby's progress reader over the layer file: the extractor counts the bytes read
            meter = progress.Meter(report, short_id(diff_id), "Loading layer",
                                   os.path.getsize(path)) if report else None
            layer, created = self.store.layers.ensure(parent, diff_id, path, extractor, i, meter)
            self.pinned.append(layer.chain_id)
            if created:
                self.added.append(layer.chain_id)
                if meter is not None:
                    meter.finish()
            parent = layer.chain_id

    def _store(self, entry: _Entry) -> str:
        """Store the config (its layers pinned until now); its id."""
        try:
            return self.store.add_image(entry.raw).id
        finally:
            self._unpin()

    def _tag(self, image_id: str, entry: _Entry) -> Iterator[dict[str, Any]]:
        """The tags one by one, each one's `Loaded image` line (a bad one fails the load, the image
        kept, as moby does), then the parent and the `load` event."""
        for name in entry.tags:
            ref = _tag(name)
            old = self.store.tag_ref(image_id, ref, event=False)
            if old:
                yield _line(f"The image {ref.familiar()} already exists, renaming the old one with ID {old} "
                            "to empty string")
            yield _line(f"Loaded image: {ref.familiar()}")
        if entry.parent:
            self.store.set_parent(image_id, entry.parent)
        self.store.emit("load", image_id, image_id)

    def _unpin(self) -> None:
        for chain in self.pinned:
            self.store.layers.unpin(chain)
        self.pinned.clear()


def _line(text: str) -> dict[str, Any]:
    return {"stream": text + "\n"}
