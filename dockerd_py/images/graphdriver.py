"""The graph driver seam: where layer directories live and how a rootfs is made of them.

`LayerStore` and `ImageStore` talk only to this interface; `Overlay2`
(overlay.py) and `Vfs` (vfs.py) implement it. Cache ids name a layer's
directory, as in Docker's layerdb `cache-id` and `mount-id` files.
"""

from __future__ import annotations

from typing import Protocol

SUPPORTED = ("overlay2", "vfs")


class GraphDriver(Protocol):
    name: str
    home: str
    overlay_whiteouts: bool  # layers unpack into empty diff dirs (overlay) or onto a copy of their parent

    def dir(self, cache_id: str) -> str: ...
    def diff_dir(self, cache_id: str) -> str:
        """Where the layer's files are (tar-split rebuilds the layer's tar from them)."""
    def exists(self, cache_id: str) -> bool: ...
    def stage(self, cache_id: str, parent: str | None) -> str:
        """Make the staging dir of a new image layer (over `parent`); return where to unpack it."""
    def discard(self, cache_id: str) -> None: ...
    def commit(self, cache_id: str, parent: str | None) -> None:
        """Publish a staged layer (rename into place)."""
    def create(self, cache_id: str, parent: str | None) -> None:
        """A layer with no changes over `parent` (a container's init and read-write layers)."""
    def mount(self, cache_id: str) -> str:
        """The layer's whole filesystem as a directory (idempotent)."""
    def unmount(self, cache_id: str) -> None: ...
    def remove(self, cache_id: str) -> None: ...
    def entries(self) -> list[str]:
        """Names of all layer dirs (and staging leftovers)."""
    def clean_links(self) -> None: ...
    def metadata(self, cache_id: str) -> dict[str, str] | None:
        """GraphDriver.Data of `docker inspect`."""
    def changes(self, cache_id: str, parent: str | None) -> list[dict]:
        """`docker diff`: the layer's changes over `parent` (Docker's Path/Kind list)."""
    def diff_size(self, cache_id: str, parent: str | None) -> int:
        """Bytes of the layer's changes over `parent` (SizeRw)."""


def new_driver(name: str, root: str) -> GraphDriver:
    """The driver `name` with its home under the data-root `root` (`root/<name>`)."""
    import os

    if name == "overlay2":
        from .overlay import Overlay2
        return Overlay2(os.path.join(root, "overlay2"))
    if name == "vfs":
        from .vfs import Vfs
        return Vfs(os.path.join(root, "vfs"))
    raise ValueError(f"driver not supported: {name}")
