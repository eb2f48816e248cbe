"""The legacy builder's source hashes, as Docker 20.10 computes them.

Every file has a tarsum v1 sum: sha256 over its tar header fields (name, mode,
uid, gid, size, typeflag, linkname, uname, gname, devmajor, devminor, then the
xattrs sorted; each written as key+value, mtime left out) followed by its data.
For the build context the headers are the context tar's own (uname and gname
blanked); for `COPY --from` they are made from the other image's files
(mode with the file type bits, uname/gname looked up on this host).

A COPY/ADD source is `file:<sum>`, or for a directory `dir:` + sha256 of the
sorted sums of the directory and everything under it joined by ","; several
sources are `multi:` + sha256 of their strings joined by ",".
A path no sum is known for (a dangling link) hashes as the path itself: as named in the
context, as resolved in an image (Docker's backwards compatibility).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
import tarfile
from functools import lru_cache
from typing import Protocol

from ..errors import InvalidParameter
from ..images.scope import in_scope

_CHUNK = 1 << 20
_XATTR = "SCHILY.xattr."


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def header_fields(name: str, mode: int, uid: int, gid: int, size: int, typeflag: bytes, linkname: str,
                  uname: str, gname: str, devmajor: int, devminor: int, xattrs: dict[bytes, bytes]) -> bytes:
    """The bytes a tarsum v1 hash starts with (pkg/tarsum v1TarHeaderSelect)."""
    parts = [b"name" + _b(name), b"mode%d" % mode, b"uid%d" % uid, b"gid%d" % gid, b"size%d" % size,
             b"typeflag" + typeflag, b"linkname" + _b(linkname), b"uname" + _b(uname), b"gname" + _b(gname),
             b"devmajor%d" % devmajor, b"devminor%d" % devminor]
    parts += [k + xattrs[k] for k in sorted(xattrs)]
    return b"".join(parts)


def tar_entry_hash(info: tarfile.TarInfo) -> "hashlib._Hash":
    """A context entry's hash, its header fed in; the caller feeds the data.

    Python's tarfile drops a directory name's trailing "/", which Go keeps
    (every client writes one), so it is put back.
    """
    name = info.pax_headers.get("path", info.name.rstrip("/") + "/" if info.isdir() else info.name)
    typeflag = info.type
    if typeflag == tarfile.AREGTYPE:   # Go's reader reports a pre-POSIX regular file as TypeReg
        typeflag = tarfile.REGTYPE
    xattrs = {_b(k[len(_XATTR):]): _b(v) for k, v in info.pax_headers.items() if k.startswith(_XATTR)}
    return hashlib.sha256(header_fields(name, info.mode, info.uid, info.gid, info.size, typeflag, info.linkname,
                                        "", "", info.devmajor, info.devminor, xattrs))


class Hasher(Protocol):
    root: str

    def hash(self, path: str) -> str: ...


class ContextHasher:
    """builder.Source.Hash of an unpacked context: the sum of the followed path's tar entry."""

    def __init__(self, root: str, sums: dict[str, str]) -> None:
        self.root = root
        self.sums = sums

    def hash(self, path: str) -> str:
        try:
            rel = in_scope(self.root, path)
        except OSError:
            return path
        return self.sums.get(rel, path)


@lru_cache(maxsize=256)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=256)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


_TYPEFLAGS = {stat.S_IFREG: b"0", stat.S_IFLNK: b"2", stat.S_IFCHR: b"3", stat.S_IFBLK: b"4",
              stat.S_IFDIR: b"5", stat.S_IFIFO: b"6"}


class TreeHasher:
    """lazySource.Hash of another image's rootfs: a header made from each file's stat, then its data."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.sums: dict[str, str] = {}

    def hash(self, path: str) -> str:
        try:
            rel = in_scope(self.root, path)
        except OSError:
            return path
        try:
            st = os.lstat(os.path.join(self.root, rel))
        except OSError:
            return rel   # a dangling link: the path it leads to
        if rel not in self.sums:
            self.sums[rel] = self._sum(rel, st)
        return self.sums[rel]

    def _sum(self, rel: str, st: os.stat_result) -> str:
        """The sum, or "" for a socket (Go's tar headers have no type for one; Docker skips it)."""
        full = os.path.join(self.root, rel)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFSOCK:
            return ""
        is_dir = kind == stat.S_IFDIR
        link = os.readlink(full) if kind == stat.S_IFLNK else ""
        mode = stat.S_IMODE(st.st_mode) | kind   # fillGo18FileTypeBits
        dev = kind in (stat.S_IFCHR, stat.S_IFBLK)
        try:
            cap = os.getxattr(full, "security.capability", follow_symlinks=False)
        except OSError:
            cap = b""
        h = hashlib.sha256(header_fields(
            rel + "/" if is_dir else rel, mode, st.st_uid, st.st_gid, st.st_size if kind == stat.S_IFREG else 0,
            _TYPEFLAGS.get(kind, b"0"), link, _user(st.st_uid), _group(st.st_gid),
            os.major(st.st_rdev) if dev else 0, os.minor(st.st_rdev) if dev else 0,
            {b"security.capability": cap} if cap else {}))
        if kind == stat.S_IFREG and st.st_size > 0:
            with open(full, "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
        return h.hexdigest()


def _hash_strings(prefix: str, items: list[str]) -> str:
    return prefix + ":" + hashlib.sha256(",".join(items).encode("utf-8", "surrogateescape")).hexdigest()


def source_hash(hasher: Hasher, path: str) -> str:
    """One source's string (calcCopyInfo): `file:` + its sum, or `dir:` over the tree's sums."""
    full = os.path.join(hasher.root, in_scope(hasher.root, path))
    if not os.path.isdir(full) or os.path.islink(full):
        one = hasher.hash(path)
        if not one:
            raise InvalidParameter(f"failed to create hash for {path}: archive/tar: sockets not supported")
        return "file:" + one
    sums = []
    for dirpath, dirnames, filenames in os.walk(full):
        rel_dir = os.path.relpath(dirpath, hasher.root)
        if rel_dir != ".":
            sums.append(hasher.hash(rel_dir))
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            sums.append(hasher.hash(os.path.normpath(os.path.join(rel_dir, name))))
    return _hash_strings("dir", sorted(s for s in sums if s))


def sources_hash(hashes: list[str]) -> str:
    """The string of a COPY/ADD: its one source's, or `multi:` over all of them in order."""
    return hashes[0] if len(hashes) == 1 else _hash_strings("multi", hashes)
