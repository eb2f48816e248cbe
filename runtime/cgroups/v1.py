"""cgroup v1: one directory per mounted hierarchy."""

from __future__ import annotations

import errno
import time

from ..errors import ConfigError
from .manager import Manager, rdma_max_lines, read, read_pids, rmdir_retry, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Rules runc always appends to the device allow-list (see DEFAULTS.md §4).
RUNTIME_DEVICE_RULES = [
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
    "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
]


def hierarchies() -> dict[str, str]:
    """Mounted v1 hierarchies: controller (or ``name=x``) -> mount point; on a
    hybrid host also ``unified`` (the v2 tree, joined but without controllers,
    as runc does)."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if len(fields) >= 1 and fields[0] == "cgroup2":
                found.setdefault("unified", left.split()[4])
                continue
            if len(fields) < 3 or fields[0] != "cgroup":
                continue
            mnt = left.split()[4]
            for opt in fields[2].split(","):
                if opt in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                           "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc") \
                        or opt.startswith("name="):
                    found.setdefault(opt, mnt)
    return found


class V1Manager(Manager):
    """Manager over the v1 hierarchies in ``paths`` (controller -> cgroup dir)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths

    def _mkdir(self, name: str, path: str) -> None:
        import os  # in the functions that create: delete, pause and kill --all do without it (~1 ms)
        if name != "cpuset":
            os.makedirs(path, exist_ok=True)
            return
        # A new cpuset cgroup is unusable (joining fails with ENOSPC) until cpus
        # and mems are filled. Check every level from the hierarchy root down,
        # whoever created it: a concurrent create may have made a parent and
        # not filled it yet. Writing the same values twice is harmless.
        root = self._mount_of(path)
        parts = os.path.relpath(path, root).split("/")
        parent = root
        for part in parts:
            d = os.path.join(parent, part)
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not read(os.path.join(d, f)):
                    write(os.path.join(d, f), read(os.path.join(parent, f)))
            parent = d

    @staticmethod
    def _mount_of(path: str) -> str:
        """The hierarchy root: the nearest ancestor that is a mount point."""
        import os
        p = path
        while not os.path.ismount(p) and p != "/":
            p = os.path.dirname(p)
        return p

    def apply(self, resources: dict[str, Any]) -> None:
        import os
        for name, path in self.paths.items():
            self._mkdir(name, path)
        res = resources or {}
        mem = res.get("memory") or {}
        if "memory" in self.paths and mem:
            d = self.paths["memory"]
            self._set_memory_and_swap(d, mem.get("limit"), mem.get("swap"))
            if mem.get("reservation") is not None:
                write(f"{d}/memory.soft_limit_in_bytes", mem["reservation"])
            if mem.get("swappiness") is not None and os.path.exists(f"{d}/memory.swappiness"):
                write(f"{d}/memory.swappiness", mem["swappiness"])
            if mem.get("disableOOMKiller"):
                write(f"{d}/memory.oom_control", 1)
        cpu = res.get("cpu") or {}
        if "cpu" in self.paths and cpu:
            d = self.paths["cpu"]
            for key, fname in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                               ("quota", "cpu.cfs_quota_us"), ("realtimePeriod", "cpu.rt_period_us"),
                               ("realtimeRuntime", "cpu.rt_runtime_us")):
                if cpu.get(key) is not None and (key != "shares" or cpu[key]):
                    write(f"{d}/{fname}", cpu[key])
        if "cpuset" in self.paths:
            d = self.paths["cpuset"]
            if cpu.get("cpus"):
                write(f"{d}/cpuset.cpus", cpu["cpus"])
            if cpu.get("mems"):
                write(f"{d}/cpuset.mems", cpu["mems"])
        pids = res.get("pids") or {}
        if "pids" in self.paths and pids.get("limit") is not None:
            write(f"{self.paths['pids']}/pids.max", pids["limit"] if pids["limit"] > 0 else "max")
        blkio = res.get("blockIO") or {}
        if "blkio" in self.paths and blkio.get("weight"):
            d = self.paths["blkio"]
            name = "blkio.weight" if os.path.exists(f"{d}/blkio.weight") else "blkio.bfq.weight"
            write(f"{d}/{name}", blkio["weight"])
        if "devices" in self.paths and res.get("devices") is not None:
            self._devices(res["devices"])
        if res.get("rdma"):
            if "rdma" not in self.paths:  # runc too refuses limits it cannot write
                raise ConfigError("cannot set rdma limit: container could not join or create cgroup")
            for line in rdma_max_lines(res["rdma"]):
                write(f"{self.paths['rdma']}/rdma.max", line)

    @staticmethod
    def _set_memory_and_swap(d: str, limit: int | None, swap: int | None) -> None:
        """The kernel wants limit <= memsw at every moment: raising both writes swap first (runc's order)."""
        import os
        has_swap = swap is not None and os.path.exists(f"{d}/memory.memsw.limit_in_bytes")
        if limit is not None and has_swap:
            current = int(read(f"{d}/memory.limit_in_bytes"))
            if swap == -1 or current < swap:
                write(f"{d}/memory.memsw.limit_in_bytes", swap)
                has_swap = False
        if limit is not None:
            try:
                write(f"{d}/memory.limit_in_bytes", limit)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                raise OSError(e.errno, f"unable to set memory limit to {limit} (current usage: "
                              f"{read(f'{d}/memory.usage_in_bytes')}, peak usage: "
                              f"{read(f'{d}/memory.max_usage_in_bytes')})") from None
        if has_swap:
            write(f"{d}/memory.memsw.limit_in_bytes", swap)

    def _devices(self, rules: list[dict[str, Any]]) -> None:
        d = self.paths["devices"]
        for rule in rules:
            kind = rule.get("type") or "a"
            major = "*" if rule.get("major") in (None, -1) else rule["major"]
            minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
            access = rule.get("access") or "rwm"
            text = "a" if kind == "a" else f"{kind} {major}:{minor} {access}"
            write(f"{d}/devices.{'allow' if rule.get('allow') else 'deny'}", text)
        for text in RUNTIME_DEVICE_RULES:
            try:
                write(f"{d}/devices.allow", text)
            except OSError:
                pass  # e.g. the parent cgroup does not allow it

    def procs_files(self) -> list[str]:
        return [f"{p}/cgroup.procs" for p in self.paths.values()]

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def _freezer(self, want: str) -> None:
        path = f"{self.paths['freezer']}/freezer.state"
        for _ in range(1000):
            write(path, want)
            if read(path) == want:
                return
            time.sleep(0.001)
        raise OSError(f"unable to set freezer state to {want}")

    def frozen(self) -> bool:
        try:
            return read(f"{self.paths['freezer']}/freezer.state") != "THAWED"
        except (KeyError, FileNotFoundError):
            return False

    def pids(self) -> list[int]:
        for name in ("pids", "freezer", "memory", "devices", "cpu"):
            if name in self.paths:
                return read_pids(f"{self.paths[name]}/cgroup.procs")
        return []

    def remove(self) -> None:
        for path in self.paths.values():
            rmdir_retry(path)
