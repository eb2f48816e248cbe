"""The build context: the request body (a tar, maybe compressed) unpacked in a private directory.

The Dockerfile is read first (with `-f -` the CLI puts it in the context under
a random name and lists that name in .dockerignore), then everything
`.dockerignore` excludes is removed, as the daemon's `removeDockerfile` and
the clients' own filtering together do.
"""

from __future__ import annotations

import errno
import lzma
import os
import shutil
import stat
import tarfile
import threading
import zlib
from typing import TYPE_CHECKING, BinaryIO

from ..errors import InvalidParameter
from ..images import archive, scope
from . import tarsum
from .dockerignore import Matcher, read_patterns

if TYPE_CHECKING:
    from ..images.store import ImageStore

DEFAULT_DOCKERFILE = "Dockerfile"


class BuildContext:
    """An unpacked context directory; `close()` removes it."""

    def __init__(self, root: str, dockerfile_text: str, dockerfile_name: str,
                 sums: dict[str, str] | None = None) -> None:
        self.root = root
        self.sums = sums or {}   # tar name -> tarsum v1 of the entry, computed while unpacking
        self.dockerfile = dockerfile_text
        self.dockerfile_name = dockerfile_name

    def close(self) -> None:
        """Remove the directory in the background: the response can end meanwhile.

        (A daemon that stops first leaves it to the image store's start-up cleanup.)
        """
        threading.Thread(target=shutil.rmtree, args=(self.root, True), daemon=True,
                         name="build-context-cleanup").start()


def _read_dockerfile(root: str, name: str) -> tuple[str, str]:
    candidates = [name] if name != DEFAULT_DOCKERFILE else [name, name.lower()]
    for cand in candidates:
        try:
            path = scope.join(root, cand)   # links followed inside the context
        except OSError:
            continue
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            text = data.decode("utf-8", "replace")
            if text.startswith("\ufeff"):
                text = text[1:]
            if not text.strip():
                raise InvalidParameter(f"the Dockerfile ({cand}) cannot be empty")
            return text, cand
    raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}")


def _apply_dockerignore(root: str) -> None:
    path = os.path.join(root, ".dockerignore")
    if not os.path.isfile(path) or os.path.islink(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        matcher = Matcher(read_patterns(f.read()))
    if not matcher.patterns:
        return

    def prune(rel: str) -> bool:
        """Remove what is excluded below `rel`; True when `rel` itself is left empty and excluded."""
        directory = os.path.join(root, rel) if rel else root
        kept_any = False
        for name in os.listdir(directory):
            child = f"{rel}/{name}" if rel else name
            full = os.path.join(root, child)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                if matcher.excluded(child) and not matcher.has_exceptions():
                    shutil.rmtree(full)
                    continue
                if prune(child) and matcher.excluded(child):
                    os.rmdir(full)
                    continue
                kept_any = True
            elif matcher.excluded(child):
                os.unlink(full)
            else:
                kept_any = True
        return not kept_any

    prune("")


class _Completed:
    """A reader that ends the stream with the tar's missing padding and end-of-archive blocks.

    The docker CLI's `-f -` rewriting ends the archive right after the last
    file's data (Go's tar reader accepts that; Python's needs the padding).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._size = 0
        self._tail: bytes | None = None

    def read(self, n: int = -1) -> bytes:
        if self._tail is None:
            data = self._raw.read(n)
            if data:
                self._size += len(data)
                return data
            self._tail = b"\0" * ((-self._size) % 512 + 1024)
        out, self._tail = (self._tail, b"") if n is None or n < 0 else (self._tail[:n], self._tail[n:])
        return out

    def readable(self) -> bool:
        return True


def _untar(stream: BinaryIO, root: str) -> dict[str, str]:
    """Unpack the context under `root`; return the tarsum v1 of each entry by its cleaned name
    (the first entry of a name, as Docker's lookup finds).

    Names and link targets are resolved inside `root` (never outside). Hashing
    and writing release the GIL, so this runs in the request's thread while the
    client is still sending.
    """
    sums: dict[str, str] = {}
    try:
        tar = tarfile.open(fileobj=_Completed(archive.decompress(stream)), mode="r|")  # type: ignore[arg-type]
    except tarfile.ReadError as e:
        if "empty" in str(e):
            return sums
        raise InvalidParameter(f"failed to read the build context (a tar, plain or gzip/bzip2/xz compressed): {e}") from e
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    try:
        for info in tar:
            name = os.path.normpath("/" + info.name).lstrip("/")
            if not name or info.type in (tarfile.XGLTYPE,):
                continue
            h = tarsum.tar_entry_hash(info)
            parent_rel, base = os.path.split(name)
            parent = archive.resolve_dir(root, parent_rel.split("/") if parent_rel else [])
            path = os.path.join(parent, base)
            if os.path.lexists(path) and not (info.isdir() and os.path.isdir(path) and not os.path.islink(path)):
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
            if info.isdir():
                if not os.path.isdir(path):
                    os.mkdir(path, 0o755)
                dirs.append((path, info))
            elif info.isreg():
                src = tar.extractfile(info)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while src is not None:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        h.update(chunk)
                        out.write(chunk)
            elif info.issym():
                os.symlink(info.linkname, path)
            elif info.islnk():
                target_rel = os.path.normpath("/" + info.linkname).lstrip("/")
                t_parent, t_base = os.path.split(target_rel)
                target = os.path.join(archive.resolve_dir(root, t_parent.split("/") if t_parent else []), t_base)
                if os.path.isfile(target) and not os.path.islink(target):
                    os.link(target, path)
                sums.setdefault(name, h.hexdigest())   # Docker's lookup finds the first
                continue
            else:
                continue   # devices and fifos have no place in a build context
            sums.setdefault(name, h.hexdigest())   # Docker's lookup finds the first
            os.lchown(path, info.uid, info.gid)
            if not info.issym():
                os.chmod(path, info.mode & 0o7777)
            os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno not in (None, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG):
            raise
        raise InvalidParameter(f"failed to read the build context (a tar, plain or gzip/bzip2/xz compressed): {e}") from e
    finally:
        tar.close()
    for path, info in reversed(dirs):
        os.chmod(path, info.mode & 0o7777)
        os.utime(path, (info.mtime, info.mtime))
    return sums


def open_context(store: "ImageStore", body: BinaryIO, dockerfile_name: str) -> BuildContext:
    """Unpack the request body; read the Dockerfile; apply .dockerignore."""
    root = store.temp_path("import-build-")
    os.makedirs(root, mode=0o700)
    try:
        root = os.path.realpath(root)
        sums = _untar(body, root)
        text, name = _read_dockerfile(root, dockerfile_name or DEFAULT_DOCKERFILE)
        _apply_dockerignore(root)
        return BuildContext(root, text, name, sums)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
