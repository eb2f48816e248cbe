"""The working directory check of create (moby's SetupWorkingDirectory, its refusals only)."""

from __future__ import annotations

import os

from ...errors import SystemErr
from ...images import scope


def check(rootfs: str, working_dir: str) -> None:
    """A WorkingDir that names a file in the container's filesystem: Docker's create fails
    with a plain error (a 500), and the container is not kept."""
    try:
        path = scope.join(rootfs, working_dir)
    except NotADirectoryError as e:  # below a file: Go's lstat error, with the host path
        raise SystemErr(f"lstat {e.filename}: not a directory") from None
    except OSError:  # a dangling link: the runtime creates it
        return
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SystemErr(f"Cannot mkdir: {working_dir} is not a directory")
