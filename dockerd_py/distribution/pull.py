"""`docker pull`: manifest, config, then layers downloaded concurrently and registered in order.

The manifest (and, for a list, the platform's manifest) is resolved before the
first progress message, so a missing tag is an ordinary HTTP error. Blobs go
to temporary files under the data-root, each verified against its digest;
layer i is extracted (in the store's extraction child) as soon as it and the
layers below it are in, while later ones still download. The image config
and its tags are stored only when every layer is; a failed or abandoned pull
releases the layers it added and removes its files, so nothing is half-made.
"""

from __future__ import annotations

import functools
import hashlib
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from .. import errors, progress
from ..images.ids import chain_ids, short_id
from ..images.imagedb import parse_config
from ..images.reference import Reference
from .auth import AuthConfig
from .blobs import Blob
from .client import AuthError, RegistryError, TransportError
from .manifest import (CONFIG_TYPES, FOREIGN_TYPES, LAYER_TYPES, Descriptor, Manifest, default_platform, format_platform,
                       of_config, rank, select)
from .metadata import V2Metadata
from .repository import Repository, connect
from .retry import MAX_ATTEMPTS, RETRYABLE, countdown

if TYPE_CHECKING:
    from .service import DistributionService

MAX_DOWNLOADS = 3           # Docker's max-concurrent-downloads default
PROGRESS_EVERY = 0.1        # seconds between two Downloading messages of a layer
_READ = 256 << 10
_DONE = object()


def translate(exc: BaseException, ref: Reference) -> errors.DockerError:
    """translatePullError: registry answers in Docker's words and status codes."""
    if isinstance(exc, errors.DockerError):
        return exc
    if isinstance(exc, RegistryError):
        if exc.code == "MANIFEST_UNKNOWN":
            return errors.NotFound(f"manifest for {ref.familiar()} not found: {exc.text}")
        if exc.code == "NAME_UNKNOWN":
            return errors.NotFound(f"repository {ref.familiar_name} not found: {exc.text}")
        if exc.code == "DENIED":
            return errors.NotFound(f"pull access denied for {ref.familiar_name}, repository does not exist or "
                                   f"may require 'docker login': {exc.text}")
        if isinstance(exc, AuthError):
            return errors.DockerError(exc.text)  # Docker: an unknown error (500)
        return errors.SystemErr(exc.text)
    if isinstance(exc, TransportError):
        return errors.SystemErr(str(exc))
    return errors.SystemErr(str(exc) or type(exc).__name__)


def _platform_of(config: dict[str, Any]) -> dict[str, str]:
    os_name, arch, variant = of_config(config)
    return {"os": os_name, "architecture": arch, "variant": variant}


@dataclass
class _Fetch:
    """What one blob download has written so far (kept across retries)."""

    total: int
    got: int = 0
    last: float = 0.0
    hasher: Any = field(default_factory=hashlib.sha256)

    def restart(self) -> None:
        self.got = 0
        self.hasher = hashlib.sha256()


@dataclass
class _Layer:
    index: int
    desc: Descriptor
    diff_id: str
    ready: threading.Event = field(default_factory=threading.Event)
    path: str = ""

    @property
    def ident(self) -> str:
        return short_id(self.desc.digest)


class Pull:
    """One pull, run as a generator of progress messages."""

    def __init__(self, svc: "DistributionService", ref: Reference, auth: AuthConfig,
                 platform: tuple[str, str, str] | None, final_status: bool = True) -> None:
        self.svc = svc
        self.final_status = final_status     # False for one tag of `pull -a`: the caller sums up
        self.updated = False
        self.store = svc.store
        self.ref = ref
        self.auth = auth
        self.platform = platform              # None: the default, no warning on a mismatch
        self.events: queue.Queue = queue.Queue()
        self.cancel = threading.Event()
        self.pinned: list[str] = []
        self.added: list[str] = []
        self.held: dict[int, tuple[Blob, int]] = {}    # layer index -> shared download, watch token

    # -- resolution (before the first message) ------------------------------------
    def resolve(self) -> tuple[Repository, Manifest, str]:
        """The manifest, from the first endpoint that has it: a mirror that fails passes to the next."""
        last: Exception | None = None
        for endpoint in self.svc.registries.endpoints(self.ref.name.partition("/")[0]):
            try:
                repo = connect(endpoint, self.ref.name, self.auth)
                manifest, digest = repo.manifest(self.ref.digest or self.ref.tag or "latest")
                return repo, manifest, digest
            except (RegistryError, TransportError) as e:
                if isinstance(e, RegistryError) and not endpoint.mirror:
                    raise translate(e, self.ref) from e
                last = e
        raise translate(last or errors.SystemErr(f"no endpoint for {self.ref.name}"), self.ref)

    def run(self) -> Iterator[dict[str, Any]]:
        repo, manifest, list_digest = self.resolve()
        # Docker names the repository by its path on the registry here (`library/busybox`)
        path = self.ref.name.partition("/")[2]
        yield progress.status(f"Pulling from {path}", self.ref.digest or self.ref.tag or "latest")
        try:
            yield from self._pull(repo, manifest, list_digest)
        except GeneratorExit:
            raise
        except BaseException as e:
            raise translate(e, self.ref) from e
        finally:
            self._cleanup()

    def _pull(self, repo: Repository, manifest: Manifest, digest: str) -> Iterator[dict[str, Any]]:
        single = not manifest.is_list
        if manifest.is_list:
            chosen = select(manifest, self.platform or default_platform())
            manifest, _ = repo.manifest(chosen.digest)
            if manifest.is_list:
                raise errors.InvalidParameter("invalid manifest: nested manifest lists are not supported")
        config_desc = manifest.config
        if config_desc.media_type not in CONFIG_TYPES:   # an artifact (a helm chart...), not an image
            raise errors.InvalidParameter(f'Encountered remote "{config_desc.media_type}"(unknown) when fetching')
        existing = self.store.images.get(config_desc.digest)
        if existing is not None:
            config_raw = existing.raw
        else:
            config_raw = repo.fetch_blob(config_desc.digest)
            config = parse_config(config_raw)
            if (config.get("os") or "linux") != "linux":
                raise errors.InvalidParameter(
                    f'image operating system "{config.get("os")}" cannot be used on this platform')
            diff_ids = list(config["rootfs"].get("diff_ids") or [])
            layers = manifest.layers
            if len(diff_ids) != len(layers):
                raise errors.InvalidParameter("layers from manifest don't match image configuration")
            yield from self._layers(repo, [_Layer(i, d, diff_ids[i]) for i, d in enumerate(layers)])
        image = self.store.add_image(config_raw)
        for chain in self.pinned:
            self.store.layers.unpin(chain)
        self.pinned.clear()
        self.added.clear()
        yield progress.status("Digest: " + digest)
        self.updated = self._reference(image.id, digest)
        self.store.emit("pull", self.ref.familiar(), self.ref.familiar_name, dict(image.labels))
        if self.final_status:
            word = "Downloaded newer image for " if self.updated else "Image is up to date for "
            yield progress.status("Status: " + word + self.ref.familiar())
        if single and self.platform is not None and rank(self.platform, _platform_of(image.config)) is None:
            # Docker pulls a single-platform image anyway, and warns
            yield progress.status(
                f"WARNING: image with reference {self.ref.familiar()} was found but does not match the specified "
                f"platform: wanted {format_platform(self.platform)}, actual: {format_platform(of_config(image.config))}")

    def _reference(self, image_id: str, digest: str) -> bool:
        """Tag and digest references as Docker's pullTag sets them; True when the tag moved."""
        digest_ref = Reference(self.ref.name, None, digest)
        if self.ref.digest is not None:
            old = self.store.refs.get(digest_ref)
            self.store.set_digest_ref(image_id, digest_ref)
            return old != image_id
        tagged = self.ref.with_default_tag()
        old = self.store.refs.get(tagged)
        self.store.set_digest_ref(image_id, digest_ref)
        if old == image_id:
            return False
        self.store.tag_ref(image_id, tagged, event=False)
        return True

    # -- layers -------------------------------------------------------------------------
    def _layers(self, repo: Repository, layers: list[_Layer]) -> Iterator[dict[str, Any]]:
        for layer in layers:
            if layer.desc.media_type in FOREIGN_TYPES or layer.desc.urls:
                raise errors.InvalidParameter(f"foreign layer {layer.desc.digest} is not supported")
            if layer.desc.media_type and layer.desc.media_type not in LAYER_TYPES:
                raise errors.InvalidParameter(f"unsupported layer media type {layer.desc.media_type}")
        chains = chain_ids([layer.diff_id for layer in layers])
        present = 0
        with self.store.layers.lock:
            for i, chain in enumerate(chains):
                if chain in self.store.layers.layers:
                    present = i + 1
            if present:
                self.store.layers.pin(chains[present - 1])
                self.pinned.append(chains[present - 1])
        for layer in layers[:present]:  # as Docker's Registered(): the blob is known to give this layer
            self.svc.metadata.add(layer.diff_id, V2Metadata(layer.desc.digest, self.ref.name))
        missing = layers[present:]
        for layer in layers:
            yield progress.update(layer.ident, "Already exists" if layer.index < present else "Pulling fs layer")
        if not missing:
            return
        for layer in missing[MAX_DOWNLOADS:]:
            yield progress.update(layer.ident, "Waiting")
        pool = ThreadPoolExecutor(MAX_DOWNLOADS, thread_name_prefix="pull")
        registrar = threading.Thread(target=self._guard, name="pull-register",
                                     args=(self._register, missing, chains[present - 1] if present else None,
                                           self.ref.name), daemon=True)
        try:
            for layer in missing:
                pool.submit(self._guard, self._download, repo, layer)
            registrar.start()
            while True:
                item = self.events.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancel.set()
            for blob, token in list(self.held.values()):   # downloads others still watch go on
                self.svc.blobs.unwatch(blob, token)
            pool.shutdown(wait=True, cancel_futures=True)
            if registrar.is_alive():
                registrar.join()

    def _guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as e:  # reported to the generator, which raises it
            if not self.cancel.is_set():
                self.cancel.set()
                self.events.put(e)

    def _download(self, repo: Repository, layer: _Layer) -> None:
        """Get one blob into a file: fetched here, or by a concurrent pull that needs it too."""
        if self.cancel.is_set():
            return
        blob, owner, token = self.svc.blobs.acquire(layer.desc.digest, self.events.put)
        self.held[layer.index] = (blob, token)
        if owner:
            try:
                self._fetch_blob(repo, layer, blob)
            except BaseException as e:
                blob.error = e
                raise
            finally:
                blob.done.set()
        else:
            while not blob.done.wait(0.2):
                if self.cancel.is_set():
                    return
            if blob.error is not None:
                raise translate(blob.error, self.ref)
        layer.path = blob.path
        layer.ready.set()

    def _fetch_blob(self, repo: Repository, layer: _Layer, blob: Blob) -> None:
        """Download and verify; a broken connection is retried (resuming) as Docker does."""
        publish = functools.partial(self.svc.blobs.publish, blob)
        fetch = _Fetch(layer.desc.size if layer.desc.size > 0 else 0)
        with open(blob.path, "wb") as out:
            attempt = 1
            while True:
                try:
                    self._fetch(repo, layer, out, fetch, blob)
                    break
                except RETRYABLE as e:
                    if not blob.wanted or attempt >= MAX_ATTEMPTS:
                        raise errors.SystemErr(str(e) or type(e).__name__) from e
                    if not countdown(layer.ident, attempt, publish, lambda: not blob.wanted):
                        raise errors.SystemErr("download cancelled") from e
                    attempt += 1
        if not blob.wanted:
            raise errors.SystemErr("download cancelled")
        if fetch.total and fetch.got != fetch.total:
            raise errors.SystemErr(f"filesystem layer verification failed for digest {layer.desc.digest}")
        publish(progress.progress(layer.ident, "Downloading", fetch.got, fetch.total))
        publish(progress.update(layer.ident, "Verifying Checksum"))
        if "sha256:" + fetch.hasher.hexdigest() != layer.desc.digest:
            raise errors.SystemErr(f"filesystem layer verification failed for digest {layer.desc.digest}")
        publish(progress.update(layer.ident, "Download complete"))

    def _fetch(self, repo: Repository, layer: _Layer, out: BinaryIO, fetch: "_Fetch", blob: Blob) -> None:
        with repo.blob(layer.desc.digest, fetch.got) as resp:
            if fetch.got and resp.status != 206:   # the registry sends it all again
                out.seek(0)
                out.truncate()
                fetch.restart()
            while blob.wanted:
                chunk = resp.read(_READ)
                if not chunk:
                    break
                out.write(chunk)
                fetch.hasher.update(chunk)
                fetch.got += len(chunk)
                if fetch.total and fetch.got > fetch.total:
                    break
                now = time.monotonic()
                if now - fetch.last >= PROGRESS_EVERY:
                    fetch.last = now
                    self.svc.blobs.publish(blob, progress.progress(layer.ident, "Downloading", fetch.got, fetch.total))
        if fetch.total and fetch.got < fetch.total and blob.wanted:
            raise ConnectionError("unexpected EOF")   # the connection ended early: retried

    def _let_go(self, index: int) -> None:
        held = self.held.pop(index, None)
        if held is not None:
            self.svc.blobs.release(*held)

    def _register(self, layers: list[_Layer], parent: str | None, source_repo: str) -> None:
        with self.store.extractor() as extractor:
            for layer in layers:
                while not layer.ready.wait(0.2):
                    if self.cancel.is_set():
                        return
                size = os.path.getsize(layer.path)
                got, created = self.store.layers.ensure(
                    parent, layer.diff_id, layer.path, extractor, layer.index,
                    lambda n, ident=layer.ident, size=size: self.events.put(
                        progress.progress(ident, "Extracting", n, size)))
                self.pinned.append(got.chain_id)
                if created:
                    self.added.append(got.chain_id)
                parent = got.chain_id
                self._let_go(layer.index)
                self.svc.metadata.add(layer.diff_id, V2Metadata(layer.desc.digest, source_repo))
                self.events.put(progress.progress(layer.ident, "Extracting", size, size))
                self.events.put(progress.update(layer.ident, "Pull complete"))
        self.events.put(_DONE)

    def _cleanup(self) -> None:
        self.cancel.set()
        for index in list(self.held):
            self._let_go(index)
        for chain in self.pinned:
            self.store.layers.unpin(chain)
        added = list(self.added)
        self.pinned.clear()
        self.added.clear()
        if added:
            self.store.release_layers(added)

