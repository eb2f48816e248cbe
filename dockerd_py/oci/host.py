"""What the spec depends on about the machine, read once and injectable.

Docker's spec depends on the host (architecture for seccomp, kernel version for
seccomp's minKernel, cgroup v1/v2 for the cgroup namespace default, the
host's capabilities, sysctls that exist). Everything else in this package is a
pure function of its arguments plus a HostInfo, so tests can pass a fake one.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import socket
import stat
from dataclasses import dataclass, field
from typing import Callable

# uname -m -> Go's GOARCH, the names the seccomp profile's arches use.
_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "386", "i686": "386",
    "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
    "s390x": "s390x", "ppc64le": "ppc64le", "riscv64": "riscv64",
    "mips64": "mips64", "mips64el": "mips64le", "loongarch64": "loong64",
}


def _device(path: str, st: os.stat_result) -> dict | None:
    """An OCI linux.devices entry for a char/block node, None for anything else."""
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return {"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _walk_devices(root: str, skip_dirs: frozenset[str] = frozenset(), skip_files: frozenset[str] = frozenset()) \
        -> list[dict]:
    out: list[dict] = []

    def walk(path: str) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.name not in skip_dirs:
                        walk(e.path)
                    continue
                if e.name in skip_files:
                    continue
                dev = _device(e.path, e.stat(follow_symlinks=False))
            except OSError:
                continue
            if dev is not None:
                out.append(dev)

    walk(root)
    return out


def _scan_host_devices() -> list[dict]:
    """Every char/block node under /dev, as OCI linux.devices (privileged containers)."""
    return _walk_devices("/dev", frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".udev"}), frozenset({"console"}))


def _lookup_device(path: str) -> list[dict]:
    """HostConfig.Devices' PathOnHost: a node (symlinks followed) or a directory of nodes.

    Each entry's "path" is relative to `path` ("" for the node itself, "/sub/x" in a directory).
    Raises OSError (missing path) or ValueError (neither a device nor a directory of devices).
    """
    resolved = os.path.realpath(path) if os.path.islink(path) else path
    st = os.stat(resolved)
    dev = _device("", st)
    if dev is not None:
        return [dev]
    if stat.S_ISDIR(st.st_mode):
        found = _walk_devices(resolved)
        if found:
            return [{**d, "path": d["path"][len(resolved):]} for d in found]
    raise ValueError("not a device node")


RRO_UNKNOWN = "rro is not supported: no runtime given"


@dataclass(frozen=True)
class HostInfo:
    arch: str = "amd64"                     # GOARCH naming
    kernel: tuple[int, int] = (6, 1)        # (major, minor)
    cgroup_v2: bool = True
    hostname: str = "localhost"
    cap_last_cap: int = 40                  # /proc/sys/kernel/cap_last_cap
    cap_bounding: int = (1 << 41) - 1       # our own bounding set: what we can hand out
    cpus: frozenset[int] = frozenset({0})   # CPUs available for cpusets
    mems: frozenset[int] = frozenset({0})   # memory nodes available for cpusets
    sysctls: frozenset[str] = frozenset(
        {"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"})
    swap_limit: bool = True                 # memory cgroup can limit swap (memsw on v1)
    blkio_weight: bool = True               # the blkio (v1) or io (v2) controller takes a weight
    seccomp: bool = True                    # kernel supports seccomp filters
    # "" when read-only binds can be "rro" (kernel and the container's runtime), else Docker's reason
    rro_error: Callable[[], str] = field(default=lambda: RRO_UNKNOWN, compare=False)
    devices: Callable[[], list[dict]] = field(default=_scan_host_devices, compare=False)
    lookup_device: Callable[[str], list[dict]] = field(default=_lookup_device, compare=False)

    @property
    def ncpu(self) -> int:
        return len(self.cpus)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _parse_list(text: str | None, fallback: frozenset[int]) -> frozenset[int]:
    if not text:
        return fallback
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


def _blkio_weight(v2: bool) -> bool:
    """As Docker's sysinfo: v2, the io controller is there; v1, blkio has a (bfq) weight file."""
    if v2:
        return "io" in (_read("/sys/fs/cgroup/cgroup.controllers") or "").split()
    return any(os.path.exists(f"/sys/fs/cgroup/blkio/blkio.{f}") for f in ("weight", "bfq.weight"))


@functools.lru_cache(maxsize=1)
def detect() -> HostInfo:
    """Read the running host's facts (cached: they do not change while we run)."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    kernel = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    cpus = frozenset(os.sched_getaffinity(0))
    mems = _parse_list(_read("/sys/fs/cgroup/cpuset/cpuset.mems")
                       or _read("/sys/fs/cgroup/cpuset.mems.effective")
                       or _read("/sys/devices/system/node/online"), frozenset({0}))
    last_cap = _read("/proc/sys/kernel/cap_last_cap")
    status = _read("/proc/self/status") or ""
    bounding = re.search(r"^CapBnd:\s*([0-9a-f]+)", status, re.M)
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return HostInfo(
        arch=_GOARCH.get(platform.machine(), platform.machine()),
        kernel=kernel,
        cgroup_v2=v2,
        hostname=socket.gethostname(),
        cap_last_cap=int(last_cap) if last_cap and last_cap.isdigit() else 40,
        cap_bounding=int(bounding.group(1), 16) if bounding else (1 << 41) - 1,
        cpus=cpus,
        mems=mems,
        sysctls=frozenset(k for k in ("net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")
                          if os.path.exists("/proc/sys/" + k.replace(".", "/"))),
        swap_limit=v2 or os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        blkio_weight=_blkio_weight(v2),
        seccomp="Seccomp:" in status,
    )
