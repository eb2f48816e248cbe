"""The legacy Dockerfile builder (`POST /build`)."""

from .build import Builder
from .state import BuildError, BuildOptions
from .context import BuildContext, open_context

__all__ = ["Builder", "BuildError", "BuildOptions", "BuildContext", "open_context"]
