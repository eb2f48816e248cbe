"""The volumes service: the volume API, and the volumes of containers.

The daemon keeps each volume's metadata (driver, labels, options, creation
time) and which containers use it in one file, ``<data-root>/volumes/
metadata.json``, written atomically; a driver (a pluggy plugin routed by
name, ``volume.local`` built in) keeps the data.

Containers: ``prepare`` at create resolves ``HostConfig.Binds`` entries that
name a volume and the ``Config.Volumes`` not covered by a bind (a new
anonymous volume each, as Docker does); ``resolve`` at start mounts them
through their drivers, copies the image's content into empty volumes
(Docker's copy-up, unless ``nocopy``) and gives the Binds the spec builder
sees, with host paths only; ``unmount`` at exit; ``release`` at removal.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterable

from ..errors import Conflict, DockerError, InvalidParameter, NotFound
from ..filters import exact_bool, labels_match, tree_size
from ..oci import mounts as oci_mounts
from ..remoteplugins.volume import RemoteVolumeDrivers
from ..state import atomic
from . import mountspecs

log = logging.getLogger("dockerd_py.volumes")

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
LIST_FILTERS = {"dangling", "driver", "label", "name"}
PRUNE_FILTERS = {"label", "label!", "all"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_name(name: str, action: str = "create") -> None:
    if not NAME_RE.match(name):
        raise InvalidParameter(f'{action} {name}: "{name}" includes invalid characters for a local volume name, '
                               'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                               "directory, use absolute path")


class VolumeService:
    def __init__(self, data_root: str, pluginhost, on_event: Callable[[str, str, dict], None] | None = None) -> None:
        self.root = os.path.join(data_root, "volumes")
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        self.plugins = pluginhost
        self._on_event = on_event
        self._lock = threading.RLock()
        self._path = os.path.join(self.root, "metadata.json")
        self._volumes: dict[str, dict] = {}
        self._mounts: dict[str, list[dict]] = {}  # container id -> its mount points (mountspecs)
        self.remote = RemoteVolumeDrivers(pluginhost)
        # set by the engine: container ref -> container (with .id, .host_config); for --volumes-from
        self.find_container: Callable[[str], object] | None = None
        for driver in pluginhost.drivers("volume"):
            try:
                pluginhost.driver("volume", driver).call("volume_driver_capabilities", root=self.root)
            except DockerError:
                log.exception("volume driver %s failed to start", driver)
        self._load()

    # --- persistence ----------------------------------------------------------
    def _load(self) -> None:
        try:
            data = atomic.read_json(self._path)
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError):
            log.exception("unreadable %s: starting with no volume metadata", self._path)
            data = {}
        self._volumes = dict(data.get("volumes") or {})
        self._mounts = {cid: [{"Type": "volume", **m} for m in ms] for cid, ms in (data.get("mounts") or {}).items()}
        try:  # local volumes whose metadata was lost are adopted, as Docker does
            for v in self.plugins.driver("volume", "local").call("volume_list", default=[]):
                if v["name"] not in self._volumes and NAME_RE.match(v["name"]):
                    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(v["mountpoint"]).st_mtime))
                    self._volumes[v["name"]] = {"Name": v["name"], "Driver": "local", "CreatedAt": created,
                                                "Labels": {}, "Options": {}}
        except DockerError:
            pass

    def _save(self) -> None:
        atomic.write_json(self._path, {"volumes": self._volumes, "mounts": self._mounts})

    def restore(self, container_ids: Iterable[str]) -> None:
        """After a restart: forget references of containers that no longer exist (and their local mounts)."""
        keep = set(container_ids)
        with self._lock:
            gone = {cid: self._mounts.pop(cid) for cid in list(self._mounts) if cid not in keep}
            if gone:
                self._save()
        for cid, points in gone.items():
            for m in points:
                if m.get("Type") == "volume" and m.get("Driver") == "local":
                    self._unmount_one(cid, m)

    def _event(self, action: str, name: str, attrs: dict[str, str]) -> None:
        if self._on_event is not None:
            self._on_event(action, name, attrs)

    # --- the volume API --------------------------------------------------------
    def _get(self, name: str, action: str = "get") -> dict:
        v = self._volumes.get(name)
        if v is None:
            raise NotFound(f"{action} {name}: no such volume")
        return v

    def _driver(self, name: str):
        """The driver `name`: built in, or a remote plugin found, activated and registered now."""
        try:
            return self.plugins.driver("volume", name)
        except NotFound:
            if name == "local":
                raise
        self.remote.lookup(name)
        return self.plugins.driver("volume", name)

    def users(self, name: str) -> list[str]:
        with self._lock:
            return [cid for cid, ms in self._mounts.items()
                    if any(m["Type"] == "volume" and m["Name"] == name for m in ms)]

    def create(self, name: str = "", driver: str = "", options: dict | None = None, labels: dict | None = None,
               anonymous: bool = False) -> dict:
        driver = driver or "local"
        if not name:
            name, anonymous = secrets.token_hex(32), True
        check_name(name)
        with self._lock:
            existing = self._volumes.get(name)
            if existing is not None:
                if driver != existing["Driver"]:
                    raise Conflict(f"create {name}: a volume with the name {name} already exists with driver "
                                   f'"{existing["Driver"]}"')
                return self.inspect(name)
            labels = dict(labels or {})
            if anonymous:
                labels.setdefault(ANONYMOUS_LABEL, "")
            try:
                self._driver(driver).call("volume_create", name=name, options=dict(options or {}))
            except DockerError as e:
                raise type(e)(f"create {name}: {e.message}") from None
            self._volumes[name] = {"Name": name, "Driver": driver, "CreatedAt": _now(), "Labels": labels,
                                   "Options": dict(options or {})}
            self._save()
        self._event("create", name, {"driver": driver})
        return self.inspect(name)

    def inspect(self, name: str) -> dict:
        with self._lock:
            v = self._get(name)
        driver = self._driver(v["Driver"])
        remote = driver.call("volume_get", name=name, default=None)
        if remote is None:
            return {"CreatedAt": v["CreatedAt"], "Driver": v["Driver"], "Labels": v["Labels"] or None,
                    "Mountpoint": driver.call("volume_path", name=name, default=""), "Name": name,
                    "Options": v["Options"] or None, "Scope": "local"}
        out = {"CreatedAt": remote["created_at"] or "0001-01-01T00:00:00Z", "Driver": v["Driver"],
               "Labels": v["Labels"] or None, "Mountpoint": remote["mountpoint"], "Name": name,
               "Options": v["Options"] or None, "Scope": self.remote.scope(v["Driver"])}
        if remote.get("status"):
            out["Status"] = remote["status"]
        return out

    def list(self, filters: dict[str, list[str]]) -> dict:
        dangling = exact_bool(filters, "dangling", ("true", "1"), ("false", "0"))
        warnings = self._adopt_remote()
        with self._lock:
            names = sorted(self._volumes)
        out = []
        for n in names:
            if self._matches(n, filters, dangling):
                try:
                    out.append(self.inspect(n))
                except DockerError as e:  # a plugin gone away: listed from the metadata, with a warning
                    v = self._volumes.get(n)
                    if v is None:
                        continue
                    warnings.append(e.message)
                    out.append({"CreatedAt": v["CreatedAt"], "Driver": v["Driver"], "Labels": v["Labels"] or None,
                                "Mountpoint": "", "Name": n, "Options": v["Options"] or None, "Scope": "local"})
        return {"Volumes": out, "Warnings": warnings or None}

    def _adopt_remote(self) -> list[str]:
        """Volumes that remote plugins hold but the daemon did not create are listed too (Docker's List)."""
        warnings: list[str] = []
        for driver in self.remote.discover():
            try:
                held = self.plugins.driver("volume", driver).call("volume_list", default=[])
            except DockerError as e:
                warnings.append(e.message)
                continue
            with self._lock:
                new = [v["name"] for v in held if v["name"] not in self._volumes]
                for name in new:
                    self._volumes[name] = {"Name": name, "Driver": driver, "CreatedAt": _now(), "Labels": {},
                                           "Options": {}}
                if new:
                    self._save()
        return warnings

    def _matches(self, name: str, filters: dict[str, list[str]], dangling: bool | None) -> bool:
        v = self._volumes[name]
        if "name" in filters and not any(f in name for f in filters["name"]):
            return False
        if "driver" in filters and v["Driver"] not in filters["driver"]:
            return False
        if dangling is not None and (not self.users(name)) != dangling:
            return False
        if not labels_match(v["Labels"], filters.get("label", []), filters.get("label!", [])):
            return False
        return True

    def remove(self, name: str, force: bool = False) -> None:
        with self._lock:
            v = self._volumes.get(name)
            if v is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.users(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            try:
                self._driver(v["Driver"]).call("volume_remove", name=name)
            except DockerError:
                if not force:
                    raise
                log.exception("volume %s: driver failed to remove it; forgotten anyway", name)
            del self._volumes[name]
            self._save()
        self._event("destroy", name, {"driver": v["Driver"]})

    def prune(self, filters: dict[str, list[str]]) -> dict:
        all_ = any(f.lower() in ("true", "1") for f in filters.get("all", []))
        deleted, reclaimed = [], 0
        with self._lock:
            candidates = [n for n, v in self._volumes.items()
                          if (all_ or ANONYMOUS_LABEL in (v["Labels"] or {}))
                          and labels_match(v["Labels"], filters.get("label", []), filters.get("label!", []))]
        for name in candidates:
            try:
                path = self.inspect(name)["Mountpoint"]
                size = tree_size(path) if path else 0
                self.remove(name)
            except (Conflict, NotFound):
                continue
            deleted.append(name)
            reclaimed += size
        self._event("prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- containers --------------------------------------------------------------
    def prepare(self, container_id: str, config: dict, host_config: dict) -> None:
        """At create: find or create the container's volumes and take a reference on each."""
        points = mountspecs.mount_points(config, host_config, self._inherited, check_name)
        if not points:
            return
        for driver in {p["Driver"] for p in points if p["Type"] == "volume" and p["Driver"] not in ("", "local")}:
            try:  # find and activate remote plugins before taking the lock (Docker retries a lookup for 15 s)
                self._driver(driver)
            except DockerError as e:
                name = next(p["Name"] for p in points if p.get("Driver") == driver)
                raise type(e)(f"create {name}: {e.message}") from None
        made: list[str] = []
        with self._lock:
            try:
                for p in points:
                    if p["Type"] != "volume":
                        continue
                    known = self._volumes.get(p["Name"])
                    if known is None:
                        self.create(p["Name"], p["Driver"], options=p["DriverOpts"], labels=p["Labels"],
                                    anonymous=p["Anonymous"])
                        made.append(p["Name"])
                    elif p["Driver"] and p["Driver"] != known["Driver"] and not p.get("Inherited"):
                        raise Conflict(f"create {p['Name']}: a volume with the name {p['Name']} already exists "
                                       f'with driver "{known["Driver"]}"')
                    p["Driver"] = self._volumes[p["Name"]]["Driver"]
            except BaseException:
                for name in made:
                    if ANONYMOUS_LABEL in (self._volumes.get(name, {}).get("Labels") or {}):
                        self.remove(name, force=True)
                raise
            self._mounts[container_id] = points
            self._save()

    def _inherited(self, ref: str) -> list[dict]:
        """--volumes-from: the mount points of another container (volumes, and binds of any kind)."""
        if self.find_container is None:
            raise NotFound(f"No such container: {ref}")
        c = self.find_container(ref)
        with self._lock:
            points = [dict(p) for p in self._mounts.get(c.id, [])]
        hc = c.host_config or {}
        for bind in hc.get("Binds") or []:
            if oci_mounts.is_host_bind(bind):
                b = oci_mounts.parse_bind(bind)
                points.append(_bind_point(b.source, b.destination, b.writable, b.propagation))
        for m in hc.get("Mounts") or []:
            if m.get("Type") == "bind":
                points.append(_bind_point(m.get("Source") or "", oci_mounts._check_destination(m["Target"], "bind"),
                                          not m.get("ReadOnly"),
                                          (m.get("BindOptions") or {}).get("Propagation") or "rprivate"))
        return points

    def resolve(self, container_id: str, host_config: dict, rootfs: str, first_start: bool) -> dict:
        """At start: mount the volumes; the HostConfig the spec builder gets, volume binds made host paths."""
        with self._lock:
            points = [dict(m) for m in self._mounts.get(container_id, [])]
        binds = [b for b in host_config.get("Binds") or [] if oci_mounts.is_host_bind(b)]
        for b in binds:  # -v /host/missing:/p: Docker creates the host directory
            _make_source(oci_mounts.parse_bind(b).source)
        api_mounts = [m for m in host_config.get("Mounts") or [] if m.get("Type") in ("bind", "tmpfs")]
        for m in api_mounts:
            if m.get("Type") == "bind" and (m.get("BindOptions") or {}).get("CreateMountpoint"):
                _make_source(m["Source"])
        mounted = []
        try:
            for m in points:
                if m["Type"] == "bind":
                    binds.append(f"{m['Source']}:{m['Destination']}:{'rw' if m['RW'] else 'ro'},{m['Propagation']}")
                    continue
                driver = self._driver(m["Driver"])
                source = driver.call("volume_path", name=m["Name"], default="") if m["Driver"] == "local" else ""
                try:
                    path = driver.call("volume_mount", name=m["Name"], mount_id=m.get("ID") or container_id)
                except DockerError as e:
                    raise MountFailed(f"error while mounting volume '{source}': {e.message}") from None
                m["Source"] = path
                mounted.append(m)
                if m.get("Subpath"):
                    path = _subpath(path, m["Subpath"])
                elif first_start and not m["NoCopy"]:
                    copy_up(os.path.join(rootfs, m["Destination"].lstrip("/")), path)
                binds.append(f"{path}:{m['Destination']}:{'rw' if m['RW'] else 'ro'}")
        except BaseException:
            for m in mounted:
                self._unmount_one(container_id, m)
            raise
        remote = {m["ID"]: m["Source"] for m in mounted if m["Driver"] != "local" and m.get("ID")}
        if remote:
            with self._lock:
                for p in self._mounts.get(container_id, []):
                    if p.get("ID") in remote:
                        p["Source"] = remote[p["ID"]]
                self._save()
        for m in points:
            if m["Type"] == "volume":
                self._event("mount", m["Name"], {"container": container_id, "destination": m["Destination"],
                                                 "driver": m["Driver"], "propagation": m["Propagation"],
                                                 "read/write": str(m["RW"]).lower()})
        return {**host_config, "Binds": binds, "Mounts": api_mounts}

    def _unmount_one(self, container_id: str, m: dict) -> None:
        try:
            self._driver(m["Driver"]).call("volume_unmount", name=m["Name"], mount_id=m.get("ID") or container_id)
        except DockerError:
            log.exception("volume %s: unmount for %s failed", m["Name"], container_id[:12])

    def unmount(self, container_id: str) -> None:
        """At exit: release what `resolve` mounted."""
        with self._lock:
            ms = list(self._mounts.get(container_id, []))
        for m in ms:
            if m["Type"] == "volume":
                self._unmount_one(container_id, m)
                self._event("unmount", m["Name"], {"container": container_id, "driver": m["Driver"]})

    def release(self, container_id: str, remove_anonymous: bool) -> None:
        """At container removal: drop its references; with `remove_anonymous` (rm -v), its anonymous volumes."""
        with self._lock:
            ms = self._mounts.pop(container_id, None)
            if ms is None:
                return
            self._save()
        if remove_anonymous:
            for m in ms:
                if m["Type"] == "volume" and m["Anonymous"]:
                    try:
                        self.remove(m["Name"])
                    except (Conflict, NotFound):
                        pass
                    except DockerError:
                        log.exception("volume %s: could not remove it", m["Name"])

    def container_mounts(self, container_id: str) -> list[dict]:
        """Docker's `Mounts` entries of the container's volumes (--mount bind/tmpfs ones are the view's)."""
        with self._lock:
            ms = list(self._mounts.get(container_id, []))
        out = []
        for m in ms:
            if m["Type"] == "bind":
                out.append({"Type": "bind", "Source": m["Source"], "Destination": m["Destination"], "Mode": "",
                            "RW": m["RW"], "Propagation": m["Propagation"]})
                continue
            source = m.get("Source", "")
            if m["Driver"] == "local":  # a remote plugin is not asked on every ps/inspect: its last Mountpoint
                try:
                    source = self._driver("local").call("volume_path", name=m["Name"], default="")
                except DockerError:
                    source = ""
            out.append({"Type": "volume", "Name": m["Name"], "Source": source, "Destination": m["Destination"],
                        "Driver": m["Driver"], "Mode": m["Mode"], "RW": m["RW"], "Propagation": m["Propagation"]})
        return out

    def usage(self) -> list[dict]:
        """Volumes with UsageData, for `system df`."""
        out = []
        with self._lock:
            names = sorted(self._volumes)
        for name in names:
            v = self.inspect(name)
            v["UsageData"] = {"RefCount": len(self.users(name)),
                              "Size": tree_size(v["Mountpoint"]) if v["Mountpoint"] else -1}
            out.append(v)
        return out


class MountFailed(DockerError):
    """A volume that could not be mounted at start (500, Docker's text; not a runtime error)."""

    status = 500


def _bind_point(source: str, dest: str, rw: bool, propagation: str) -> dict:
    return {"Type": "bind", "Source": source, "Destination": dest, "RW": rw, "Propagation": propagation}


def _make_source(path: str) -> None:
    """A missing bind source becomes a directory (Docker's -v, and --mount with bind-create-mountpoint)."""
    if not os.path.lexists(path):
        try:
            os.makedirs(path, 0o755, exist_ok=True)
        except OSError as e:
            raise MountFailed(f"error while creating mount source path '{path}': mkdir {path}: "
                              f"{os.strerror(e.errno).lower()}") from None


def _subpath(volume_path: str, subpath: str) -> str:
    """VolumeOptions.Subpath: an existing path inside the volume (symlinks may not leave it)."""
    root = os.path.realpath(volume_path)
    path = os.path.realpath(os.path.join(root, subpath))
    if path != root and not path.startswith(root + "/"):
        raise InvalidParameter(f"subpath {subpath!r} escapes the volume")
    if not os.path.exists(path):
        raise MountFailed(f"cannot access path {path}: lstat {path}: no such file or directory")
    return path


def copy_up(source: str, volume_path: str) -> None:
    """Docker's copy-up: an empty volume over a directory with content gets it, owners and modes included."""
    try:
        if not os.path.isdir(source) or os.path.islink(source) or os.listdir(volume_path):
            return
        entries = os.listdir(source)
    except OSError:
        return
    if entries:
        proc = subprocess.run(["cp", "-a", "--", *[os.path.join(source, e) for e in entries], volume_path + "/"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise MountFailed(f"copying image content into volume: {proc.stderr.strip()}")
    st = os.stat(source)
    os.chown(volume_path, st.st_uid, st.st_gid)
    os.chmod(volume_path, st.st_mode & 0o7777)
