"""Manifests: media types, parsing, platform selection, and the schema 2 manifest Docker pushes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..images.importer import host_platform

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
CONFIG_TYPES = {DOCKER_CONFIG, OCI_CONFIG, "application/octet-stream", ""}
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX])

LAYER_TYPES = {
    DOCKER_LAYER, "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
}
FOREIGN_TYPES = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, obj: Any) -> "Descriptor":
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            raise errors.InvalidParameter("invalid manifest: a descriptor has no digest")
        digest = obj["digest"]
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise errors.InvalidParameter(f"invalid manifest: unsupported digest {digest}")
        size = obj.get("size") if isinstance(obj.get("size"), int) else -1
        return cls(str(obj.get("mediaType") or ""), digest, size,
                   obj.get("platform") if isinstance(obj.get("platform"), dict) else None,
                   tuple(u for u in obj.get("urls") or [] if isinstance(u, str)))


@dataclass(frozen=True)
class Manifest:
    media_type: str
    raw: bytes
    body: dict[str, Any]

    @property
    def is_list(self) -> bool:
        return self.media_type in (DOCKER_LIST, OCI_INDEX)

    @property
    def config(self) -> Descriptor:
        return Descriptor.parse(self.body.get("config"))

    @property
    def layers(self) -> list[Descriptor]:
        return [Descriptor.parse(d) for d in self.body.get("layers") or []]

    @property
    def manifests(self) -> list[Descriptor]:
        return [Descriptor.parse(d) for d in self.body.get("manifests") or []]


def parse_manifest(raw: bytes, content_type: str) -> Manifest:
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise errors.InvalidParameter(f"invalid manifest: {e}") from e
    if not isinstance(body, dict):
        raise errors.InvalidParameter("invalid manifest: not a JSON object")
    media = str(body.get("mediaType") or "") or content_type.split(";")[0].strip()
    if body.get("schemaVersion") == 1 or media in SCHEMA1:
        raise errors.InvalidParameter(
            "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
            "is disabled by default and will be removed in an upcoming release. Suggest the author of the image "
            "to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.")
    if media not in (DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX):
        if "manifests" in body:
            media = OCI_INDEX
        elif "config" in body and "layers" in body:
            media = OCI_MANIFEST
        else:
            raise errors.InvalidParameter("unsupported manifest format")
    return Manifest(media, raw, body)


# -- platforms ------------------------------------------------------------------
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
                 "armel": "arm"}
_KNOWN_OS = {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9"}


def normalize(os_name: str, arch: str, variant: str) -> tuple[str, str, str]:
    arch = _ARCH_ALIASES.get(arch.lower(), arch.lower())
    variant = variant.lower()
    if arch == "arm64" and variant in ("", "8"):
        variant = "v8"
    elif arch == "arm" and variant in ("", "7"):
        variant = "v7"
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return os_name.lower(), arch, variant


def parse_platform(text: str) -> tuple[str, str, str]:
    """platforms.Parse for `os[/arch[/variant]]` (or a bare architecture)."""
    parts = text.strip().split("/")
    if not all(parts) or len(parts) > 3:
        raise errors.InvalidParameter(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        if parts[0].lower() in _KNOWN_OS:
            arch, variant = host_platform()
            return normalize(parts[0], arch, variant)
        return normalize("linux", parts[0], "")
    return normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def default_platform() -> tuple[str, str, str]:
    arch, variant = host_platform()
    return normalize("linux", arch, variant)


def format_platform(p: tuple[str, str, str]) -> str:
    return "/".join(x for x in p if x)


def _matches(want: tuple[str, str, str], desc: Descriptor) -> int | None:
    """A rank (lower is better) when `desc` runs on `want`, else None."""
    return rank(want, desc.platform or {})


def of_config(config: dict[str, Any]) -> tuple[str, str, str]:
    return normalize(str(config.get("os") or "linux"), str(config.get("architecture") or ""),
                     str(config.get("variant") or ""))


def rank(want: tuple[str, str, str], plat: dict[str, Any]) -> int | None:
    """How well a platform (`os`, `architecture`, `variant`) serves `want`: 0 exactly, None not at all."""
    got = normalize(str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", "")))
    if got[0] != want[0] or got[1] != want[1]:
        return None
    if got[2] == want[2]:
        return 0
    if want[1] == "arm" and got[2].startswith("v") and want[2].startswith("v"):
        try:  # armv7 runs v6 and v5 images
            lower = int(got[2][1:]) < int(want[2][1:])
            return int(want[2][1:]) - int(got[2][1:]) if lower else None
        except ValueError:
            return None
    return None


def select(index: Manifest, want: tuple[str, str, str]) -> Descriptor:
    ranked = []
    for pos, desc in enumerate(index.manifests):
        if desc.media_type in (DOCKER_LIST, OCI_INDEX) or (desc.platform or {}).get("os") == "unknown":
            continue  # nested indexes and attestation manifests
        rank = _matches(want, desc)
        if rank is not None:
            ranked.append((rank, pos, desc))
    if not ranked:
        raise errors.NotFound(f"no matching manifest for {format_platform(want)} in the manifest list entries")
    return min(ranked, key=lambda r: (r[0], r[1]))[2]


def config_platform(config: dict[str, Any]) -> dict[str, Any]:
    """The ocispec.Platform of an image config (for /distribution)."""
    out: dict[str, Any] = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
    if config.get("os.version"):
        out["os.version"] = config["os.version"]
    if config.get("os.features"):
        out["os.features"] = config["os.features"]
    if config.get("variant"):
        out["variant"] = config["variant"]
    return out


def docker_manifest(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """schema2.FromStruct: Go's MarshalIndent with three spaces, the bytes whose digest Docker pushes."""
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": config.digest},
        "layers": [{"mediaType": d.media_type, "size": d.size, "digest": d.digest} for d in layers],
    }
    return json.dumps(body, indent=3, separators=(",", ": "), ensure_ascii=False).encode()
