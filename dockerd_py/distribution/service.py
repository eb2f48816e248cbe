"""The distribution service: pull, push, login, distribution inspect and search for the API."""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from typing import Any, Iterator

from .. import errors, progress
from ..images.reference import Reference, parse_normalized, validate_tag
from ..images.store import ImageStore
from .auth import AuthConfig
from .blobs import BlobDownloads
from .client import AuthError, RegistryError, Session, TransportError, go_error
from .manifest import Manifest, config_platform, parse_platform
from .metadata import MetadataStore
from .pull import Pull, translate
from .push import Push
from .registries import RegistryConfig, login_host
from .repository import open_repository

INDEX_SEARCH = os.environ.get("DOCKERD_PY_HUB_SEARCH", "https://index.docker.io/v1/search")  # see HUB_HOST
SEARCH_TIMEOUT = 10.0


def pull_reference(from_image: str, tag: str) -> Reference:
    """The reference `POST /images/create?fromImage=&tag=` names (the tag may be a digest).

    A bare name (no tag anywhere) means every tag of the repository (`docker pull -a`).
    """
    ref = parse_normalized(from_image.rstrip(":"))
    if tag:
        if tag.startswith("sha256:"):
            ref = parse_normalized(f"{ref.name}@{tag}")
        else:
            validate_tag(tag)
            ref = Reference(ref.name, tag, ref.digest)
    return ref


class DistributionService:
    def __init__(self, store: ImageStore, registries: RegistryConfig) -> None:
        self.store = store
        self.registries = registries
        self.metadata = MetadataStore(os.path.join(store.root, "image", "overlay2"))
        self.blobs = BlobDownloads(lambda: store.temp_path("pull-"))

    def pull(self, from_image: str, tag: str, platform: str, auth: AuthConfig) -> Iterator[dict[str, Any]]:
        """Progress messages of a pull; errors before the first one are HTTP errors."""
        ref = pull_reference(from_image, tag)
        want = parse_platform(platform) if platform else None
        if ref.tag is None and ref.digest is None:
            return self._pull_all_tags(ref, auth, want)
        return Pull(self, ref, auth, want).run()

    def _pull_all_tags(self, ref: Reference, auth: AuthConfig,
                       want: tuple[str, str, str] | None) -> Iterator[dict[str, Any]]:
        try:
            tags = open_repository(self.registries, ref.name, auth).tags()
        except (RegistryError, TransportError) as e:
            raise translate(e, ref) from e
        updated = False
        for tag in tags:
            job = Pull(self, Reference(ref.name, tag, None), auth, want, final_status=False)
            yield from job.run()
            updated = updated or job.updated
        word = "Downloaded newer image for " if updated else "Image is up to date for "
        yield progress.status("Status: " + word + ref.familiar())

    def push(self, name: str, tag: str, auth: AuthConfig) -> Iterator[dict[str, Any]]:
        ref = parse_normalized(name)
        if tag:
            validate_tag(tag)
            ref = Reference(ref.name, tag, None)
        elif ref.digest is not None:
            raise errors.InvalidParameter("cannot push a digest reference")
        return Push(self, ref, auth).run()

    def login(self, auth: AuthConfig) -> dict[str, str]:
        """POST /auth: check the credentials against the registry's /v2/."""
        host = login_host(auth.server_address)
        last: Exception | None = None
        for endpoint in self.registries.endpoints(host):
            if endpoint.mirror:
                continue
            session = Session(endpoint.base, auth, endpoint.verify_tls)
            url = endpoint.base + "/v2/"
            try:
                session.ping()
                session.request("GET", "/v2/", ())
            except TransportError as e:
                last = e
                continue
            except AuthError as e:
                if e.status == 401 and "no basic auth" not in e.text and not any(
                        c.scheme == "bearer" for c in session.challenges):
                    raise errors.Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized") from e
                raise errors.Unauthorized(f'Get "{url}": {e.text}') from e
            except RegistryError as e:
                raise errors.SystemErr(
                    f"login attempt to {url} failed with status: {e.status} {http.client.responses.get(e.status, '')}"
                ) from e
            return {"IdentityToken": "", "Status": "Login Succeeded"}
        raise errors.SystemErr(str(last) if last else f"no endpoint for {host}")

    def inspect(self, name: str, auth: AuthConfig) -> dict[str, Any]:
        """GET /distribution/{name}/json: the manifest's descriptor and the platforms it serves."""
        ref = parse_normalized(name).with_default_tag()
        try:
            repo = open_repository(self.registries, ref.name, auth)
            manifest, digest = repo.manifest(ref.digest or ref.tag or "latest")
            platforms = self._platforms(repo, manifest)
        except AuthError as e:
            raise errors.Unauthorized(e.text) from e
        except RegistryError as e:
            if e.status == 404:
                raise errors.NotFound(e.text) from e
            raise errors.SystemErr(e.text) from e
        except TransportError as e:
            raise errors.SystemErr(str(e)) from e
        desc = {"mediaType": manifest.media_type, "digest": digest, "size": len(manifest.raw)}
        return {"Descriptor": desc, "Platforms": platforms}

    @staticmethod
    def _platforms(repo: Any, manifest: Manifest) -> list[dict[str, Any]]:
        if manifest.is_list:
            out = []
            for desc in manifest.manifests:
                plat = desc.platform or {}
                out.append(config_platform({"architecture": plat.get("architecture", ""), "os": plat.get("os", ""),
                                            "os.version": plat.get("os.version"),
                                            "os.features": plat.get("os.features"), "variant": plat.get("variant")}))
            return out
        config = json.loads(repo.fetch_blob(manifest.config.digest))
        return [config_platform(config)]

    def search(self, term: str, limit: int | None) -> list[dict[str, Any]]:
        """GET /images/search: Docker Hub's index; where it cannot be reached, Docker's error at once."""
        query = urllib.parse.urlencode({"q": term, "n": limit or 25})
        url = f"{INDEX_SEARCH}?{query}"
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPSConnection(parts.netloc, timeout=SEARCH_TIMEOUT)
        try:
            conn.request("GET", f"{parts.path}?{parts.query}")
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            raise errors.SystemErr(go_error("GET", url, e)) from e
        finally:
            conn.close()
        if resp.status != 200:
            raise errors.SystemErr(f"Unexpected status code {resp.status}")
        try:
            results = json.loads(body).get("results") or []
        except (ValueError, AttributeError) as e:
            raise errors.SystemErr(f"invalid search response: {e}") from e
        keys = ("star_count", "is_official", "name", "is_automated", "description")
        return [{k: r.get(k) for k in keys} for r in results if isinstance(r, dict)]
