"""Layer tars: decompression, diff-id hashing, and extraction in overlay format.

A layer tar is applied to an empty `diff` directory. AUFS-style whiteouts
become overlayfs ones (`.wh.x` -> 0:0 character device `x`, `.wh..wh..opq`
-> `trusted.overlay.opaque=y` on the directory). Owners, modes, times,
links, devices and xattrs are kept. Paths are resolved as if the layer root
were `/`, so no entry (or symlink in its path) reaches outside it.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import json
import lzma
import os
import shutil
import stat
import tarfile
from typing import BinaryIO, Callable, Iterator

from .. import errors

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


class _Prefixed:
    """A reader that replays `head` before the rest of `raw`."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._raw.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._raw.read(n - len(out)) or b""
            return out
        return self._raw.read(n) or b""

    def readable(self) -> bool:
        return True


def _read_exact(raw: BinaryIO, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = raw.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def decompress(raw: BinaryIO) -> BinaryIO:
    """DecompressStream: detect gzip, bzip2, xz or zstd by magic; plain tar passes through."""
    head = _read_exact(raw, 6)
    src = _Prefixed(head, raw)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=src, mode="rb")  # type: ignore[arg-type]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(src, mode="rb")  # type: ignore[arg-type]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(src, mode="rb")  # type: ignore[arg-type]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard  # only where a zstd layer is met
        return zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)  # type: ignore[return-value]
    return src  # type: ignore[return-value]


class HashingReader:
    """Counts and sha256-hashes everything read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n) or b""
        self._hash.update(data)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _resolve_dir(root: str, parts: list[str]) -> str:
    """Resolve a directory path inside `root` chroot-style, creating missing ones (0755)."""
    stack: list[str] = []
    todo = list(parts)
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
            continue
        here = os.path.join(root, *stack, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here, 0o755)
            stack.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 255:
                raise errors.InvalidParameter("invalid layer: too many levels of symbolic links")
            target = os.readlink(here)
            if target.startswith("/"):
                stack = []
            todo = target.split("/") + todo
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise errors.InvalidParameter(f"invalid layer: {os.path.join(*stack, part)} is not a directory")
        stack.append(part)
    return os.path.join(root, *stack)


def _clean(name: str) -> str | None:
    """filepath.Clean relative to the layer root; None for the root itself."""
    norm = os.path.normpath("/" + name).lstrip("/")
    return norm or None


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _xattrs(info: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    for key, value in info.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            yield key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape")


def _times_ns(info: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(round(float(info.mtime) * 1e9))
    atime_s = info.pax_headers.get("atime")
    atime = int(round(float(atime_s) * 1e9)) if atime_s else mtime
    return max(atime, mtime), mtime


def _apply_metadata(path: str, info: tarfile.TarInfo) -> None:
    os.lchown(path, info.uid, info.gid)
    for key, value in _xattrs(info):
        try:
            os.setxattr(path, key, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
    if not info.issym():
        os.chmod(path, info.mode & 0o7777)
        if not info.isdir():
            os.utime(path, ns=_times_ns(info))
    else:
        os.utime(path, ns=_times_ns(info), follow_symlinks=False)


def _create(tar: tarfile.TarFile, info: tarfile.TarInfo, root: str, path: str) -> None:
    if info.isdir():
        if not os.path.isdir(path):
            os.mkdir(path, info.mode & 0o777)
    elif info.isreg():
        src = tar.extractfile(info)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, info.mode & 0o777)
        with os.fdopen(fd, "wb") as dst:
            if src is not None:
                shutil.copyfileobj(src, dst, _CHUNK)
    elif info.islnk():
        target_rel = _clean(info.linkname)
        if target_rel is None:
            raise errors.InvalidParameter(f"invalid hardlink {info.linkname!r} -> {info.name!r}")
        t_parent, t_base = os.path.split(target_rel)
        target = os.path.join(_resolve_dir(root, t_parent.split("/") if t_parent else []), t_base)
        if not os.path.lexists(target):
            raise errors.InvalidParameter(f"invalid layer: hardlink target {info.linkname!r} not found")
        os.link(target, path, follow_symlinks=False)
    elif info.issym():
        joined = os.path.normpath(os.path.dirname(path) + "/" + info.linkname)
        if not (joined == root or joined.startswith(root.rstrip("/") + "/")):
            raise errors.InvalidParameter(f"invalid symlink {info.linkname!r} -> {info.name!r}")
        os.symlink(info.linkname, path)
    elif info.ischr() or info.isblk() or info.isfifo():
        kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK if info.isblk() else stat.S_IFIFO
        os.mknod(path, kind | (info.mode & 0o777), os.makedev(info.devmajor, info.devminor))
    else:
        raise errors.InvalidParameter(f"unhandled tar header type {info.type!r}")


def apply_layer(stream: BinaryIO, root: str,
                on_member: Callable[[tarfile.TarInfo], None] | None = None, overlay: bool = True) -> int:
    """Untar `stream` (uncompressed) into `root`; return the size of its contents (sum of member sizes).

    With `overlay`, `root` is an empty diff dir and whiteouts become overlayfs ones;
    without, `root` holds a copy of the parent layer and whiteouts delete from it
    (moby's UnpackLayer, used by naive drivers such as vfs).
    `on_member` sees every header as it is read (tar-split recording).
    """
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")  # type: ignore[call-overload]
    except tarfile.ReadError as e:
        if "empty" in str(e):
            return 0
        raise errors.InvalidParameter(f"invalid tar header: {e}") from e
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    unpacked: set[str] = set()
    size = 0
    try:
        for info in tar:
            if on_member is not None:
                on_member(info)
            size += info.size
            if info.type in (tarfile.XGLTYPE,):
                continue
            name = _clean(info.name)
            if name is None:
                continue  # the root itself keeps the diff dir's metadata
            parent_rel, base = os.path.split(name)
            parent = _resolve_dir(root, parent_rel.split("/") if parent_rel else [])
            path = os.path.join(parent, base)
            if base == OPAQUE_MARKER:
                if overlay:
                    os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
                else:
                    _remove_not_unpacked(parent, unpacked)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                if base[len(WHITEOUT_PREFIX):] in ("", ".", ".."):
                    raise errors.InvalidParameter(f"invalid layer: invalid whiteout {json.dumps(info.name)}")
                hidden = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
                _remove(hidden)
                if overlay:
                    os.mknod(hidden, stat.S_IFCHR | 0o000, 0)
                    os.lchown(hidden, info.uid, info.gid)
                continue
            if os.path.lexists(path) and not (info.isdir() and os.path.isdir(path)
                                               and not os.path.islink(path)):
                _remove(path)
            _create(tar, info, root, path)
            _apply_metadata(path, info)
            unpacked.add(path)
            if info.isdir():
                dirs.append((path, info))
    except tarfile.TarError as e:
        raise errors.InvalidParameter(f"invalid tar: {e}") from e
    finally:
        tar.close()
    for path, info in reversed(dirs):
        os.utime(path, ns=_times_ns(info))
    return size


def _remove_not_unpacked(directory: str, unpacked: set[str]) -> None:
    """An opaque dir on a naive driver: drop what this layer did not write below it."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if path not in unpacked:
            _remove(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            _remove_not_unpacked(path, unpacked)


def tree_size(root: str) -> int:
    """Bytes used by a layer's files (non-directories, hardlinks counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    return total


def remove_tree(path: str) -> None:
    """rm -rf that tolerates absence."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=False)
        else:
            os.unlink(path)
