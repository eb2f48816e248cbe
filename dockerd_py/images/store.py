"""ImageStore: the image and layer store behind the images API (contracts.md §4).

Layout is Docker's graphdriver store: `image/<driver>/{imagedb,layerdb,
repositories.json}` and the driver's `overlay2/` or `vfs/dir/`. One re-entrant lock guards all metadata;
layer extraction runs outside it. Events are published after the lock is
released, in the order Docker emits them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, BinaryIO, Callable, ContextManager, Iterator

from .. import errors, progress
from . import archive, delete, exporter, importer, initlayer, loader, upperview, urlsource, views
from .changes import apply_changes
from .ids import ID_HEX_RE, hex_of, random_hex, rfc3339_nano
from .extract import Extractor, ExtractorPool
from .imagedb import Image, ImageDB
from .layers import LayerStore
from .graphdriver import new_driver
from .reference import Reference, parse_any, repo_tag
from .refstore import RefStore

EventSink = Callable[[str, str, dict], None]
DOCKER_VERSION = "27.5.1"


class ImageStore:
    """Images, tags and layers under a data-root."""

    def __init__(self, root: str, on_event: EventSink | None = None,
                 docker_version: str = DOCKER_VERSION, extract_in_child: bool = True,
                 storage_driver: str = "overlay2") -> None:
        self.root = root
        self._extractors = ExtractorPool(extract_in_child)
        self.docker_version = docker_version
        self._on_event = on_event
        self._lock = threading.RLock()
        self._local = threading.local()
        self._rw_running: set[str] = set()    # containers whose task holds the rootfs mount
        self._rw_leases: dict[str, int] = {}  # short users of a container's rootfs (cp, export)
        base = os.path.join(root, "image", storage_driver)
        self._tmp = os.path.join(root, "tmp")
        self.driver = new_driver(storage_driver, root)
        os.makedirs(base, mode=0o700, exist_ok=True)
        os.makedirs(self._tmp, mode=0o700, exist_ok=True)
        self.layers = LayerStore(os.path.join(base, "layerdb"), self.driver, self._lock)
        self.imagedb = ImageDB(os.path.join(base, "imagedb"))
        with self._lock:
            self._clean_tmp()
            self.layers.load()
            stored = self.imagedb.load_all()
            # a config whose layers are missing is never served (nor its tags)
            self.images: dict[str, Image] = {
                i: img for i, img in stored.items() if all(c in self.layers.layers for c in img.chain_ids)}
            self.refs = RefStore(os.path.join(base, "repositories.json"))
            for ref, image_id in list(self.refs.refs.items()):
                if image_id not in self.images:
                    del self.refs.refs[ref]
            self.layers.collect_garbage({img.top_layer for img in self.images.values() if img.top_layer})
            self.imagedb.clean_metadata(set(stored))
            self._parents = {i: p for i in self.images if (p := self.imagedb.get_meta(i, "parent"))}

    # -- helpers shared by the operation modules ------------------------------
    def _clean_tmp(self) -> None:
        for name in os.listdir(self._tmp):
            if name.startswith(("docker-import-", "import-", "pull-")):
                archive.remove_tree(os.path.join(self._tmp, name))

    def temp_path(self, prefix: str) -> str:
        return os.path.join(self._tmp, prefix + random_hex(16))

    def emit(self, action: str, ident: str, name: str, labels: dict | None = None) -> None:
        """Queue an event: published when the outermost public call returns."""
        if self._on_event is None:
            return
        attrs: dict[str, str] = dict(labels if labels is not None else self._labels_of(ident))
        attrs["name"] = name
        pending = getattr(self._local, "events", None)
        if pending is None:
            self._on_event(action, ident, attrs)
        else:
            pending.append((action, ident, attrs))

    def _labels_of(self, ident: str) -> dict[str, str]:
        image = self.images.get(ident)
        return dict(image.labels) if image else {}

    def _flush(self, events: list[tuple[str, str, dict]]) -> None:
        if self._on_event is None:
            return
        for action, ident, attrs in events:
            self._on_event(action, ident, attrs)

    def _collect(self) -> "_Events":
        return _Events(self)

    def extractor(self) -> ContextManager[Extractor]:
        """A layer extractor for one import or load (a pooled child process by default)."""
        return self._extractors.get()

    def close(self) -> None:
        """Stop the idle extraction processes."""
        self._extractors.close()

    def parse_repo_tag(self, text: str) -> Reference:
        """The `repo[:tag]` of an import (a digest is refused, as Docker does)."""
        if "@" in text:
            parse_any(text)  # a malformed reference reports its own error first
            raise errors.InvalidParameter("cannot import digest reference")
        return repo_tag(text)

    def add_image(self, raw: bytes) -> Image:
        """Store a config whose layers all exist (pinned by the caller)."""
        with self._lock:
            image = self.imagedb.put(raw)
            missing = [c for c in image.chain_ids if c not in self.layers.layers]
            if missing:
                raise errors.InvalidParameter(f"layer does not exist: {missing[0]}")
            self.images.setdefault(image.id, image)
            return self.images[image.id]

    def tag_ref(self, image_id: str, ref: Reference, event: bool = True) -> str | None:
        """Point `ref` at `image_id`; return the id it moved from, if any.

        A real tag (event=True) also records LastTagTime and emits "tag";
        `docker load` sets its tags silently, as Docker does.
        """
        with self._lock:
            old = self.refs.add(ref, image_id, force=True)
            if event:
                self.imagedb.set_meta(image_id, "lastUpdated", rfc3339_nano())
        if event:
            self.emit("tag", image_id, ref.familiar())
        return old

    def set_digest_ref(self, image_id: str, ref: Reference) -> None:
        """Point `name@digest` at an image, moving it if it named another (Docker's addDigestReference)."""
        with self._lock:
            if self.refs.get(ref) not in (None, image_id):
                self.refs.delete(ref)
            self.refs.add(ref, image_id)

    def set_parent(self, image_id: str, parent: str) -> None:
        with self._lock:
            if parent in self.images and parent != image_id:
                self.imagedb.set_meta(image_id, "parent", parent)
                self._parents[image_id] = parent

    def parent_of(self, image_id: str) -> str:
        return self._parents.get(image_id, "")

    def children(self, image_id: str) -> list[str]:
        return [i for i, p in self._parents.items() if p == image_id and i in self.images]

    def _referenced_tops(self, exclude: str | None = None) -> set[str]:
        return {img.top_layer for i, img in self.images.items() if i != exclude and img.top_layer}

    def drop_image(self, image: Image) -> list[str]:
        """Delete an image's config and release its layers; return removed chain ids."""
        with self._lock:
            self.refs.drop_image(image.id)
            self.imagedb.delete(image.id)
            self.images.pop(image.id, None)
            self._parents.pop(image.id, None)
            return self.layers.release(image.chain_ids, self._referenced_tops())

    def release_layers(self, chains: list[str]) -> list[str]:
        with self._lock:
            return self.layers.release(chains, self._referenced_tops())

    # -- lookups --------------------------------------------------------------
    def _search(self, term: str) -> Image | None:
        prefix = term[len("sha256:"):] if term.startswith("sha256:") else term
        if not prefix or not ID_HEX_RE.match(prefix):
            return None
        found = [img for i, img in self.images.items() if hex_of(i).startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def _resolve(self, ref: str) -> Image:
        parsed = parse_any(ref)
        if isinstance(parsed, str):
            image = self.images.get(parsed)
            if image is None:
                raise errors.no_such_image(parsed)
            return image
        named = parsed.with_default_tag()
        if named.digest is not None and named.tag is not None:
            named = Reference(named.name, None, named.digest)  # the digest takes precedence
        image_id = self.refs.get(named)
        if image_id is not None and image_id in self.images:
            return self.images[image_id]
        if named.digest is not None and named.digest in self.images:
            return self.images[named.digest]
        image = self._search(ref)
        if image is not None:
            return image
        raise errors.no_such_image(named.familiar())

    def get(self, ref: str) -> Image:
        with self._lock:
            return self._resolve(ref)

    def list(self) -> list[Image]:
        with self._lock:
            return sorted(self.images.values(), key=lambda i: i.created_unix, reverse=True)

    def references(self, image: Image) -> list[Reference]:
        with self._lock:
            return self.refs.references(image.id)

    def layers_size(self) -> int:
        """Bytes of every image layer stored, each counted once (`docker system df`)."""
        with self._lock:
            return sum(layer.size for layer in self.layers.layers.values())

    def size(self, image: Image) -> int:
        with self._lock:
            return self.layers.size_of(image.top_layer)

    def summary(self, image: Image, refs: list[Reference] | None = None) -> dict[str, Any]:
        """ImageSummary; `refs`: the tags and digests to show (a `reference=` filter's), else all."""
        with self._lock:
            return views.summary(image, self.refs.references(image.id) if refs is None else refs,
                                 self.layers.size_of(image.top_layer), self.parent_of(image.id))

    def inspect(self, image: Image) -> dict[str, Any]:
        with self._lock:
            top = self.layers.get(image.top_layer) if image.top_layer else None
            graph = self.driver.metadata(top.cache_id) if top else {}
            return views.inspect(image, self.refs.references(image.id),
                                 self.layers.size_of(image.top_layer), graph,
                                 self.imagedb.get_meta(image.id, "lastUpdated"),
                                 self.parent_of(image.id), self.driver.name)

    def history(self, image: Image) -> list[dict[str, Any]]:
        """`docker history`: ImageHistoryResponseItem list, newest first."""
        with self._lock:
            sizes = [self.layers.layers[c].size if c in self.layers.layers else 0 for c in image.chain_ids]
            items = views.history(image, sizes, [])
            image_id = image.id   # entries take the ids of the parent chain (built and committed images)
            for item in items:
                item["Id"] = image_id
                item["Tags"] = [r.familiar() for r in self.refs.references(image_id)
                                if r.tag is not None and r.digest is None] or None
                image_id = self.parent_of(image_id)
                if not image_id or image_id not in self.images:
                    break
            return items

    def layer_tar(self, chain_id: str) -> Iterator[bytes]:
        """The exact layer tar (for `docker save`): chunks whose sha256 is the diff id."""
        return self.layers.tar_stream(chain_id)

    def save(self, names: list[str]) -> Iterator[bytes]:
        """`docker save`: the archive as chunks (an images/get response body).

        Names are resolved (and their layers pinned) before the first chunk,
        so lookup errors are raised by this call, not while streaming.
        """
        with self._lock:
            items = exporter.select(self, names)
            chains = [c for item in items for c in item.image.chain_ids]
            for chain in chains:
                self.layers.pin(chain)
        return self._stream_save(items, chains)

    def _stream_save(self, items: list, chains: list[str]) -> Iterator[bytes]:
        try:
            yield from exporter.export(self, items)
        finally:
            for chain in chains:
                self.layers.unpin(chain)

    # -- mutations ------------------------------------------------------------
    def import_tar(self, stream: BinaryIO, repo_tag: str | None, changes: list[str],
                   message: str) -> str:
        with self._collect():
            return importer.import_tar(self, stream, repo_tag, changes, message)

    def import_url(self, source: str, repo_tag: str | None, changes: list[str],
                   message: str) -> Iterator[dict[str, Any]]:
        """`docker import URL`: Docker's `Downloading from` status and `Importing` bars, then the image id.

        A bad tag or change, or a URL that cannot be fetched, fails before the first message."""
        ref = self.parse_repo_tag(repo_tag) if repo_tag else None
        run_config = apply_changes(None, changes or [])
        url = urlsource.normalize(source)
        body, size = urlsource.open_url(url)
        tmp = self.temp_path("import-")
        try:
            yield progress.status(f"Downloading from {url}")
            yield from importer.download(body, size, tmp)
            with self._collect():
                image_id = importer.import_file(self, tmp, ref, run_config, message or f"Imported from {url}")
        finally:
            body.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
        yield progress.status(image_id)

    def load(self, stream: BinaryIO, quiet: bool = True) -> Iterator[dict[str, Any]]:
        """Docker's JSON messages of a load: `Loading layer` bars (unless quiet), then `stream` lines."""
        yield from loader.Load(self).run(stream, quiet)

    def tag(self, ref: str, repo: str, tag: str | None = None) -> None:
        """ImageTag: `repo[:tag]` (+ `tag`) now points at the image `ref` names."""
        with self._collect():
            new = repo_tag(repo, tag)
            with self._lock:
                image = self._resolve(ref)
                self.tag_ref(image.id, new)

    def remove(self, ref: str, force: bool = False, noprune: bool = False,
               in_use: delete.InUse | None = None) -> list[dict[str, str]]:
        with self._collect():
            with self._lock:
                image = self._resolve(ref)
                return delete.Remover(self, in_use).remove(ref, image, force, not noprune)

    # -- container read-write layers -------------------------------------------
    def create_rw_layer(self, container_id: str, image_id: str) -> None:
        with self._lock:
            image = self._resolve(image_id)
            lowers = [self.driver.diff_dir(self.layers.layers[c].cache_id)
                      for c in reversed(image.chain_ids)]
            self.layers.create_rw(container_id, image.top_layer,
                                  lambda diff: initlayer.setup(diff, lowers))

    def mount_rw_layer(self, container_id: str) -> str:
        with self._lock:
            rw = self.layers.get_rw(container_id)
            merged = self.driver.mount(rw.mount_id)
            self._rw_running.add(container_id)
            return merged

    @contextlib.contextmanager
    def rw_layer_lease(self, container_id: str) -> Iterator[str]:
        """The merged rootfs for the duration, shared with the task's mount (refcounted like Docker's Get/Put)."""
        with self._lock:
            merged = self.driver.mount(self.layers.get_rw(container_id).mount_id)
            self._rw_leases[container_id] = self._rw_leases.get(container_id, 0) + 1
        try:
            yield merged
        finally:
            with self._lock:
                left = self._rw_leases.pop(container_id) - 1
                if left:
                    self._rw_leases[container_id] = left
                elif container_id not in self._rw_running:
                    self._unmount_rw(container_id)

    def rw_layer_metadata(self, container_id: str) -> dict[str, str] | None:
        """GraphDriver.Data of a container (`docker inspect`): Lower/Merged/Upper/WorkDir (vfs: None)."""
        with self._lock:
            return self.driver.metadata(self.layers.get_rw(container_id).mount_id)

    @contextlib.contextmanager
    def rw_layer_upper(self, container_id: str) -> Iterator[str]:
        """The container's changes as an overlay upper dir (for commit): overlay2's own,
        or on vfs one made for the duration from the naive diff (upperview.py)."""
        with self._lock:
            rw = self.layers.get_rw(container_id)
        if self.driver.overlay_whiteouts:
            yield self.driver.diff_dir(rw.mount_id)
            return
        tmp = self.temp_path("import-upper-")
        try:
            upperview.build(self.driver.dir(rw.mount_id), self.driver.changes(rw.mount_id, rw.init_id), tmp)
            yield tmp
        finally:
            archive.remove_tree(tmp)

    def rw_layer_changes(self, container_id: str) -> list[dict]:
        """`docker diff`: the container's changes over its image (and init layer)."""
        with self._lock:
            rw = self.layers.get_rw(container_id)
        return self.driver.changes(rw.mount_id, rw.init_id)

    def rw_layer_size(self, container_id: str) -> int:
        """SizeRw: bytes of the container's changes."""
        with self._lock:
            rw = self.layers.get_rw(container_id)
        return self.driver.diff_size(rw.mount_id, rw.init_id)

    def unmount_rw_layer(self, container_id: str) -> None:
        with self._lock:
            self._rw_running.discard(container_id)
            if not self._rw_leases.get(container_id):
                self._unmount_rw(container_id)

    def _unmount_rw(self, container_id: str) -> None:
        rw = self.layers.mounts.get(container_id)
        if rw is not None:
            self.driver.unmount(rw.mount_id)

    def remove_rw_layer(self, container_id: str) -> None:
        with self._lock:
            rw = self.layers.remove_rw(container_id)
            if rw is not None and rw.parent:
                self.layers.release([rw.parent], self._referenced_tops())


class _Events:
    """Context manager: hold this thread's events until the outermost call ends."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.outer = False

    def __enter__(self) -> None:
        if getattr(self.store._local, "events", None) is None:
            self.store._local.events = []
            self.outer = True

    def __exit__(self, *exc: object) -> None:
        if self.outer:
            events, self.store._local.events = self.store._local.events, None
            self.store._flush(events)
