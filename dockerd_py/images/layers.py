"""The layer store: `image/<driver>/layerdb` over a graph driver (graphdriver.py).

`layerdb/sha256/<chain>/{diff,size,cache-id,parent}` describe read-only
layers; `layerdb/mounts/<container>/{mount-id,init-id,parent}` describe
container read-write layers. A layer directory is published (renamed into
place) before its layerdb entry, and the entry is removed before the
directory, so after a crash a directory without an entry is garbage.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from .. import errors
from ..state import atomic
from . import archive, tarsplit
from .ids import chain_ids, hex_of, random_hex

if TYPE_CHECKING:
    from .extract import Extractor
    from .graphdriver import GraphDriver


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int


@dataclass(frozen=True)
class RWLayer:
    container_id: str
    mount_id: str
    init_id: str
    parent: str | None


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write_entry(tmp_root: str, final: str, files: dict[str, str],
                 blobs: dict[str, bytes] | None = None) -> None:
    """Write a small metadata directory atomically: temp dir, fsync, rename."""
    tmp = os.path.join(tmp_root, "write-" + random_hex(16))
    os.makedirs(tmp, mode=0o700)
    for name, text in files.items():
        atomic.write_bytes(os.path.join(tmp, name), text.encode(), 0o644)
    for name, data in (blobs or {}).items():
        atomic.write_bytes(os.path.join(tmp, name), data, 0o644)
    os.rename(tmp, final)
    fd = os.open(os.path.dirname(final), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LayerStore:
    """Read-only image layers and container read-write layers."""

    def __init__(self, layerdb: str, driver: "GraphDriver", lock: threading.RLock) -> None:
        self.root = layerdb
        self.driver = driver
        self.lock = lock
        self._sha = os.path.join(layerdb, "sha256")
        self._mounts_dir = os.path.join(layerdb, "mounts")
        self._tmp = os.path.join(layerdb, "tmp")
        for d in (self._sha, self._mounts_dir, self._tmp):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self.layers: dict[str, Layer] = {}
        self.mounts: dict[str, RWLayer] = {}
        self._pins: dict[str, int] = {}
        self._chain_locks: dict[str, threading.Lock] = {}

    # -- loading and start-up cleanup ----------------------------------------
    def load(self) -> None:
        """Read layerdb; drop entries whose directory or parent is missing."""
        archive.remove_tree(self._tmp)
        os.makedirs(self._tmp, mode=0o700)
        found: dict[str, Layer] = {}
        for name in os.listdir(self._sha):
            path = os.path.join(self._sha, name)
            try:
                parent = _read(os.path.join(path, "parent")) if os.path.exists(
                    os.path.join(path, "parent")) else None
                layer = Layer("sha256:" + name, _read(os.path.join(path, "diff")), parent or None,
                              _read(os.path.join(path, "cache-id")),
                              int(_read(os.path.join(path, "size"))))
            except (OSError, ValueError):
                self._drop_entry(path)
                continue
            found[layer.chain_id] = layer
        changed = True
        while changed:  # a layer is valid when its dir and all its ancestors are
            changed = False
            for chain, layer in list(found.items()):
                if not self.driver.exists(layer.cache_id) or (
                        layer.parent is not None and layer.parent not in found):
                    del found[chain]
                    self._drop_entry(os.path.join(self._sha, hex_of(chain)))
                    changed = True
        self.layers = found
        for name in os.listdir(self._mounts_dir):
            path = os.path.join(self._mounts_dir, name)
            try:
                parent = _read(os.path.join(path, "parent")) if os.path.exists(
                    os.path.join(path, "parent")) else None
                rw = RWLayer(name, _read(os.path.join(path, "mount-id")),
                             _read(os.path.join(path, "init-id")), parent or None)
            except OSError:
                self._drop_entry(path)
                continue
            if (parent and parent not in found) or not self.driver.exists(rw.mount_id):
                self._drop_entry(path)
                continue
            self.mounts[name] = rw

    def collect_garbage(self, referenced: set[str]) -> None:
        """Remove layers nothing references and driver dirs no entry owns."""
        keep: set[str] = set()
        for chain in list(referenced) + [m.parent for m in self.mounts.values() if m.parent]:
            while chain is not None and chain not in keep and chain in self.layers:
                keep.add(chain)
                chain = self.layers[chain].parent
        for chain in self._children_first(set(self.layers) - keep):
            self._remove(chain)
        owned = {lay.cache_id for lay in self.layers.values()}
        for m in self.mounts.values():
            owned.update((m.mount_id, m.init_id))
        for name in self.driver.entries():
            if name not in owned:
                self.driver.remove(name)
                archive.remove_tree(self.driver.dir(name))
        self.driver.clean_links()

    def _drop_entry(self, path: str) -> None:
        trash = os.path.join(self._tmp, "remove-" + random_hex(16))
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        archive.remove_tree(trash)

    # -- read-only layers ---------------------------------------------------
    def get(self, chain_id: str) -> Layer | None:
        return self.layers.get(chain_id)

    def chain_lock(self, chain_id: str) -> threading.Lock:
        with self.lock:
            return self._chain_locks.setdefault(chain_id, threading.Lock())

    def pin(self, chain_id: str) -> None:
        with self.lock:
            self._pins[chain_id] = self._pins.get(chain_id, 0) + 1

    def unpin(self, chain_id: str) -> None:
        with self.lock:
            n = self._pins.get(chain_id, 0) - 1
            if n > 0:
                self._pins[chain_id] = n
            else:
                self._pins.pop(chain_id, None)

    def ensure(self, parent: str | None, diff_id: str, source: str, extractor: "Extractor",
               layer_index: int = 0, on_progress: Callable[[int], None] | None = None) -> tuple[Layer, bool]:
        """Return the layer `parent`+`diff_id`, extracting the file `source` if it is missing.

        The returned layer is pinned (safe from removal) until `unpin`.
        """
        chain = chain_ids([parent, diff_id])[1] if parent else diff_id
        with self.chain_lock(chain):
            with self.lock:
                existing = self.layers.get(chain)
                if existing is not None:
                    self._pins[chain] = self._pins.get(chain, 0) + 1
                    return existing, False
                parent_layer = self.layers.get(parent) if parent else None
                if parent and parent_layer is None:
                    raise errors.NotFound(f"layer does not exist: {parent}")
            cache_id = random_hex(64)
            diff_dir = self.driver.stage(cache_id, parent_layer.cache_id if parent_layer else None)
            try:
                got, size, split = extractor.extract(source, diff_dir, self.driver.overlay_whiteouts, on_progress)
                if got != diff_id:
                    raise errors.InvalidParameter(
                        f'invalid diffID for layer {layer_index}: expected "{diff_id}", got "{got}"')
                with self.lock:
                    parent_cache = parent_layer.cache_id if parent_layer else None
                    self.driver.commit(cache_id, parent_cache)
                    files = {"diff": diff_id, "size": str(size), "cache-id": cache_id}
                    if parent:
                        files["parent"] = parent
                    _write_entry(self._tmp, os.path.join(self._sha, hex_of(chain)), files,
                                 {"tar-split.json.gz": split})
                    layer = Layer(chain, diff_id, parent, cache_id, size)
                    self.layers[chain] = layer
                    self._pins[chain] = self._pins.get(chain, 0) + 1
                    return layer, True
            except BaseException:
                self.driver.discard(cache_id)
                if not os.path.exists(os.path.join(self._sha, hex_of(chain))):
                    self.driver.remove(cache_id)
                raise

    def release(self, candidates: list[str], referenced: set[str]) -> list[str]:
        """Remove `candidates` (and their ancestors) that nothing uses; return removed chains."""
        with self.lock:
            used: set[str] = set()
            roots = list(referenced) + list(self._pins) + [m.parent for m in self.mounts.values() if m.parent]
            for chain in roots:
                while chain is not None and chain not in used and chain in self.layers:
                    used.add(chain)
                    chain = self.layers[chain].parent
            doomed: set[str] = set()
            for chain in candidates:
                while chain is not None and chain in self.layers and chain not in used:
                    doomed.add(chain)
                    chain = self.layers[chain].parent
            order = self._children_first(doomed)
            for chain in order:
                self._remove(chain)
            return order

    def _children_first(self, chains: set[str]) -> list[str]:
        def depth(c: str) -> int:
            n = 0
            while c in self.layers and self.layers[c].parent is not None:
                c = self.layers[c].parent  # type: ignore[assignment]
                n += 1
            return n
        return sorted(chains, key=depth, reverse=True)

    def _remove(self, chain: str) -> None:
        layer = self.layers.pop(chain, None)
        if layer is None:
            return
        self._drop_entry(os.path.join(self._sha, hex_of(chain)))
        self.driver.remove(layer.cache_id)

    def tar_stream(self, chain_id: str) -> Iterator[bytes]:
        """The layer's original uncompressed tar, checked against the diff id as it is read."""
        layer = self.layers.get(chain_id)
        if layer is None:
            raise errors.NotFound(f"layer does not exist: {chain_id}")
        split = os.path.join(self._sha, hex_of(chain_id), "tar-split.json.gz")
        if not os.path.exists(split):
            raise errors.SystemErr(f"layer {chain_id} has no tar-split data")
        return tarsplit.verified(tarsplit.rebuild(split, self.driver.diff_dir(layer.cache_id)), layer.diff_id)

    def tar_size(self, chain_id: str) -> int:
        split = os.path.join(self._sha, hex_of(chain_id), "tar-split.json.gz")
        if not os.path.exists(split):
            raise errors.SystemErr(f"layer {chain_id} has no tar-split data")
        return tarsplit.total_size(split)

    def size_of(self, chain: str | None) -> int:
        total = 0
        while chain is not None and chain in self.layers:
            total += self.layers[chain].size
            chain = self.layers[chain].parent
        return total

    # -- container read-write layers ----------------------------------------
    def create_rw(self, container_id: str, parent: str | None,
                  init: Callable[[str], None]) -> RWLayer:
        with self.lock:
            if container_id in self.mounts:
                raise errors.Conflict(f"read-write layer for container {container_id} already exists")
            parent_layer = self.layers.get(parent) if parent else None
            if parent and parent_layer is None:
                raise errors.NotFound(f"layer does not exist: {parent}")
            mount_id = random_hex(64)
            init_id = mount_id + "-init"
            self.driver.create(init_id, parent_layer.cache_id if parent_layer else None)
            init(self.driver.diff_dir(init_id))
            self.driver.create(mount_id, init_id)
            files = {"mount-id": mount_id, "init-id": init_id}
            if parent:
                files["parent"] = parent
            _write_entry(self._tmp, os.path.join(self._mounts_dir, container_id), files)
            rw = RWLayer(container_id, mount_id, init_id, parent)
            self.mounts[container_id] = rw
            return rw

    def get_rw(self, container_id: str) -> RWLayer:
        rw = self.mounts.get(container_id)
        if rw is None:
            raise errors.NotFound(f"no read-write layer for container {container_id}")
        return rw

    def remove_rw(self, container_id: str) -> RWLayer | None:
        with self.lock:
            rw = self.mounts.pop(container_id, None)
            if rw is None:
                return None
            self.driver.unmount(rw.mount_id)
            self._drop_entry(os.path.join(self._mounts_dir, container_id))
            self.driver.remove(rw.mount_id)
            self.driver.remove(rw.init_id)
            return rw
