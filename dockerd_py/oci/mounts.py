"""Mounts: Docker's defaults, the network files, HostConfig.Binds (host paths), HostConfig.Tmpfs and
the bind and tmpfs entries of HostConfig.Mounts (volume entries arrive as Binds, resolved by services.volumes).

Assembly follows daemon/oci_linux.go withMounts: user mounts are sorted by
depth, replace a default mount at the same destination (a user /dev removes
every default under /dev/), and are appended after the defaults.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidParameter
from .defaults import DEFAULT_SHM_SIZE, default_mounts
from .rro import Unsupported

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_BIND_MODES = {"ro", "rw", "z", "Z", "nocopy", *PROPAGATIONS}

# Mount flags that cancel each other: an option's key is its group, so that
# MergeTmpfsOptions keeps only the last one of a group.
_FLAG_GROUP = {
    "ro": "rdonly", "rw": "rdonly", "exec": "noexec", "noexec": "noexec",
    "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "sync": "sync", "async": "sync", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "relatime": "relatime",
    "norelatime": "relatime", "strictatime": "strictatime", "nostrictatime": "strictatime",
    "mand": "mand", "nomand": "mand", "dirsync": "dirsync", "remount": "remount",
    "bind": "bind", "rbind": "rbind",
    "private": "propagation", "rprivate": "propagation", "shared": "propagation",
    "rshared": "propagation", "slave": "propagation", "rslave": "propagation",
    "unbindable": "propagation", "runbindable": "propagation",
}
_TMPFS_DATA = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


@dataclass
class UserMount:
    destination: str
    source: str
    kind: str                # "bind" or "tmpfs"
    writable: bool = True
    propagation: str = "rprivate"
    data: str = ""           # tmpfs options as given
    recursive: bool = True   # rbind (BindOptions.NonRecursive: bind)
    ro_recursive: str = ""   # read-only: "" (rro where supported), "non-recursive" or "force" (BindOptions)


def _check_destination(dest: str, kind: str) -> str:
    if not dest.startswith("/"):
        raise InvalidParameter(f'invalid mount config for type "{kind}": invalid mount path: '
                               f"'{dest}' mount path must be absolute")
    clean = posixpath.normpath(dest)
    if clean == "/":
        raise InvalidParameter(f'invalid mount config for type "{kind}": invalid specification: '
                               "destination can't be '/'")
    return clean


def parse_bind(spec: str) -> UserMount:
    """One HostConfig.Binds entry "/host:/ctr[:opts]" or "name:/ctr[:opts]" (the source is then the name),
    or a lone "/ctr": an anonymous volume there (moby's parseMountRaw; docker-py's volumes=[...] sends it)."""
    parts = spec.split(":")
    if len(parts) == 1 and parts[0]:
        try:
            return UserMount(destination=_check_destination(parts[0], "volume"), source="", kind="bind")
        except InvalidParameter as e:
            raise InvalidParameter(f"invalid volume specification: '{spec}': {e.message}") from None
    if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 2 and parts[1] in _BIND_MODES):
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    src, dest = parts[0], parts[1]
    kind = "bind" if src.startswith("/") else "volume"
    try:
        destination = _check_destination(dest, kind)
    except InvalidParameter as e:
        raise InvalidParameter(f"invalid volume specification: '{spec}': {e.message}") from None
    mount = UserMount(destination=destination, source=posixpath.normpath(src) if kind == "bind" else src, kind="bind")
    opts = parts[2].split(",") if len(parts) == 3 else []
    seen_mode = seen_prop = False
    for o in opts:
        if o not in _BIND_MODES or (o in ("ro", "rw") and seen_mode) or (o in PROPAGATIONS and seen_prop):
            raise InvalidParameter(f"invalid mode: {parts[2]}")
        if o in ("ro", "rw"):
            mount.writable, seen_mode = o == "rw", True
        elif o in PROPAGATIONS:
            mount.propagation, seen_prop = o, True
    return mount


def tmpfs_data(m: dict) -> str:
    """A --mount type=tmpfs entry's mount data, as Docker's ConvertTmpfsOptions."""
    o = m.get("TmpfsOptions") or {}
    data = (["ro"] if m.get("ReadOnly") else []) + ([f"mode={o['Mode']:o}"] if o.get("Mode") else []) + \
        ([f"size={o['SizeBytes'] // 1024}k"] if o.get("SizeBytes") else [])
    for opt in o.get("Options") or []:
        if not isinstance(opt, list) or len(opt) not in (1, 2) or not all(isinstance(x, str) for x in opt):
            raise InvalidParameter(f'invalid mount config for type "tmpfs": invalid tmpfs option {opt!r}')
        data.append("=".join(opt))
    merge_tmpfs_options(data)  # Docker's 400 for an option it does not know
    return ",".join(data)


def from_api_mount(m: dict) -> UserMount:
    """A HostConfig.Mounts entry of type bind (host source) or tmpfs."""
    dest = _check_destination(m.get("Target") or "", m.get("Type") or "")
    if m.get("Type") == "tmpfs":
        return UserMount(destination=dest, source="tmpfs", kind="tmpfs", data=tmpfs_data(m))
    b = m.get("BindOptions") or {}
    ro_mode = "force" if b.get("ReadOnlyForceRecursive") else "non-recursive" if b.get("ReadOnlyNonRecursive") else ""
    return UserMount(destination=dest, source=posixpath.normpath(m.get("Source") or ""), kind="bind",
                     writable=not m.get("ReadOnly"), propagation=b.get("Propagation") or "rprivate",
                     recursive=not b.get("NonRecursive"), ro_recursive=ro_mode)


def is_host_bind(spec: str) -> bool:
    """Binds of a host path (what this package implements) vs named and anonymous volumes."""
    return spec.startswith("/") and ":" in spec


def merge_tmpfs_options(options: list[str]) -> list[str]:
    """Keep the last option of each flag group and each data key, in their order (MergeTmpfsOptions)."""
    seen: set[str] = set()
    out: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        if option in _FLAG_GROUP:
            key = _FLAG_GROUP[option]
        else:
            name, sep, _ = option.partition("=")
            if not sep or name not in _TMPFS_DATA:
                raise InvalidParameter(f'invalid tmpfs option ["{option}"]')
            key = "data:" + name
        if key not in seen:
            seen.add(key)
            out.insert(0, option)
    return out


def tmpfs_mounts(tmpfs: dict[str, str] | None) -> list[UserMount]:
    out = []
    for dest, data in (tmpfs or {}).items():
        clean = _check_destination(dest, "tmpfs")
        out.append(UserMount(destination=clean, source="tmpfs", kind="tmpfs", data=data or ""))
    return out


def _depth(path: str) -> int:
    return len(posixpath.normpath(path).split("/"))


def _read_only(m: UserMount, rro_error: Callable[[], str]) -> str:
    """A read-only bind's option, as Docker 25+: "rro" unless ReadOnlyNonRecursive or rro is unsupported."""
    if m.ro_recursive == "non-recursive":
        return "ro"
    reason = rro_error()
    if reason and m.ro_recursive == "force":
        raise Unsupported(reason)
    return "ro" if reason else "rro"


def _oci(m: UserMount, rro_error: Callable[[], str]) -> dict:
    if m.kind == "tmpfs":
        options = ["noexec", "nosuid", "nodev", "rprivate"]
        if m.data:
            options += m.data.split(",")
        return {"destination": m.destination, "type": "tmpfs", "source": "tmpfs",
                "options": merge_tmpfs_options(options)}
    options = ["rbind" if m.recursive else "bind"]
    if not m.writable:
        options.append(_read_only(m, rro_error))
    options.append(m.propagation)
    return {"destination": m.destination, "type": "bind", "source": m.source, "options": options}


def build(*, host_config: dict, etc_files: dict[str, str], rro_error: Callable[[], str],
          shm_path: str | None = None) -> tuple[list[dict], str | None]:
    """All mounts of the spec, and the rootfs propagation shared/slave binds need (or None).

    `shm_path`: a host dir bound as /dev/shm instead of a private tmpfs (IpcMode shareable,
    container:<ref>), unless a user mount is there.

    `rro_error()` is "" when read-only binds can be recursively read-only, else Docker's reason.
    """
    hc = host_config
    readonly = bool(hc.get("ReadonlyRootfs"))
    user: list[UserMount] = [parse_bind(b) for b in hc.get("Binds") or []]
    user += [from_api_mount(m) for m in hc.get("Mounts") or [] if m.get("Type") == "bind"]
    tmpfs = tmpfs_mounts(hc.get("Tmpfs"))
    tmpfs += [from_api_mount(m) for m in hc.get("Mounts") or [] if m.get("Type") == "tmpfs"]
    tmpfs_dests = {m.destination for m in tmpfs}
    user = [m for m in user if m.destination not in tmpfs_dests] + tmpfs
    # Docker's order for the network files; a user mount on the same path wins.
    order = {"/etc/resolv.conf": 0, "/etc/hostname": 1, "/etc/hosts": 2}
    for dest in sorted(etc_files, key=lambda d: order.get(d, len(order))):
        if dest not in {m.destination for m in user}:
            user.append(UserMount(destination=dest, source=etc_files[dest], kind="bind", writable=not readonly))
    if shm_path and "/dev/shm" not in {m.destination for m in user}:
        user.append(UserMount(destination="/dev/shm", source=shm_path, kind="bind"))
    user.sort(key=lambda m: _depth(m.destination))  # stable: equal depths keep their order

    user_dests = {m.destination for m in user}
    user_dev = "/dev" in user_dests
    shm_size = hc.get("ShmSize") or DEFAULT_SHM_SIZE
    mounts: list[dict] = []
    for m in default_mounts():
        dest = m["destination"]
        if dest in user_dests or (user_dev and dest.startswith("/dev/")):
            continue
        if dest == "/dev/shm":
            if hc.get("IpcMode") == "none":
                continue
            m["options"].append(f"size={shm_size}")
        if readonly and dest not in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue") \
                and "ro" not in m["options"]:
            m["options"].append("ro")
        if hc.get("Privileged") and m["type"] in ("sysfs", "cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"]
        mounts.append(m)

    rootfs_propagation = None
    for m in user:
        mounts.append(_oci(m, rro_error))
        if m.kind == "bind" and m.propagation in ("shared", "rshared"):
            rootfs_propagation = "shared"
        elif m.kind == "bind" and m.propagation in ("slave", "rslave") and rootfs_propagation != "shared":
            rootfs_propagation = "rslave"
    return mounts, rootfs_propagation


def legacy_read_only(host_config: dict) -> dict:
    """A container created through API < 1.44: its read-only host binds stay read-only on top only.

    Docker marks such binds (``Binds`` with a host path, ``Mounts`` of type
    bind) ReadOnlyNonRecursive in its mount points, not in the HostConfig the
    client sees; here the HostConfig the spec is built from gets the mark at
    start, a read-only host ``Binds`` entry becoming the equivalent ``Mounts``
    one (its missing source created, as -v does). Volumes keep Docker's 1.44
    default: recursive where supported.
    """
    binds: list[str] = []
    mounts: list[dict] = []
    for spec in host_config.get("Binds") or []:
        b = parse_bind(spec)
        if not is_host_bind(spec) or b.writable:
            binds.append(spec)
            continue
        mounts.append({"Type": "bind", "Source": b.source, "Target": b.destination, "ReadOnly": True,
                       "BindOptions": {"Propagation": b.propagation, "CreateMountpoint": True,
                                       "ReadOnlyNonRecursive": True}})
    for m in host_config.get("Mounts") or []:
        if m.get("Type") == "bind" and m.get("ReadOnly"):
            m = {**m, "BindOptions": {**(m.get("BindOptions") or {}), "ReadOnlyNonRecursive": True}}
        mounts.append(m)
    return {**host_config, "Binds": binds, "Mounts": mounts}
