"""The ``local`` volume driver: a directory per volume, Docker's layout.

``<data-root>/volumes/<name>/_data`` holds the data; the volume's metadata
(labels, creation time) is the daemon's. With the options ``type``,
``device`` and ``o`` (Docker's), the volume is a filesystem mounted on
``_data`` by mount(2) while containers use it: mounted by the first
``volume_mount``, unmounted when the last of its mount ids is released.
``opts.json`` (Docker's file) keeps the options and ``mounts.json`` the
active mount ids, so a restarted daemon unmounts when the last container
that was running before the restart stops. ``size`` (bytes or 10m, 1g...)
sets a tmpfs's size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading

from dockerd_py.errors import InvalidParameter, NotFound, SystemErr
from dockerd_py.hookspecs import hookimpl
from dockerd_py.state import atomic

from . import _mount

VALID_OPTS = ("type", "device", "o", "size")
MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device",)}
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4, "p": 1024 ** 5}


def ram_in_bytes(text: str) -> int:
    """Docker's units.RAMInBytes: 10m, 1.5g, 512k, 2048."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtpKMGTP]?)(?:[iI]?[bB])?", text.strip())
    if not m:
        raise InvalidParameter(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def validate_options(options: dict[str, str]) -> None:
    """Docker's local driver checks, with its texts."""
    for key in options:
        if key not in VALID_OPTS:
            raise InvalidParameter(f'invalid option: "{key}"')
    if "size" in options:
        size = ram_in_bytes(options["size"])
        if size > 0 and options.get("type") != "tmpfs":
            raise InvalidParameter("quota size requested but no quota support")
    for key, required in MANDATORY.items():
        if key in options:
            for other in required:
                if other not in options:
                    raise InvalidParameter(f'missing required option: "{other}"')


class LocalDriver:
    """Registered as ``volume.local``."""

    def __init__(self) -> None:
        self.root = ""
        self._lock = threading.RLock()

    def _dir(self, name: str) -> str:
        if not self.root:
            raise NotFound("local volume driver: no root (volume_driver_capabilities was not called)")
        if not name or "/" in name or name in (".", ".."):
            raise InvalidParameter(f"invalid volume name {name!r}")
        return os.path.join(self.root, name)

    def _data(self, name: str) -> str:
        return os.path.join(self._dir(name), "_data")

    def _opts(self, name: str) -> dict | None:
        try:
            with open(os.path.join(self._dir(name), "opts.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SystemErr(f"volume {name}: unreadable opts.json: {e}") from None

    def _active(self, name: str) -> list[str]:
        try:
            with open(os.path.join(self._dir(name), "mounts.json")) as f:
                return list(json.load(f))
        except (OSError, ValueError):
            return []

    def _set_active(self, name: str, ids: list[str]) -> None:
        atomic.write_json(os.path.join(self._dir(name), "mounts.json"), ids)

    @hookimpl
    def volume_driver_capabilities(self, root: str) -> dict:
        with self._lock:
            self.root = root
            os.makedirs(root, mode=0o701, exist_ok=True)
        return {"scope": "local"}

    @hookimpl
    def volume_create(self, name: str, options: dict) -> dict:
        validate_options(options)
        data = self._data(name)
        with self._lock:
            os.makedirs(self._dir(name), mode=0o701, exist_ok=True)
            if not os.path.isdir(data):
                os.mkdir(data, 0o755)
                os.chmod(data, 0o755)  # whatever the umask
            if options:
                o = options.get("o", "")
                if options.get("size") and options.get("type") == "tmpfs":
                    o = ",".join(filter(None, [o, f"size={ram_in_bytes(options['size'])}"]))
                atomic.write_json(os.path.join(self._dir(name), "opts.json"),
                                  {"MountType": options.get("type", ""), "MountOpts": o,
                                   "MountDevice": options.get("device", ""), "Quota": {"Size": 0}})
        return {"mountpoint": data}

    @hookimpl
    def volume_remove(self, name: str) -> bool:
        with self._lock:
            data = self._data(name)
            if self._opts(name) is not None and os.path.isdir(data):
                _mount.unmount(data)
                if _mount.is_mounted(data):
                    raise SystemErr(f"remove {name}: volume is still mounted at {data}")
                self._set_active(name, [])
            shutil.rmtree(self._dir(name), ignore_errors=True)
        return True

    @hookimpl
    def volume_path(self, name: str) -> str:
        return self._data(name)

    @hookimpl
    def volume_mount(self, name: str, mount_id: str) -> str:
        data = self._data(name)
        if not os.path.isdir(data):
            raise NotFound(f"get {name}: no such volume")
        with self._lock:
            opts = self._opts(name)
            if opts is None:
                return data
            active = self._active(name)
            if not _mount.is_mounted(data):  # first user (or the mount vanished: a reboot)
                if not opts.get("MountDevice"):
                    raise SystemErr("missing device in volume options")
                try:
                    _mount.mount(opts["MountDevice"], data, opts.get("MountType") or "", opts.get("MountOpts") or "")
                except _mount.MountError as e:
                    raise SystemErr(f"failed to mount local volume: {e}") from None
                active = []
            if mount_id not in active:
                self._set_active(name, active + [mount_id])
        return data

    @hookimpl
    def volume_unmount(self, name: str, mount_id: str) -> bool:
        with self._lock:
            if self._opts(name) is None:
                return True
            active = [i for i in self._active(name) if i != mount_id]
            if not active:
                try:
                    _mount.unmount(self._data(name))
                except _mount.MountError as e:
                    raise SystemErr(f"error while unmounting volume {name}: {e}") from None
            self._set_active(name, active)
        return True

    @hookimpl
    def volume_list(self) -> list:
        if not self.root or not os.path.isdir(self.root):
            return []
        return [{"name": n, "mountpoint": os.path.join(self.root, n, "_data")} for n in sorted(os.listdir(self.root))
                if os.path.isdir(os.path.join(self.root, n, "_data"))]


def make_plugin() -> LocalDriver:
    return LocalDriver()
