"""Extracting a tar into a container directory, as Docker's archive.Unpack does for cp.

Runs inside the child's chroot, so a member or symlink that points "out" can
only reach the container's own root; on top of that, Docker's lexical checks
refuse members that climb above the destination, and relative symlinks or
hard links whose target does.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO

from .paths import go_quote, within
from .tarin import TarReader


class ExtractError(Exception):
    """Docker's extraction errors (bad members, overwrite conflicts)."""


def _join(dest: str, name: str) -> str:
    """filepath.Join: an absolute member name is taken relative to `dest`."""
    joined = posixpath.normpath(dest + "/" + name)
    return "/" + joined.lstrip("/") if joined.startswith("//") else joined


def _remove_all(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def untar(stream: BinaryIO, dest: str, no_overwrite_dir_non_dir: bool, chown: tuple[int, int] | None) -> None:
    tar = TarReader(stream)
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    try:
        for hdr in tar.members():
            name = posixpath.normpath(hdr.name) if hdr.name else "."
            if not hdr.name.endswith("/"):
                parent = _join(dest, posixpath.dirname(name))
                if not os.path.lexists(parent):
                    os.makedirs(parent, 0o755)
            path = _join(dest, name)
            if not within(path, dest):
                raise ExtractError(f"{go_quote(hdr.name)} is outside of {go_quote(dest)}")
            try:
                existing = os.lstat(path)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                is_dir = stat.S_ISDIR(existing.st_mode)
                if no_overwrite_dir_non_dir and is_dir and not hdr.isdir():
                    raise ExtractError(f"cannot overwrite directory {go_quote(path)} with non-directory {go_quote(dest)}")
                if no_overwrite_dir_non_dir and not is_dir and hdr.isdir():
                    raise ExtractError(f"cannot overwrite non-directory {go_quote(path)} with directory {go_quote(dest)}")
                if is_dir and name == ".":
                    continue
                if not (is_dir and hdr.isdir()):
                    _remove_all(path)
            _create(tar, hdr, path, dest)
            _metadata(path, hdr, chown)
            if hdr.isdir():
                dirs.append((path, hdr))
    except (tarfile.TarError, ValueError, EOFError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise ExtractError("unexpected EOF" if isinstance(e, EOFError) else str(e)) from None
    for path, hdr in reversed(dirs):
        os.utime(path, ns=_times(hdr), follow_symlinks=False)


def _create(tar: TarReader, hdr: tarfile.TarInfo, path: str, dest: str) -> None:
    mode = hdr.mode & 0o7777
    if hdr.isdir():
        if not os.path.isdir(path) or os.path.islink(path):
            os.mkdir(path, mode)
    elif hdr.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ExtractError(f"{go_quote(path)} is not a regular file")
            tar.copy_to(fd, hdr.size)
        finally:
            os.close(fd)
    elif hdr.ischr() or hdr.isblk():
        kind = stat.S_IFCHR if hdr.ischr() else stat.S_IFBLK
        os.mknod(path, kind | mode, os.makedev(hdr.devmajor, hdr.devminor))
    elif hdr.isfifo():
        os.mkfifo(path, mode)
    elif hdr.islnk():
        target = _join(dest, hdr.linkname)
        if not within(target, dest):
            raise ExtractError(f"invalid hardlink {go_quote(target)} -> {go_quote(hdr.linkname)}")
        os.link(target, path, follow_symlinks=False)
    elif hdr.issym():
        if not within(_join(posixpath.dirname(path), hdr.linkname), dest):
            raise ExtractError(f"invalid symlink {go_quote(path)} -> {go_quote(hdr.linkname)}")
        os.symlink(hdr.linkname, path)
    else:
        raise ExtractError(f"unhandled tar header type {ord(hdr.type) if hdr.type else 0}")


def _times(hdr: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(round(float(hdr.mtime) * 1e9))
    atime_text = hdr.pax_headers.get("atime")
    atime = int(round(float(atime_text) * 1e9)) if atime_text else mtime
    return max(atime, mtime), mtime


def _metadata(path: str, hdr: tarfile.TarInfo, chown: tuple[int, int] | None) -> None:
    uid, gid = chown if chown is not None else (hdr.uid, hdr.gid)
    os.lchown(path, uid, gid)
    for key, value in hdr.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
    if not hdr.issym():
        os.chmod(path, hdr.mode & 0o7777)
        if not hdr.isdir():
            os.utime(path, ns=_times(hdr))
    else:
        os.utime(path, ns=_times(hdr), follow_symlinks=False)
