"""`docker import`: one rootfs tar (the request body, or fetched from a URL) becomes a one-layer image."""

from __future__ import annotations

import os
import platform
import shutil
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from .. import progress
from . import archive, gojson
from .changes import apply_changes, go_config
from .ids import rfc3339_nano

if TYPE_CHECKING:
    from .reference import Reference
    from .store import ImageStore

_ARCH = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
         "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
         "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
         "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


def host_platform() -> tuple[str, str]:
    """(architecture, variant) of this machine, in Go's GOARCH terms."""
    machine = platform.machine()
    return _ARCH.get(machine, (machine, ""))


def build_config(diff_id: str, run_config: dict[str, Any], message: str,
                 docker_version: str) -> bytes:
    """The image config `docker import` writes.

    Docker marshals image.Image with its top-level keys sorted; the empty
    `container_config` struct is always present (omitempty does not drop structs).
    """
    created = rfc3339_nano()
    arch, variant = host_platform()
    cfg: dict[str, Any] = {
        "architecture": arch,
        "config": run_config,
        "container_config": go_config({}),
        "created": created,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if message:
        cfg["comment"] = message
    if docker_version:
        cfg["docker_version"] = docker_version
    if variant:
        cfg["variant"] = variant
    history: dict[str, Any] = {"created": created}
    if message:
        history["comment"] = message
    cfg["history"] = [history]
    return gojson.dumps(dict(sorted(cfg.items())))


def spool(stream: BinaryIO, path: str) -> str:
    """Copy the request body (compressed or not) to `path`; return the sha256 of its bytes,
    hashed on a second core as they arrive."""
    hashed = archive.HashingReader(stream)
    with open(path, "wb") as out:
        shutil.copyfileobj(hashed, out, 1 << 20)  # type: ignore[misc]
    return hashed.digest


def download(source: BinaryIO, size: int, path: str) -> Iterator[dict[str, Any]]:
    """Copy a fetched tar to `path`, with Docker's `Importing` bars (no id) as it comes."""
    bars: list[dict[str, Any]] = []
    meter = progress.Meter(bars.append, "", "Importing", size)
    got = 0
    with source, open(path, "wb") as out:
        while chunk := source.read(1 << 16):
            out.write(chunk)
            got += len(chunk)
            meter(got)
            yield from bars
            bars.clear()
    meter.finish()
    yield from bars


def import_tar(store: "ImageStore", stream: BinaryIO, repo_tag: str | None,
               changes: list[str], message: str) -> str:
    """`docker import -`: the request body is the tar."""
    ref = store.parse_repo_tag(repo_tag) if repo_tag else None
    run_config = apply_changes(None, changes or [])
    tmp = store.temp_path("import-")
    try:
        digest = spool(stream, tmp)
        return import_file(store, tmp, ref, run_config, message or "Imported from -", digest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def import_file(store: "ImageStore", path: str, ref: "Reference | None", run_config: dict[str, Any],
                message: str, digest: str | None = None) -> str:
    """The one-layer image of the tar file `path`, tagged `ref`: its id. `digest`, the sha256 of the
    file's bytes if known, is its diff id when the tar is not compressed (no second pass)."""
    with store.extractor() as extractor:
        diff_id = digest if digest and archive.is_plain(path) else extractor.hash(path)
        layer, created = store.layers.ensure(None, diff_id, path, extractor)
    try:
        raw = build_config(diff_id, run_config, message, store.docker_version)
        image = store.add_image(raw)
    except BaseException:
        store.layers.unpin(layer.chain_id)
        if created:
            store.release_layers([layer.chain_id])
        raise
    store.layers.unpin(layer.chain_id)
    if ref is not None:
        store.tag_ref(image.id, ref)
    store.emit("import", image.id, image.id)
    return image.id
