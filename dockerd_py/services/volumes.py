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

from ..errors import Conflict, DockerError, InvalidParameter, NotFound, SystemErr
from ..filters import labels_match, tree_size
from ..oci import mounts as oci_mounts
from ..state import atomic

log = logging.getLogger("dockerd_py.volumes")

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
LIST_FILTERS = {"dangling", "driver", "label", "name"}
PRUNE_FILTERS = {"label", "label!", "all"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def split_volume_bind(spec: str) -> tuple[str, oci_mounts.UserMount, list[str]] | None:
    """A Binds entry naming a volume → (name, mount, options); None for a host-path bind."""
    if oci_mounts.is_host_bind(spec):
        return None
    name, sep, rest = spec.partition(":")
    if not sep:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    mount = oci_mounts.parse_bind("/" + spec)  # Docker's syntax checks, with the name in the source's place
    opts = rest.split(":", 1)[1].split(",") if ":" in rest else []
    return name, mount, opts


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
        self._mounts: dict[str, list[dict]] = {}  # container id -> its volume mounts
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
        self._mounts = dict(data.get("mounts") or {})
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
        """After a restart: forget references of containers that no longer exist."""
        keep = set(container_ids)
        with self._lock:
            gone = [cid for cid in self._mounts if cid not in keep]
            for cid in gone:
                del self._mounts[cid]
            if gone:
                self._save()

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
        try:
            return self.plugins.driver("volume", name)
        except NotFound:
            raise NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found') from None

    def users(self, name: str) -> list[str]:
        with self._lock:
            return [cid for cid, ms in self._mounts.items() if any(m["Name"] == name for m in ms)]

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
            self._driver(driver).call("volume_create", name=name, options=dict(options or {}))
            self._volumes[name] = {"Name": name, "Driver": driver, "CreatedAt": _now(), "Labels": labels,
                                   "Options": dict(options or {})}
            self._save()
        self._event("create", name, {"driver": driver})
        return self.inspect(name)

    def inspect(self, name: str) -> dict:
        with self._lock:
            v = self._get(name)
            mountpoint = self._driver(v["Driver"]).call("volume_path", name=name, default="")
            return {"CreatedAt": v["CreatedAt"], "Driver": v["Driver"], "Labels": v["Labels"] or None,
                    "Mountpoint": mountpoint, "Name": name, "Options": v["Options"] or None, "Scope": "local"}

    def list(self, filters: dict[str, list[str]]) -> dict:
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidParameter(f"invalid filter 'dangling={value}'")
        with self._lock:
            names = sorted(self._volumes)
            out = [self.inspect(n) for n in names if self._matches(n, filters)]
        return {"Volumes": out, "Warnings": None}

    def _matches(self, name: str, filters: dict[str, list[str]]) -> bool:
        v = self._volumes[name]
        if "name" in filters and not any(f in name for f in filters["name"]):
            return False
        if "driver" in filters and v["Driver"] not in filters["driver"]:
            return False
        if "dangling" in filters:
            wanted = {f.lower() in ("true", "1") for f in filters["dangling"]}
            if (not self.users(name)) not in wanted:
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
        driver = host_config.get("VolumeDriver") or "local"
        taken: list[dict] = []
        dests: set[str] = set()
        specs = []
        for bind in host_config.get("Binds") or []:
            parsed = split_volume_bind(bind)
            if parsed is None:
                dests.add(oci_mounts.parse_bind(bind).destination)
                continue
            name, mount, opts = parsed
            check_name(name)
            specs.append((name, mount, opts, False, {}, {}))
            dests.add(mount.destination)
        dests.update(oci_mounts._check_destination(d, "tmpfs") for d in host_config.get("Tmpfs") or {})
        for m in host_config.get("Mounts") or []:  # --mount
            kind, target = m.get("Type") or "", m.get("Target") or ""
            if not target:
                raise InvalidParameter(f'invalid mount config for type "{kind}": field Target must not be empty')
            dest = oci_mounts._check_destination(target, kind)
            if dest in dests:
                raise InvalidParameter(f"Duplicate mount point: {dest}")
            dests.add(dest)
            if kind == "bind":
                _bind_from_mount(m)  # its checks
            elif kind == "tmpfs":
                if m.get("Source"):
                    raise InvalidParameter('invalid mount config for type "tmpfs": field Source must not be specified')
            elif kind == "volume":
                opts = m.get("VolumeOptions") or {}
                source = m.get("Source") or ""
                if source:
                    check_name(source)
                mount = oci_mounts.UserMount(destination=dest, source="", kind="bind", writable=not m.get("ReadOnly"))
                flags = (["ro"] if m.get("ReadOnly") else []) + (["nocopy"] if opts.get("NoCopy") else [])
                specs.append((source or secrets.token_hex(32), mount, flags, not source,
                              (opts.get("DriverConfig") or {}).get("Options") or {}, opts.get("Labels") or {}))
        for dest in config.get("Volumes") or {}:
            clean = oci_mounts._check_destination(dest, "volume")
            if clean in dests:
                continue
            dests.add(clean)
            specs.append((secrets.token_hex(32), oci_mounts.UserMount(destination=clean, source="", kind="bind"),
                          [], True, {}, {}))
        if not specs:
            return
        with self._lock:
            try:
                for name, mount, opts, anonymous, driver_opts, labels in specs:
                    v = self.create(name, driver if name not in self._volumes else self._volumes[name]["Driver"],
                                    options=driver_opts, labels=labels, anonymous=anonymous)
                    mode = ",".join(opts)
                    taken.append({"Name": name, "Destination": mount.destination, "Driver": v["Driver"],
                                  "RW": mount.writable, "Mode": "z" if not mode and not anonymous else mode,
                                  "Propagation": "", "NoCopy": "nocopy" in opts, "Anonymous": anonymous,
                                  "Options": opts})
            except BaseException:
                for m in taken:
                    if m["Anonymous"]:
                        self.remove(m["Name"], force=True)
                raise
            self._mounts[container_id] = taken
            self._save()

    def resolve(self, container_id: str, host_config: dict, rootfs: str, first_start: bool) -> dict:
        """At start: mount the volumes; the HostConfig the spec builder gets, volume binds made host paths."""
        with self._lock:
            ms = [dict(m) for m in self._mounts.get(container_id, [])]
        if not ms and not host_config.get("Mounts"):
            return host_config
        binds = [b for b in host_config.get("Binds") or [] if oci_mounts.is_host_bind(b)]
        tmpfs = dict(host_config.get("Tmpfs") or {})
        for m in host_config.get("Mounts") or []:  # --mount bind and tmpfs, in the Binds/Tmpfs the spec knows
            if m.get("Type") == "bind":
                binds.append(_bind_from_mount(m))
            elif m.get("Type") == "tmpfs":
                o = m.get("TmpfsOptions") or {}
                data = ([f"size={o['SizeBytes']}"] if o.get("SizeBytes") else []) + \
                    ([f"mode={o['Mode']:o}"] if o.get("Mode") else []) + (["ro"] if m.get("ReadOnly") else [])
                tmpfs[oci_mounts._check_destination(m["Target"], "tmpfs")] = ",".join(data)
        mounted = []
        try:
            for m in ms:
                path = self._driver(m["Driver"]).call("volume_mount", name=m["Name"], mount_id=container_id)
                mounted.append(m)
                if first_start and not m["NoCopy"]:
                    copy_up(os.path.join(rootfs, m["Destination"].lstrip("/")), path)
                opts = [o for o in m["Options"] if o != "nocopy"]
                binds.append(f"{path}:{m['Destination']}" + (f":{','.join(opts)}" if opts else ""))
        except BaseException:
            for m in mounted:
                self._unmount_one(container_id, m)
            raise
        for m in ms:
            self._event("mount", m["Name"], {"container": container_id, "destination": m["Destination"],
                                             "driver": m["Driver"], "propagation": m["Propagation"],
                                             "read/write": str(m["RW"]).lower()})
        return {**host_config, "Binds": binds, "Tmpfs": tmpfs}

    def _unmount_one(self, container_id: str, m: dict) -> None:
        try:
            self._driver(m["Driver"]).call("volume_unmount", name=m["Name"], mount_id=container_id)
        except DockerError:
            log.exception("volume %s: unmount for %s failed", m["Name"], container_id[:12])

    def unmount(self, container_id: str) -> None:
        """At exit: release what `resolve` mounted."""
        with self._lock:
            ms = list(self._mounts.get(container_id, []))
        for m in ms:
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
                if m["Anonymous"]:
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
            try:
                source = self._driver(m["Driver"]).call("volume_path", name=m["Name"], default="")
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


def _bind_from_mount(m: dict) -> str:
    """A --mount type=bind entry as a Binds string; Docker's 400s (the source must exist)."""
    source = m.get("Source") or ""
    if not source:
        raise InvalidParameter('invalid mount config for type "bind": field Source must not be empty')
    if not source.startswith("/"):
        raise InvalidParameter(f'invalid mount config for type "bind": invalid mount path: \'{source}\' '
                               "mount path must be absolute")
    if not os.path.exists(source):
        raise InvalidParameter(f'invalid mount config for type "bind": bind source path does not exist: {source}')
    propagation = (m.get("BindOptions") or {}).get("Propagation") or "rprivate"
    if propagation not in oci_mounts.PROPAGATIONS:
        raise InvalidParameter(f"invalid propagation mode: {propagation}")
    return f"{source}:{m['Target']}:{'ro' if m.get('ReadOnly') else 'rw'},{propagation}"


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
            raise SystemErr(f"copying image content into volume: {proc.stderr.strip()}")
    st = os.stat(source)
    os.chown(volume_path, st.st_uid, st.st_gid)
    os.chmod(volume_path, st.st_mode & 0o7777)
