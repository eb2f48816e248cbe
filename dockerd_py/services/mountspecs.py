"""A container's mount points from its create request, as Docker's registerMountPoints.

In Docker's order: the mounts of ``--volumes-from`` containers first, then
``HostConfig.Binds`` (a later one at the same destination replaces an
inherited one), then ``HostConfig.Mounts`` (a duplicate of a Bind is an
error), then the image's and Config's ``Volumes`` not covered by any of
them. Each point is a dict (persisted in the volumes metadata); the volume
ones carry the name to find or create, the bind ones a host path.
"""

from __future__ import annotations

import os
import posixpath
import secrets
from collections.abc import Callable

from ..errors import InvalidParameter, NotFound
from ..oci import mounts as oci_mounts

_VOLUMES_FROM_MODES = {"ro", "rw", "z", "Z"}  # no propagation, no copy mode: inherited as they are


def _mount_error(kind: str, text: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{kind}": {text}')


def volume_point(name: str, dest: str, *, rw: bool = True, mode: str = "", anonymous: bool = False,
                 driver: str = "", nocopy: bool = False, subpath: str = "", driver_opts: dict | None = None,
                 labels: dict | None = None) -> dict:
    return {"Type": "volume", "Name": name, "Destination": dest, "Driver": driver, "RW": rw, "Mode": mode,
            "Propagation": "", "NoCopy": nocopy, "Anonymous": anonymous, "Subpath": subpath,
            "DriverOpts": dict(driver_opts or {}), "Labels": dict(labels or {}), "ID": secrets.token_hex(32)}


def _local_mode(driver: str) -> str:
    """A volume of the local driver shows Mode "z" when none is given (Docker's setBindModeIfNull)."""
    return "z" if driver in ("", "local") else ""


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``container[:ro|rw]`` → (container, mode); Docker's texts."""
    if not spec:
        raise InvalidParameter("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    if not mode:
        return ref, "rw"
    opts = mode.split(",")
    if any(o not in _VOLUMES_FROM_MODES for o in opts) or sum(o in ("ro", "rw") for o in opts) > 1:
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, mode


def _check_bind_options(m: dict) -> None:
    b = m.get("BindOptions") or {}
    if b.get("Propagation") and b["Propagation"] not in oci_mounts.PROPAGATIONS:
        raise _mount_error("bind", f"invalid propagation mode: {b['Propagation']}")
    if b.get("ReadOnlyNonRecursive") and b.get("ReadOnlyForceRecursive"):
        raise InvalidParameter("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive")
    if b.get("NonRecursive") and b.get("ReadOnlyForceRecursive"):
        raise InvalidParameter("mount options conflict: NonRecursive && ReadOnlyForceRecursive")
    if (b.get("ReadOnlyNonRecursive") or b.get("ReadOnlyForceRecursive")) and not m.get("ReadOnly"):
        option = "ReadOnlyNonRecursive" if b.get("ReadOnlyNonRecursive") else "ReadOnlyForceRecursive"
        raise _mount_error("bind", f"option {option!r} requires ReadOnly")


# the types a Linux daemon knows (npipe is Windows'; image mounts, API 1.48, and cluster ones are refused later)
_KNOWN_TYPES = ("bind", "volume", "tmpfs", "image", "cluster")


def check_known_type(m: dict) -> None:
    """A HostConfig.Mounts entry of a type the API does not have: refused as Docker's validateMountConfig
    (before any "not supported here" of a type it has)."""
    kind = m.get("Type") or ""
    if kind not in _KNOWN_TYPES:
        if not m.get("Target"):
            raise _mount_error(kind, "field Target must not be empty")
        raise _mount_error(kind, "mount type unknown")


def check_api_mount(m: dict, volume_driver: str) -> dict | None:
    """Docker's checks of one HostConfig.Mounts entry; a volume point for type volume, else None."""
    kind, target = m.get("Type") or "", m.get("Target") or ""
    if not target:
        raise _mount_error(kind, "field Target must not be empty")
    dest = oci_mounts._check_destination(target, kind)
    source = m.get("Source") or ""
    extra = [k for k, allowed in (("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs"))
             if m.get(k) and kind != allowed]
    if extra:
        raise _mount_error(kind, f"field {extra[0]} must not be specified")
    if kind == "bind":
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        _check_bind_options(m)
        if not (m.get("BindOptions") or {}).get("CreateMountpoint") and not os.path.exists(source):
            raise _mount_error(kind, f"bind source path does not exist: {source}")
        return None
    if kind == "tmpfs":
        if source:
            raise _mount_error(kind, "field Source must not be specified")
        oci_mounts.tmpfs_data(m)
        return None
    opts = m.get("VolumeOptions") or {}
    subpath = opts.get("Subpath") or ""
    if subpath:
        if not source:
            raise _mount_error(kind, "must not set Subpath when using anonymous volumes")
        clean = posixpath.normpath(subpath)
        if subpath.startswith("/") or clean == ".." or clean.startswith("../"):
            raise _mount_error(kind, "subpath must be a relative path within the volume")
    if m.get("ReadOnly") and not source:
        raise _mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
    driver_config = opts.get("DriverConfig") or {}
    driver = driver_config.get("Name") or volume_driver
    return volume_point(source or secrets.token_hex(32), dest, rw=not m.get("ReadOnly"), anonymous=not source,
                        mode=_local_mode(driver), driver=driver, nocopy=bool(opts.get("NoCopy")),
                        subpath=subpath, driver_opts=driver_config.get("Options") or {}, labels=opts.get("Labels"))


def mount_points(config: dict, host_config: dict, inherited: Callable[[str], list[dict]],
                 check_name: Callable[[str], None]) -> list[dict]:
    """Every mount point of a new container that the volumes service keeps (volumes, inherited binds).

    `inherited(container_ref)` gives another container's points (NotFound if there is none).
    """
    volume_driver = host_config.get("VolumeDriver") or ""
    points: dict[str, dict] = {}
    for spec in host_config.get("VolumesFrom") or []:
        ref, mode = parse_volumes_from(spec)
        try:
            source = inherited(ref)
        except NotFound as e:
            raise InvalidParameter(e.message) from None
        writable = "ro" not in mode.split(",")
        for p in source:
            cp = {**p, "RW": p["RW"] and writable, "Mode": "", "NoCopy": True, "Subpath": p.get("Subpath", ""),
                  "ID": secrets.token_hex(32), "Inherited": True}
            points[cp["Destination"]] = cp
    bind_dests: set[str] = set()
    for bind in host_config.get("Binds") or []:
        parsed = oci_mounts.parse_bind(bind)
        bind_dests.add(parsed.destination)
        points.pop(parsed.destination, None)
        if oci_mounts.is_host_bind(bind):
            continue
        if ":" not in bind:  # a lone destination: an anonymous volume
            points[parsed.destination] = volume_point(secrets.token_hex(32), parsed.destination, anonymous=True,
                                                      mode=_local_mode(volume_driver), driver=volume_driver)
            continue
        name = bind.split(":", 1)[0]
        check_name(name)
        mode = bind.split(":")[2] if bind.count(":") == 2 else ""
        opts = mode.split(",") if mode else []
        points[parsed.destination] = volume_point(name, parsed.destination, rw=parsed.writable,
                                                  mode=mode or _local_mode(volume_driver), driver=volume_driver,
                                                  nocopy="nocopy" in opts)
    tmpfs_dests = {oci_mounts._check_destination(d, "tmpfs") for d in host_config.get("Tmpfs") or {}}
    for m in host_config.get("Mounts") or []:
        point = check_api_mount(m, volume_driver)
        dest = oci_mounts._check_destination(m["Target"], m.get("Type") or "")
        if dest in bind_dests:
            raise InvalidParameter(f"Duplicate mount point: {dest}")
        bind_dests.add(dest)
        points.pop(dest, None)
        if point is not None:
            if not point["Anonymous"]:
                check_name(point["Name"])
            points[dest] = point
    covered = set(points) | bind_dests | tmpfs_dests
    for dest in config.get("Volumes") or {}:
        clean = oci_mounts._check_destination(dest, "volume")
        if clean not in covered:
            covered.add(clean)
            points[clean] = volume_point(secrets.token_hex(32), clean, anonymous=True, driver=volume_driver)
    return list(points.values())
