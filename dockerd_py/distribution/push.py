"""`docker push`: layers (skipped, mounted or uploaded gzip-compressed), config, manifest.

A layer the registry already has, in this repository, is not sent again; one
it has in another repository of the same registry is mounted from there
(both known from the distribution metadata a pull or push recorded). The
schema 2 manifest is built as Docker builds it, so with reused blobs its
digest is the one Docker pushes.
"""

from __future__ import annotations

import queue
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .. import errors, progress
from ..images.imagedb import Image
from ..images.ids import short_id
from ..images.reference import Reference
from .auth import AuthConfig
from .client import AuthError, RegistryError, TransportError
from .manifest import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, Descriptor, docker_manifest
from .metadata import V2Metadata, metadata_hmac
from .repository import Repository, open_repository
from .retry import MAX_ATTEMPTS, RETRYABLE, countdown

if TYPE_CHECKING:
    from .service import DistributionService

MAX_UPLOADS = 5             # Docker's max-concurrent-uploads default
MAX_MOUNT_TRIES = 3
PROGRESS_EVERY = 0.1
_DONE = object()


def _error(exc: BaseException) -> errors.DockerError:
    if isinstance(exc, errors.DockerError):
        return exc
    if isinstance(exc, AuthError) and exc.reason:
        return errors.SystemErr(exc.reason)
    if isinstance(exc, RegistryError):
        return errors.SystemErr(exc.text)
    return errors.SystemErr(str(exc) or type(exc).__name__)


def gzip_chunks(chunks: Iterable[bytes], on_read: Any) -> Iterator[bytes]:
    """Compress a layer tar on the fly (gzip, default level, as Docker does)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        on_read(len(chunk))
        out = comp.compress(chunk)
        if out:
            yield out
    yield comp.flush()


class Push:
    def __init__(self, svc: "DistributionService", ref: Reference, auth: AuthConfig) -> None:
        self.svc = svc
        self.store = svc.store
        self.ref = ref
        self.auth = auth
        self.hmac_key = auth.hmac_key()
        self.events: queue.Queue = queue.Queue()
        self.cancel = threading.Event()

    def _targets(self) -> list[tuple[Reference, Image]]:
        """The tags to push: the one named, or every tag of the repository."""
        if self.ref.tag is not None:
            try:
                image = self.store.get(str(self.ref))
            except errors.NotFound:
                raise errors.NotFound(f"tag does not exist: {self.ref.familiar()}") from None
            return [(self.ref, image)]
        found = []
        for image in self.store.list():
            for r in self.store.references(image):
                if r.name == self.ref.name and r.tag is not None and r.digest is None:
                    found.append((r, image))
        if not found:
            raise errors.NotFound(f"An image does not exist locally with the tag: {self.ref.familiar_name}")
        return sorted(found, key=lambda t: t[0].tag or "")

    def run(self) -> Iterator[dict[str, Any]]:
        yield progress.status(f"The push refers to repository [{self.ref.name}]")
        try:
            targets = self._targets()
            repo = open_repository(self.svc.registries, self.ref.name, self.auth, push=True)
            for ref, image in targets:
                yield from self._push_tag(repo, ref, image)
        except GeneratorExit:
            self.cancel.set()
            raise
        except BaseException as e:
            raise _error(e) from e

    def _push_tag(self, repo: Repository, ref: Reference, image: Image) -> Iterator[dict[str, Any]]:
        chains = image.chain_ids
        for chain in chains:
            self.store.layers.pin(chain)
        try:
            order = list(reversed(range(len(chains))))          # Docker lists the top layer first
            for i in order:
                yield progress.update(short_id(image.diff_ids[i]), "Preparing")
            for i in order[MAX_UPLOADS:]:
                yield progress.update(short_id(image.diff_ids[i]), "Waiting")
            descs: dict[int, Descriptor] = {}
            pool = ThreadPoolExecutor(MAX_UPLOADS, thread_name_prefix="push")
            pending = len(order)
            try:
                for i in order:
                    pool.submit(self._guard, self._push_layer, repo, i, chains[i], image.diff_ids[i], descs)
                while pending:
                    item = self.events.get()
                    if item is _DONE:
                        pending -= 1
                        continue
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                if pending:
                    self.cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
            if repo.blob_size(image.id) is None:
                repo.put_blob(image.raw, image.id)
            raw = docker_manifest(Descriptor(DOCKER_CONFIG, image.id, len(image.raw)),
                                  [descs[i] for i in range(len(chains))])
            digest = repo.put_manifest(ref.tag or "latest", raw, DOCKER_MANIFEST)
        finally:
            for chain in chains:
                self.store.layers.unpin(chain)
        self.store.set_digest_ref(image.id, Reference(ref.name, None, digest))
        yield progress.status(f"{ref.tag}: digest: {digest} size: {len(raw)}")
        yield progress.aux({"Tag": ref.tag, "Digest": digest, "Size": len(raw)})
        self.store.emit("push", ref.familiar(), ref.familiar_name, dict(image.labels))

    def _guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
            self.events.put(_DONE)
        except BaseException as e:
            self.cancel.set()
            self.events.put(e)

    def _push_layer(self, repo: Repository, index: int, chain: str, diff_id: str,
                    descs: dict[int, Descriptor]) -> None:
        if self.cancel.is_set():
            raise errors.SystemErr("push cancelled")
        ident = short_id(diff_id)
        target = self.ref.name
        known = list(reversed(self.svc.metadata.get(diff_id)))          # newest first
        for meta in known:
            if meta.source_repository == target:
                size = repo.blob_size(meta.digest)
                if size is not None:
                    self.events.put(progress.update(ident, "Layer already exists"))
                    descs[index] = Descriptor(DOCKER_LAYER, meta.digest, size)
                    return
                self.svc.metadata.remove(diff_id, meta)
        location = None
        tries = 0
        for meta in known:
            domain, _, path = meta.source_repository.partition("/")
            if domain != repo.domain or meta.source_repository == target or tries >= MAX_MOUNT_TRIES:
                continue
            tries += 1
            try:
                location = repo.mount(meta.digest, path)
            except (RegistryError, TransportError):
                continue
            if location is None:
                size = repo.blob_size(meta.digest) or 0
                self.events.put(progress.update(ident, f"Mounted from {path}"))
                self._record(diff_id, meta.digest, target)
                descs[index] = Descriptor(DOCKER_LAYER, meta.digest, size)
                return
            break
        total = self.store.layers.layers[chain].size
        state = {"read": 0, "last": 0.0}

        def on_read(n: int) -> None:
            state["read"] += n
            now = time.monotonic()
            if now - state["last"] >= PROGRESS_EVERY:
                state["last"] = now
                self.events.put(progress.progress(ident, "Pushing", state["read"], total))

        attempt = 1
        while True:   # a broken upload starts again, after Docker's countdown
            state["read"] = 0
            try:
                chunks = gzip_chunks(self.store.layer_tar(chain), on_read)
                digest, size = repo.upload(chunks, location, self.cancel.is_set)
                break
            except RETRYABLE as e:
                if self.cancel.is_set() or attempt >= MAX_ATTEMPTS:
                    raise errors.SystemErr(str(e) or type(e).__name__) from e
                if not countdown(ident, attempt, self.events.put, self.cancel.is_set):
                    raise errors.SystemErr("push cancelled") from e
                attempt += 1
                location = None
        self.events.put(progress.progress(ident, "Pushing", state["read"], total))
        self.events.put(progress.update(ident, "Pushed"))
        self._record(diff_id, digest, target)
        descs[index] = Descriptor(DOCKER_LAYER, digest, size)

    def _record(self, diff_id: str, digest: str, repo_name: str) -> None:
        self.svc.metadata.add(diff_id, V2Metadata(digest, repo_name, metadata_hmac(self.hmac_key, digest, repo_name)))
