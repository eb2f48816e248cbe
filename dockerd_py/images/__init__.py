"""The image and layer store (Docker's graphdriver layout, overlay2 or vfs). See contracts.md §4."""

from .imagedb import Image
from .reference import Reference
from .store import ImageStore

__all__ = ["Image", "ImageStore", "Reference"]
