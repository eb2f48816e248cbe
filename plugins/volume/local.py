"""The ``local`` volume driver: a directory per volume, Docker's layout.

``<data-root>/volumes/<name>/_data`` holds the data; the volume's
metadata (labels, creation time) is the daemon's. Driver options
(``type``/``device``/``o``: mounting a filesystem) are not implemented yet
and refused with a 400.
"""

from __future__ import annotations

import os
import shutil
import threading

from dockerd_py.errors import InvalidParameter, NotFound
from dockerd_py.hookspecs import hookimpl


class LocalDriver:
    """Registered as ``volume.local``."""

    def __init__(self) -> None:
        self.root = ""
        self._lock = threading.Lock()

    def _dir(self, name: str) -> str:
        if not self.root:
            raise NotFound("local volume driver: no root (volume_driver_capabilities was not called)")
        if not name or "/" in name or name in (".", ".."):
            raise InvalidParameter(f"invalid volume name {name!r}")
        return os.path.join(self.root, name)

    @hookimpl
    def volume_driver_capabilities(self, root: str) -> dict:
        with self._lock:
            self.root = root
            os.makedirs(root, mode=0o701, exist_ok=True)
        return {"scope": "local"}

    @hookimpl
    def volume_create(self, name: str, options: dict) -> dict:
        if options:
            bad = ", ".join(sorted(options))
            raise InvalidParameter(f"create {name}: local volume driver options are not supported by this "
                                   f"daemon yet: {bad}")
        data = os.path.join(self._dir(name), "_data")
        with self._lock:
            os.makedirs(self._dir(name), mode=0o701, exist_ok=True)
            if not os.path.isdir(data):
                os.mkdir(data, 0o755)
                os.chmod(data, 0o755)  # whatever the umask
        return {"mountpoint": data}

    @hookimpl
    def volume_remove(self, name: str) -> bool:
        with self._lock:
            shutil.rmtree(self._dir(name), ignore_errors=True)
        return True

    @hookimpl
    def volume_path(self, name: str) -> str:
        return os.path.join(self._dir(name), "_data")

    @hookimpl
    def volume_mount(self, name: str, mount_id: str) -> str:
        data = os.path.join(self._dir(name), "_data")
        if not os.path.isdir(data):
            raise NotFound(f"get {name}: no such volume")
        return data

    @hookimpl
    def volume_unmount(self, name: str, mount_id: str) -> bool:
        return True

    @hookimpl
    def volume_list(self) -> list:
        if not self.root or not os.path.isdir(self.root):
            return []
        return [{"name": n, "mountpoint": os.path.join(self.root, n, "_data")} for n in sorted(os.listdir(self.root))
                if os.path.isdir(os.path.join(self.root, n, "_data"))]


def make_plugin() -> LocalDriver:
    return LocalDriver()
