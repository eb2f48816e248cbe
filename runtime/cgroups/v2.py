"""cgroup v2 (unified hierarchy): the files runc 1.1's fs2 driver writes, in its order.

Device rules become an eBPF program (devices_bpf); OCI values keep v1 meanings where
v2 differs: cpu shares -> cpu.weight, blkio weight -> io.weight, and swap (memory +
swap in OCI) -> memory.swap.max (swap alone).
"""

from __future__ import annotations

import errno
import posix
import time

from ..errors import ConfigError
from .manager import Manager, CGROUP_ROOT, rdma_max_lines, read, read_pids, rmdir_retry, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000] (the OCI/runc conversion)."""
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000] (runc's conversion)."""
    return 1 + (weight - 10) * 9999 // 990


def swap_max(swap: int, limit: int) -> int:
    """OCI memory.swap (memory + swap, -1 unlimited, 0 unset) as memory.swap.max; runc's checks."""
    if limit == -1 and swap == 0:
        return -1  # memory unlimited and swap unset: both unlimited, as on v1
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise ConfigError("unable to set swap limit without memory limit")
    if limit < 0:
        raise ConfigError(f"invalid memory value: {limit}")
    if swap < limit:
        raise ConfigError("memory+swap limit should be >= memory limit")
    return swap - limit


def _num(value: int) -> str:
    """runc's numToStr: 0 unset (""), -1 "max"."""
    return "" if value == 0 else "max" if value == -1 else str(value)


class V2Manager(Manager):
    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.path = paths[""]

    def _create(self) -> None:
        """mkdir every level, enabling every controller of the root in each parent's
        subtree_control (one by one if some are refused), as runc's CreateCgroupPath."""
        ctrls = ["+" + c for c in read(f"{CGROUP_ROOT}/cgroup.controllers").split()]
        import os  # only here, where the cgroup is made: delete and pause do without it (~1 ms)
        rel = os.path.relpath(self.path, CGROUP_ROOT)
        d = CGROUP_ROOT
        for part in rel.split("/"):
            if ctrls:
                try:
                    write(f"{d}/cgroup.subtree_control", " ".join(ctrls))
                except OSError:
                    for c in ctrls:
                        try:
                            write(f"{d}/cgroup.subtree_control", c)
                        except OSError:
                            pass
            d = os.path.join(d, part)
            os.makedirs(d, exist_ok=True)

    def apply(self, resources: dict[str, Any]) -> None:
        """Create the cgroup, write the limits, attach the device program (runc appends its default rules)."""
        from ..linux import syscalls
        from . import devices_bpf
        from .v1 import RUNTIME_DEVICE_RULES
        self._create()
        res = resources or {}
        self._set(res)
        rules = list(res.get("devices") or []) + [devices_bpf.parse_rule(r) for r in RUNTIME_DEVICE_RULES]
        devices_bpf.attach(syscalls.default(), self.path, rules)

    def update(self, resources: dict[str, Any]) -> None:
        self._set(resources)

    def _set(self, res: dict[str, Any]) -> None:
        d = self.path
        pids = res.get("pids") or {}
        if _num(pids.get("limit") or 0):
            write(f"{d}/pids.max", _num(pids["limit"]))
        cpu = res.get("cpu") or {}
        self._memory(res.get("memory") or {})
        self._io(res.get("blockIO") or {})
        self._cpu(cpu)
        for key in ("cpus", "mems"):
            if cpu.get(key):
                write(f"{d}/cpuset.{key}", cpu[key])
        for entry in res.get("hugepageLimits") or []:
            write(f"{d}/hugetlb.{entry['pageSize']}.max", entry["limit"])
        for line in rdma_max_lines(res.get("rdma") or {}):
            write(f"{d}/rdma.max", line)
        self._unified(res.get("unified") or {})

    def _memory(self, mem: dict[str, Any]) -> None:
        limit, swap, low = (mem.get(k) or 0 for k in ("limit", "swap", "reservation"))
        if not (limit or swap or low):
            return
        value = swap_max(swap, limit)
        text = _num(value) or ("0" if swap > 0 else "")  # swap == limit: no swap at all
        if text:
            write(f"{self.path}/memory.swap.max", text)
        if _num(limit):
            write(f"{self.path}/memory.max", _num(limit))
        if _num(low):
            write(f"{self.path}/memory.low", _num(low))

    def _io(self, blkio: dict[str, Any]) -> None:
        d = self.path
        bfq = posix.access(f"{d}/io.bfq.weight", posix.F_OK)
        if blkio.get("weight"):
            if bfq:
                write(f"{d}/io.bfq.weight", blkio["weight"])
            else:
                write(f"{d}/io.weight", blkio_to_io_weight(blkio["weight"]))
        if bfq:
            for dev in blkio.get("weightDevice") or []:
                if dev.get("weight"):
                    write(f"{d}/io.bfq.weight", f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for dev in blkio.get(key) or []:
                write(f"{d}/io.max", f"{dev['major']}:{dev['minor']} {name}={dev['rate']}")

    def _cpu(self, cpu: dict[str, Any]) -> None:
        d = self.path
        if cpu.get("shares"):
            write(f"{d}/cpu.weight", shares_to_weight(cpu["shares"]))
        quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
        if not (quota or period):
            return
        if not (quota and period) and posix.access(f"{d}/cpu.max", posix.F_OK):
            # one of the two given (update): the other stays, as runc keeps it from its config
            cur_quota, cur_period = read(f"{d}/cpu.max").split()
            quota = quota or (-1 if cur_quota == "max" else int(cur_quota))
            period = period or int(cur_period)
        write(f"{d}/cpu.max", f"{quota if quota > 0 else 'max'} {period or 100000}")

    def _unified(self, unified: dict[str, str]) -> None:
        for key, value in unified.items():
            if "/" in key:
                raise ConfigError(f'unified resource "{key}" must be a file name (no slashes)')
            try:
                write(f"{self.path}/{key}", value)
            except OSError as e:
                if e.errno in (errno.EPERM, errno.ENOENT):
                    ctrl, dot, _ = key.partition(".")
                    if not dot:
                        raise ConfigError(f'unified resource "{key}" must be in the form CONTROLLER.PARAMETER') from None
                    if ctrl != "cgroup" and ctrl not in read(f"{self.path}/cgroup.controllers").split():
                        raise ConfigError(f'unified resource "{key}" can\'t be set: controller "{ctrl}" not available') from None
                raise OSError(e.errno, f'unable to set unified resource "{key}": {e.strerror}') from None

    def procs_files(self) -> list[str]:
        return [f"{self.path}/cgroup.procs"]

    def freeze(self) -> None:
        self._freeze("1")

    def thaw(self) -> None:
        self._freeze("0")

    def _freeze(self, value: str) -> None:
        write(f"{self.path}/cgroup.freeze", value)
        for _ in range(1000):
            if f"frozen {value}" in read(f"{self.path}/cgroup.events").splitlines():
                return
            time.sleep(0.001)
        raise OSError("timed out waiting for cgroup.freeze")

    def frozen(self) -> bool:
        try:
            return read(f"{self.path}/cgroup.freeze") == "1"
        except FileNotFoundError:
            return False

    def pids(self) -> list[int]:
        return read_pids(f"{self.path}/cgroup.procs")

    def remove(self) -> None:
        rmdir_retry(self.path)
