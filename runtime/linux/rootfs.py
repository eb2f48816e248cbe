"""Building the container's root filesystem inside its new mount namespace.

Order (as runc): root propagation, bind rootfs onto itself, config mounts in
order, device nodes and /dev symlinks, pivot_root (or MS_MOVE+chroot), then
later ``finalize``: read-only paths, masked paths, read-only root.
"""

from __future__ import annotations

import os

from . import devices
from . import syscalls as sc
from .mounts import PROPAGATION, mkdir_all, mount_entry, secure_join
from .syscalls import Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def prepare(sys: Syscalls, rootfs: str, spec_raw: dict[str, Any], cgroup_paths: dict[str, str],
            no_pivot: bool, in_userns: bool = False, idmapped: dict[int, int] | None = None) -> None:
    """Everything up to and including the switch of root. Runs with umask 0.
    In a user namespace device nodes cannot be made: the host's are bound."""
    linux = spec_raw.get("linux") or {}
    prop = PROPAGATION.get(linux.get("rootfsPropagation") or "", sc.MS_SLAVE | sc.MS_REC)
    sys.mount(None, "/", None, prop)
    if prop & sc.MS_SHARED:
        _make_parent_private(sys, rootfs)
    sys.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)
    mounts = spec_raw.get("mounts") or []
    for i, m in enumerate(mounts):
        try:
            mount_entry(sys, rootfs, m, cgroup_paths, (idmapped or {}).get(i))
        except OSError as e:  # runc's wording around what failed
            inner = e.args[1] if len(e.args) > 1 else str(e)
            raise OSError(e.errno, f'error mounting "{m.get("source", "")}" to rootfs at '
                                   f'"{m.get("destination")}": {inner}') from None
    if devices.needs_dev_setup(mounts):
        devices.create_defaults(sys, rootfs, linux.get("devices") or [], bind=in_userns)
        devices.create_symlinks(rootfs)
    elif linux.get("devices"):
        devices.create_defaults(sys, rootfs, linux["devices"], bind=in_userns)
    if no_pivot:
        _move_root(sys, rootfs)
    else:
        _pivot(sys, rootfs)


def _make_parent_private(sys: Syscalls, rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared."""
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4]
            if (rootfs == mnt or rootfs.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best = mnt
    sys.mount(None, best, None, sc.MS_PRIVATE)


def _pivot(sys: Syscalls, rootfs: str) -> None:
    """pivot_root(".", ".") stacks the old root on top of the new one; detach it."""
    old = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sys.pivot_root(".", ".")
        os.fchdir(old)
        # Keep the unmount from propagating back to the host.
        sys.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sys.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(old)
        os.close(new)
    os.chdir("/")


def _move_root(sys: Syscalls, rootfs: str) -> None:
    """--no-pivot: move the rootfs over / and chroot (old root stays reachable)."""
    os.chdir(rootfs)
    sys.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def finalize(sys: Syscalls, spec_raw: dict[str, Any]) -> None:
    """After pivot_root: read-only paths, masked paths, read-only root."""
    linux = spec_raw.get("linux") or {}
    for path in linux.get("readonlyPaths") or []:
        readonly_path(sys, path)
    for path in linux.get("maskedPaths") or []:
        mask_path(sys, path)
    if (spec_raw.get("root") or {}).get("readonly"):
        sys.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _flags_of("/"))


def readonly_path(sys: Syscalls, path: str) -> None:
    if not os.path.exists(path):
        return
    sys.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    sys.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _flags_of(path))


def mask_path(sys: Syscalls, path: str) -> None:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        sys.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
    else:
        sys.mount("/dev/null", path, None, sc.MS_BIND)


def _flags_of(path: str) -> int:
    """Flags of the mount at path that a bind remount must repeat: nosuid, nodev,
    noexec and the atime mode (locked on mounts inherited into a user namespace)."""
    f = os.statvfs(path).f_flag
    out = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                             (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME),
                             (os.ST_NODIRATIME, sc.MS_NODIRATIME), (os.ST_RELATIME, sc.MS_RELATIME)):
        if f & st_flag:
            out |= ms_flag
    if not f & (os.ST_NOATIME | os.ST_RELATIME):
        out |= sc.MS_STRICTATIME
    return out


def set_sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OSError(e.errno, f"write {path}: {os.strerror(e.errno).lower()}") from None


__all__ = ["prepare", "finalize", "set_sysctls", "secure_join", "mkdir_all"]
