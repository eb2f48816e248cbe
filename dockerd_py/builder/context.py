"""The build context: the request body (a tar, maybe compressed) unpacked in a private directory.

The Dockerfile is read first (with `-f -` the CLI puts it in the context under
a random name and lists that name in .dockerignore), then everything
`.dockerignore` excludes is removed, as the daemon's `removeDockerfile` and
the clients' own filtering together do.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import TYPE_CHECKING, BinaryIO

from ..errors import DockerError, InvalidParameter
from ..images import archive
from .dockerignore import Matcher, read_patterns

if TYPE_CHECKING:
    from ..images.store import ImageStore

DEFAULT_DOCKERFILE = "Dockerfile"


class BuildContext:
    """An unpacked context directory; `close()` removes it."""

    def __init__(self, root: str, dockerfile_text: str, dockerfile_name: str) -> None:
        self.root = root
        self.dockerfile = dockerfile_text
        self.dockerfile_name = dockerfile_name

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _inside(root: str, rel: str) -> str | None:
    """The real path of `rel` under `root`, or None when it leaves the root."""
    path = os.path.realpath(os.path.join(root, rel.lstrip("/")))
    return path if path == root or path.startswith(root + "/") else None


def _read_dockerfile(root: str, name: str) -> tuple[str, str]:
    candidates = [name] if name != DEFAULT_DOCKERFILE else [name, name.lower()]
    for cand in candidates:
        path = _inside(root, cand)
        if path and os.path.isfile(path):
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


def _spool_tar(body: BinaryIO, path: str) -> None:
    """Decompress the body into `path`, completing the tar's last block and end marker.

    The docker CLI's `-f -` rewriting ends the archive right after the last
    file's data (Go's tar reader accepts that; Python's needs the padding).
    """
    size = 0
    with open(path, "wb") as out:
        src = archive.decompress(body)
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            size += len(chunk)
        out.write(b"\0" * ((-size) % 512) + b"\0" * 1024)


def open_context(store: "ImageStore", body: BinaryIO, dockerfile_name: str) -> BuildContext:
    """Unpack the request body; read the Dockerfile; apply .dockerignore."""
    root = store.temp_path("import-build-")
    spooled = root + ".tar"
    os.makedirs(root, mode=0o700)
    try:
        _spool_tar(body, spooled)
        with store.extractor() as extractor:
            try:
                extractor.extract(spooled, root)
            except DockerError as e:
                message = e.message.removeprefix("invalid layer: ")
                raise InvalidParameter(f"failed to read the build context (a tar, plain or gzip/bzip2/xz "
                                       f"compressed): {message}") from e
        root = os.path.realpath(root)
        text, name = _read_dockerfile(root, dockerfile_name or DEFAULT_DOCKERFILE)
        _apply_dockerignore(root)
        return BuildContext(root, text, name)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    finally:
        if os.path.exists(spooled):
            os.unlink(spooled)
