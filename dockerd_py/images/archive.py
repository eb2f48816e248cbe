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
import queue
import shutil
import stat
import threading
from typing import Any, BinaryIO, Callable

from .. import errors
from . import scope, tarstream

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


class _HashThread:
    """One thread per process that runs sha256 updates in order, beside the reader.

    hashlib releases the GIL on large buffers, so hashing a layer takes a second
    core instead of adding to the extraction's time. At most `AHEAD` chunks wait.
    """

    AHEAD = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[Any, Any]] = queue.Queue(self.AHEAD)
        self._thread: threading.Thread | None = None

    def _run(self, jobs: "queue.Queue[tuple[Any, Any]]") -> None:
        while True:
            target, data = jobs.get()
            if target is None:
                data.set()        # a flush: everything queued before it is hashed
            else:
                target.update(data)

    def update(self, h: Any, data: bytes) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():   # first use, or after a fork
                self._jobs = queue.Queue(self.AHEAD)
                self._thread = threading.Thread(target=self._run, args=(self._jobs,),
                                                name="layer-sha256", daemon=True)
                self._thread.start()
        self._jobs.put((h, data))

    def flush(self) -> None:
        done = threading.Event()
        self._jobs.put((None, done))
        done.wait()


_HASHER = _HashThread()


class HashingReader:
    """Counts and sha256-hashes everything read through it (large reads hashed by _HASHER)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self._behind = False   # chunks were handed to the hash thread
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n) or b""
        if len(data) >= 1 << 16:
            _HASHER.update(self._hash, data)
            self._behind = True
        elif data:
            self._catch_up()
            self._hash.update(data)
        self.count += len(data)
        return data

    def _catch_up(self) -> None:
        if self._behind:
            _HASHER.flush()
            self._behind = False

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        self._catch_up()
        return "sha256:" + self._hash.hexdigest()


def is_plain(path: str) -> bool:
    """Whether `decompress` passes the file through unchanged (its sha256 is then its diff id)."""
    with open(path, "rb") as f:
        return isinstance(decompress(f), _Prefixed)


def resolve_dir(root: str, parts: list[str]) -> str:
    """Resolve a directory path inside `root` chroot-style, creating missing ones (0755)."""
    try:
        return os.path.join(root, *scope.follow(root, parts, make_dirs=True))
    except NotADirectoryError as e:
        raise errors.InvalidParameter(f"invalid layer: {e.filename} is not a directory") from None
    except FileNotFoundError as e:
        raise errors.InvalidParameter(f"invalid layer: {e.filename}: no such file or directory") from None
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise errors.InvalidParameter("invalid layer: too many levels of symbolic links") from None


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


def _set_xattrs(target: str | int, m: tarstream.Member) -> None:
    for key, value in m.xattrs:
        try:
            if isinstance(target, int):
                os.setxattr(target, key, value)
            else:
                os.setxattr(target, key, value, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def _times_ns(m: tarstream.Member) -> tuple[int, int]:
    return max(m.atime_ns, m.mtime_ns), m.mtime_ns


def _write_file(tar: tarstream.TarStream, m: tarstream.Member, path: str) -> None:
    """A regular file: data, then owner, xattrs, mode and times through its fd.

    That order matters: a write or chown drops security.capability and setuid bits.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        tar.write_to(fd)
        os.fchown(fd, m.uid, m.gid)
        if m.xattrs:
            _set_xattrs(fd, m)
        os.fchmod(fd, m.mode & 0o7777)
        os.utime(fd, ns=_times_ns(m))
    finally:
        os.close(fd)


def _create(m: tarstream.Member, path: str, resolve: Callable[[str], str]) -> None:
    """Make a non-regular entry (raises FileExistsError if `path` exists)."""
    kind = m.type
    if kind == tarstream.DIR:
        os.mkdir(path, m.mode & 0o777)
    elif kind == tarstream.LNK:
        target_rel = _clean(m.linkname)
        if target_rel is None:
            raise errors.InvalidParameter(f"invalid hardlink {m.linkname!r} -> {m.name!r}")
        t_parent, t_base = os.path.split(target_rel)
        target = os.path.join(resolve(t_parent), t_base)
        if not os.path.lexists(target):
            raise errors.InvalidParameter(f"invalid layer: hardlink target {m.linkname!r} not found")
        os.link(target, path, follow_symlinks=False)
        if os.path.islink(path):   # a link to a symlink: its metadata must not reach the symlink's target
            kind = tarstream.SYM
    elif kind == tarstream.SYM:
        # any target, as Docker's extraction chrooted to the layer: every later path is resolved inside it
        os.symlink(m.linkname, path)
    else:
        mode = {tarstream.CHR: stat.S_IFCHR, tarstream.BLK: stat.S_IFBLK, tarstream.FIFO: stat.S_IFIFO}[kind]
        os.mknod(path, mode | (m.mode & 0o777), os.makedev(m.devmajor, m.devminor))
    os.lchown(path, m.uid, m.gid)
    if m.xattrs:
        _set_xattrs(path, m)
    if kind == tarstream.SYM:
        os.utime(path, ns=_times_ns(m), follow_symlinks=False)
        return
    os.chmod(path, m.mode & 0o7777)
    if kind != tarstream.DIR:
        os.utime(path, ns=_times_ns(m))


def apply_layer(stream: BinaryIO, root: str,
                on_member: Callable[[tarstream.Member], None] | None = None, overlay: bool = True) -> int:
    """Untar `stream` (uncompressed) into `root`; return the size of its contents (sum of member sizes).

    With `overlay`, `root` is an empty diff dir and whiteouts become overlayfs ones;
    without, `root` holds a copy of the parent layer and whiteouts delete from it
    (moby's UnpackLayer, used by naive drivers such as vfs).
    `on_member` sees every header as it is read (tar-split recording).
    """
    tar = tarstream.TarStream(stream)
    dirs: list[tuple[str, tarstream.Member]] = []
    unpacked: set[str] = set()
    resolved: dict[str, str] = {}   # parent dir (relative) -> checked real path; cleared on any removal

    def resolve(rel: str) -> str:
        path = resolved.get(rel)
        if path is None:
            path = resolved[rel] = resolve_dir(root, rel.split("/") if rel else [])
        return path

    def remove(path: str) -> None:
        resolved.clear()
        _remove(path)

    size = 0
    for m in tar:
        if on_member is not None:
            on_member(m)
        size += m.size
        name = _clean(m.name)
        if name is None:
            continue  # the root itself keeps the diff dir's metadata
        parent_rel, base = os.path.split(name)
        parent = resolve(parent_rel)
        path = os.path.join(parent, base)
        if base == OPAQUE_MARKER:
            if overlay:
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                resolved.clear()
                _remove_not_unpacked(parent, unpacked)
            continue
        if base.startswith(WHITEOUT_PREFIX):
            if base[len(WHITEOUT_PREFIX):] in ("", ".", ".."):
                raise errors.InvalidParameter(f"invalid layer: invalid whiteout {json.dumps(m.name)}")
            hidden = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
            remove(hidden)
            if overlay:
                os.mknod(hidden, stat.S_IFCHR | 0o000, 0)
                os.lchown(hidden, m.uid, m.gid)
            continue
        try:
            if m.type in tarstream.REGULAR:
                _write_file(tar, m, path)
            else:
                _create(m, path, resolve)
        except FileExistsError:
            if m.type == tarstream.DIR and os.path.isdir(path) and not os.path.islink(path):
                os.lchown(path, m.uid, m.gid)
                _set_xattrs(path, m)
                os.chmod(path, m.mode & 0o7777)
            else:
                remove(path)
                if m.type in tarstream.REGULAR:
                    _write_file(tar, m, path)
                else:
                    _create(m, path, resolve)
        unpacked.add(path)
        if m.type == tarstream.DIR:
            dirs.append((path, m))
    for path, m in reversed(dirs):
        os.utime(path, ns=_times_ns(m))
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
