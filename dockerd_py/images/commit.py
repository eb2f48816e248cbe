"""Commit: a read-write layer's changes become a new image (`docker commit`, builder steps).

The upper dir of an overlay mount is written as a layer tar the way Docker's
overlay2 driver diffs it: overlay whiteouts (0:0 character devices) become
AUFS `.wh.<name>` files, opaque directories get a `.wh..wh..opq` entry, hard
links are kept, times are truncated to seconds, PAX format. An empty diff adds
no layer (history `empty_layer`), as in Docker's `NewChildImage`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import errors
from . import gojson
from .archive import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX
from .changes import go_config
from .ids import rfc3339_nano
from .importer import host_platform

if TYPE_CHECKING:
    from .imagedb import Image
    from .store import ImageStore

REDIRECT_XATTR = "trusted.overlay.redirect"
EMPTY_TAR_DIFF_ID = "sha256:" + hashlib.sha256(b"\0" * 1024).hexdigest()
_KEPT_XATTRS = ("security.capability",)
_CHUNK = 1 << 20


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.out.write(data)


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _info(path: str, name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    for key in _KEPT_XATTRS:
        try:
            value = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
        info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return info


def _has_xattr(path: str, key: str) -> bool:
    try:
        os.getxattr(path, key, follow_symlinks=False)
    except OSError:
        return False
    return True


def write_diff_tar(upper: str, out: BinaryIO) -> str:
    """Write the overlay upper dir `upper` as a Docker layer tar to `out`; return its diff id."""
    sink = _HashingWriter(out)
    seen: dict[tuple[int, int], str] = {}

    def pad(size: int) -> None:
        if size % 512:
            sink.write(b"\0" * (512 - size % 512))

    def walk(rel: str) -> None:
        directory = os.path.join(upper, rel) if rel else upper
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            name = f"{rel}/{entry}" if rel else entry
            st = os.lstat(path)
            info = _info(path, name, st)
            mode = st.st_mode
            if stat.S_ISCHR(mode) and st.st_rdev == 0:
                info.name = f"{rel}/{WHITEOUT_PREFIX}{entry}" if rel else WHITEOUT_PREFIX + entry
                info.type, info.mode, info.size = tarfile.REGTYPE, 0o600, 0
                sink.write(_header(info))
                continue
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                info.name = name + "/"
                sink.write(_header(info))
                try:
                    opaque = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False)
                except OSError:
                    opaque = b""
                if _has_xattr(path, REDIRECT_XATTR):
                    raise errors.SystemErr(f"cannot commit {name}: a renamed directory (overlay redirect_dir=on) "
                                           "has no complete copy in the upper layer")
                if opaque == b"y":
                    wo = tarfile.TarInfo(f"{name}/{OPAQUE_MARKER}")
                    wo.mode, wo.uid, wo.gid, wo.mtime = info.mode, info.uid, info.gid, 0
                    sink.write(_header(wo))
                walk(name)
                continue
            key = (st.st_dev, st.st_ino)
            if not stat.S_ISDIR(mode) and st.st_nlink > 1 and key in seen:
                info.type, info.linkname = tarfile.LNKTYPE, seen[key]
                sink.write(_header(info))
                continue
            if st.st_nlink > 1:
                seen[key] = name
            if stat.S_ISREG(mode):
                info.type, info.size = tarfile.REGTYPE, st.st_size
                sink.write(_header(info))
                with open(path, "rb") as f:
                    left = st.st_size
                    while left > 0:
                        chunk = f.read(min(_CHUNK, left))
                        if not chunk:
                            raise OSError(f"{name} shrank while it was committed")
                        sink.write(chunk)
                        left -= len(chunk)
                pad(st.st_size)
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                sink.write(_header(info))
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                sink.write(_header(info))
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
                sink.write(_header(info))
            # sockets are not archived (as Go's tar writer refuses them)

    walk("")
    sink.write(b"\0" * 1024)
    return "sha256:" + sink.hash.hexdigest()


@dataclass
class CommitRequest:
    """What a new child image is made of (backend.CommitConfig)."""

    parent_id: str | None            # None: FROM scratch
    upper_dir: str                   # the changes
    config: dict[str, Any]           # the new image's Config
    container_config: dict[str, Any]
    container_id: str = ""
    author: str = ""
    comment: str = ""


def child_config(parent: "Image | None", req: CommitRequest, diff_id: str, docker_version: str) -> bytes:
    """image.NewChildImage: the parent's config plus one history entry (and one layer)."""
    created = rfc3339_nano()
    empty = diff_id == EMPTY_TAR_DIFF_ID
    base = parent.config if parent is not None else {}
    diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
    if not empty:
        diff_ids.append(diff_id)
    history_entry: dict[str, Any] = {"created": created}
    if req.author:
        history_entry["author"] = req.author
    created_by = " ".join(req.container_config.get("Cmd") or [])
    if created_by:
        history_entry["created_by"] = created_by
    if req.comment:
        history_entry["comment"] = req.comment
    if empty:
        history_entry["empty_layer"] = True
    arch, variant = host_platform()
    cfg: dict[str, Any] = {
        "architecture": base.get("architecture") or arch,
        "config": go_config(req.config),
        "container_config": go_config(req.container_config),
        "created": created,
        "docker_version": docker_version,
        "history": list(base.get("history") or []) + [history_entry],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if req.container_id:
        cfg["container"] = req.container_id
    if req.author:
        cfg["author"] = req.author   # (the comment lives in the history entry only, as in Docker)
    if base.get("variant") or (parent is None and variant):
        cfg["variant"] = base.get("variant") or variant
    for key in ("os.version", "os.features"):
        if base.get(key):
            cfg[key] = base[key]
    return gojson.dumps(dict(sorted(cfg.items())))


def commit(store: "ImageStore", req: CommitRequest) -> str:
    """Register the diff of `req.upper_dir` on top of the parent and store the child image; return its id."""
    parent = store.get(req.parent_id) if req.parent_id else None
    parent_chain = parent.top_layer if parent is not None else None
    tmp = store.temp_path("import-commit-")
    layer = None
    created = False
    try:
        with open(tmp, "wb") as out:
            diff_id = write_diff_tar(req.upper_dir, out)
        if diff_id != EMPTY_TAR_DIFF_ID:
            with store.extractor() as extractor:
                layer, created = store.layers.ensure(parent_chain, diff_id, tmp, extractor)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        with store._collect():
            image = store.add_image(child_config(parent, req, diff_id, store.docker_version))
            if parent is not None:
                store.set_parent(image.id, parent.id)
    except BaseException:
        if layer is not None:
            store.layers.unpin(layer.chain_id)
            if created:
                store.release_layers([layer.chain_id])
        raise
    if layer is not None:
        store.layers.unpin(layer.chain_id)
    return image.id
