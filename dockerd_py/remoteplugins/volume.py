"""A remote ``VolumeDriver`` plugin as the pluggy driver ``volume.<name>``.

The adapter implements the same hooks as the local driver by calling the
plugin: ``VolumeDriver.Capabilities`` at registration, ``Get`` then
``Create`` (only if Get does not know the name) for a new volume, ``Mount``
and ``Unmount`` with the mount id (one pair per container), ``Path``,
``List``, ``Remove``. Timeouts are Docker's: 2 min for Create and Mount,
1 min for the others.
"""

from __future__ import annotations

import threading

from ..errors import DockerError, NotFound, SystemErr
from ..hookspecs import hookimpl
from .client import PluginError
from .discovery import PluginNotFound
from .registry import NotImplementing, Plugin, Registry

IMPLEMENTS = "VolumeDriver"
LONG, SHORT = 120.0, 60.0


class RemoteVolumeDriver:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.scope = "local"

    def _call(self, method: str, args: dict | None, timeout: float = SHORT) -> dict:
        try:
            out = self.plugin.client.call("VolumeDriver." + method, args, timeout)
        except PluginError as e:
            raise SystemErr(str(e)) from None
        if out.get("Err"):
            raise SystemErr(f"VolumeDriver.{method}: {out['Err']}")
        return out

    @hookimpl
    def volume_driver_capabilities(self, root: str) -> dict:
        try:
            caps = self.plugin.client.call("VolumeDriver.Capabilities", {}, SHORT).get("Capabilities") or {}
        except PluginError:
            caps = {}  # an old plugin without Capabilities: Docker's default, local scope
        self.scope = "global" if str(caps.get("Scope", "")).lower() == "global" else "local"
        return {"scope": self.scope}

    @hookimpl
    def volume_create(self, name: str, options: dict) -> dict:
        existing = self._get(name)
        if existing is not None:
            return {"mountpoint": existing.get("Mountpoint") or ""}
        self._call("Create", {"Name": name, "Opts": dict(options) or None}, LONG)
        return {"mountpoint": ""}

    def _get(self, name: str) -> dict | None:
        try:
            return self._call("Get", {"Name": name}).get("Volume") or None
        except SystemErr:
            return None

    @hookimpl
    def volume_get(self, name: str) -> dict:
        v = self._get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return {"name": v.get("Name") or name, "mountpoint": v.get("Mountpoint") or "",
                "created_at": v.get("CreatedAt") or "", "status": v.get("Status") or None}

    @hookimpl
    def volume_remove(self, name: str) -> bool:
        self._call("Remove", {"Name": name})
        return True

    @hookimpl
    def volume_path(self, name: str) -> str:
        return self._call("Path", {"Name": name}).get("Mountpoint") or ""

    @hookimpl
    def volume_mount(self, name: str, mount_id: str) -> str:
        path = self._call("Mount", {"Name": name, "ID": mount_id}, LONG).get("Mountpoint") or ""
        if not path:
            raise SystemErr(f"VolumeDriver.Mount: volume {name}: no mountpoint returned")
        return path

    @hookimpl
    def volume_unmount(self, name: str, mount_id: str) -> bool:
        self._call("Unmount", {"Name": name, "ID": mount_id})
        return True

    @hookimpl
    def volume_list(self) -> list:
        return [{"name": v.get("Name") or "", "mountpoint": v.get("Mountpoint") or ""}
                for v in self._call("List", {}).get("Volumes") or [] if v.get("Name")]


class RemoteVolumeDrivers:
    """Registers remote volume drivers into a PluginHost when they are first needed."""

    def __init__(self, pluginhost, registry: Registry | None = None) -> None:
        self.plugins = pluginhost
        self.registry = registry or Registry()
        self._lock = threading.Lock()

    def lookup(self, name: str, retry: bool = True) -> None:
        """Make ``volume.<name>`` a registered driver; Docker's errors when the plugin is not there."""
        prefix = f"error looking up volume plugin {name}"
        try:
            plugin = self.registry.get(name, IMPLEMENTS, retry=retry)
        except PluginNotFound:
            raise NotFound(f'{prefix}: plugin "{name}" not found') from None
        except NotImplementing:
            raise NotFound(f'{prefix}: plugin "{name}" not found') from None
        except PluginError as e:
            raise SystemErr(f"{prefix}: legacy plugin: {e}") from None
        self._register(plugin)

    def _register(self, plugin: Plugin) -> None:
        with self._lock:
            if self.plugins.pm.get_plugin(f"volume.{plugin.name}") is not None:
                return
            driver = RemoteVolumeDriver(plugin)
            driver.volume_driver_capabilities(root="")
            try:
                self.plugins.register(f"volume.{plugin.name}", driver)
            except DockerError:  # registered meanwhile
                pass

    def scope(self, name: str) -> str:
        return getattr(self.plugins.pm.get_plugin(f"volume.{name}"), "scope", "local")

    def discover(self) -> list[str]:
        """Register every plugin on disk that implements VolumeDriver; their names."""
        out = []
        for plugin in self.registry.all(IMPLEMENTS):
            self._register(plugin)
            out.append(plugin.name)
        return out
