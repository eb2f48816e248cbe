"""One repository of one registry: manifests and blobs over the v2 API."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from .. import errors
from ..images.ids import sha256_digest
from .auth import AuthConfig
from .client import Response, Session, TransportError
from .manifest import ACCEPT, Manifest, parse_manifest
from .registries import Endpoint, RegistryConfig

CHUNK_SIZE = 16 << 20        # blobs bigger than this go up in PATCH chunks, smaller ones in one PUT


class Repository:
    def __init__(self, session: Session, endpoint: Endpoint, domain: str, path: str, push: bool) -> None:
        self.session = session
        self.endpoint = endpoint
        self.domain = domain
        self.path = path
        self.scopes = (f"repository:{path}:pull,push",) if push else (f"repository:{path}:pull",)

    def _p(self, suffix: str) -> str:
        return f"/v2/{self.path}/{suffix}"

    # -- manifests ---------------------------------------------------------------
    def tags(self) -> list[str]:
        resp = self.session.request("GET", self._p("tags/list"), self.scopes)
        try:
            tags = json.loads(resp.body or b"{}").get("tags") or []
        except (ValueError, AttributeError) as e:
            raise errors.SystemErr(f"invalid tags list: {e}") from e
        return sorted(t for t in tags if isinstance(t, str))

    def manifest(self, reference: str) -> tuple[Manifest, str]:
        """GET a manifest by tag or digest: (manifest, its digest). A digest is verified."""
        resp = self.session.request("GET", self._p(f"manifests/{reference}"), self.scopes,
                                    {"Accept": ACCEPT})
        raw = resp.body or b""
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise errors.InvalidParameter(f"manifest verification failed for digest {reference}")
        return parse_manifest(raw, resp.header("Content-Type")), digest

    def put_manifest(self, tag: str, raw: bytes, media_type: str) -> str:
        resp = self.session.request("PUT", self._p(f"manifests/{tag}"), self.scopes,
                                    {"Content-Type": media_type}, raw, ok=(201, 200, 202))
        return resp.header("Docker-Content-Digest") or sha256_digest(raw)

    # -- blobs ----------------------------------------------------------------------
    @contextmanager
    def blob(self, digest: str, offset: int = 0) -> Iterator[Response]:
        """Stream a blob, from `offset` on if given (a 206 answer; a 200 means from the start)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.session.stream(self._p(f"blobs/{digest}"), self.scopes, headers) as resp:
            yield resp

    def fetch_blob(self, digest: str, limit: int = 64 << 20) -> bytes:
        """A small blob (a config) read whole and verified."""
        with self.blob(digest) as resp:
            data = bytearray()
            while len(data) <= limit:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                data += chunk
        if sha256_digest(bytes(data)) != digest:
            raise errors.InvalidParameter(f"image config verification failed for digest {digest}")
        return bytes(data)

    def blob_size(self, digest: str, scopes: tuple[str, ...] | None = None) -> int | None:
        """HEAD a blob: its size, or None when the registry does not have it."""
        resp = self.session.request("HEAD", self._p(f"blobs/{digest}"), scopes or self.scopes, ok=(200, 404))
        if resp.status == 404:
            return None
        try:
            return int(resp.header("Content-Length"))
        except ValueError:
            return 0

    def mount(self, digest: str, from_path: str) -> str | None:
        """Cross-repository mount: None when mounted, else the Location of a fresh upload."""
        query = urllib.parse.urlencode({"mount": digest, "from": from_path})
        scopes = self.scopes + (f"repository:{from_path}:pull",)
        resp = self.session.request("POST", self._p(f"blobs/uploads/?{query}"), scopes, {"Content-Length": "0"},
                                    b"", ok=(201, 202))
        return None if resp.status == 201 else resp.header("Location")

    def start_upload(self) -> str:
        resp = self.session.request("POST", self._p("blobs/uploads/"), self.scopes, {"Content-Length": "0"}, b"",
                                    ok=(202,))
        return resp.header("Location")

    def upload(self, chunks: Iterable[bytes], location: str | None = None,
               cancelled: Callable[[], bool] = lambda: False) -> tuple[str, int]:
        """Upload a blob of unknown length: PATCH chunks, then PUT ?digest=. Returns (digest, size)."""
        location = location or self.start_upload()
        hasher = hashlib.sha256()
        buf = bytearray()
        offset = 0
        for data in chunks:
            if cancelled():
                raise errors.SystemErr("push cancelled")
            buf += data
            while len(buf) >= CHUNK_SIZE:
                piece = bytes(buf[:CHUNK_SIZE])
                del buf[:CHUNK_SIZE]
                hasher.update(piece)
                resp = self.session.request(
                    "PATCH", location, self.scopes,
                    {"Content-Type": "application/octet-stream",
                     "Content-Range": f"{offset}-{offset + len(piece) - 1}"}, piece, ok=(202,))
                location = resp.header("Location") or location
                offset += len(piece)
        rest = bytes(buf)
        hasher.update(rest)
        digest = "sha256:" + hasher.hexdigest()
        self.finish_upload(location, digest, rest)
        return digest, offset + len(rest)

    def finish_upload(self, location: str, digest: str, data: bytes) -> None:
        sep = "&" if "?" in location else "?"
        self.session.request("PUT", location + sep + urllib.parse.urlencode({"digest": digest}), self.scopes,
                             {"Content-Type": "application/octet-stream"}, data, ok=(201, 204))

    def put_blob(self, data: bytes, digest: str) -> None:
        """Monolithic upload: POST for a location, one PUT with the whole blob."""
        self.finish_upload(self.start_upload(), digest, data)


def connect(endpoint: Endpoint, name: str, auth: AuthConfig, push: bool = False) -> Repository:
    """A repository on one endpoint, once its /v2/ answered (raises TransportError otherwise)."""
    domain, _, path = name.partition("/")
    session = Session(endpoint.base, auth, endpoint.verify_tls)
    session.ping()
    return Repository(session, endpoint, domain, path, push)


def open_repository(config: RegistryConfig, name: str, auth: AuthConfig, push: bool = False) -> Repository:
    """Reach the registry of a normalised name: the first endpoint that answers /v2/."""
    last: Exception | None = None
    for endpoint in config.endpoints(name.partition("/")[0]):
        if push and endpoint.mirror:
            continue
        try:
            return connect(endpoint, name, auth, push)
        except TransportError as e:
            last = e
    raise errors.SystemErr(str(last) if last else f"no endpoint for {name}")
