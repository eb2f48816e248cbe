"""cgroup v2 (unified hierarchy). Device rules need eBPF and are not applied."""

from __future__ import annotations

import time

from .manager import Manager, CGROUP_ROOT, read, read_pids, rmdir_retry, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000] (the OCI/runc conversion)."""
    return 1 + ((shares - 2) * 9999) // 262142


class V2Manager(Manager):
    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.path = paths[""]

    def _enable_controllers(self) -> None:
        """Enable every available controller down to our parent."""
        import os  # in the functions that create: delete, pause and kill --all do without it (~1 ms)
        rel = os.path.relpath(os.path.dirname(self.path), CGROUP_ROOT)
        d = CGROUP_ROOT
        parts = [] if rel == "." else rel.split("/")
        for part in [None, *parts]:
            if part:
                d = os.path.join(d, part)
                os.makedirs(d, exist_ok=True)
            avail = read(f"{d}/cgroup.controllers").split()
            want = [c for c in ("cpu", "cpuset", "io", "memory", "pids", "hugetlb") if c in avail]
            if want:
                try:
                    write(f"{d}/cgroup.subtree_control", " ".join("+" + c for c in want))
                except OSError:
                    pass

    def apply(self, resources: dict[str, Any]) -> None:
        import os
        self._enable_controllers()
        os.makedirs(self.path, exist_ok=True)
        d = self.path
        res = resources or {}
        mem = res.get("memory") or {}
        if mem.get("limit") is not None:
            write(f"{d}/memory.max", mem["limit"] if mem["limit"] > 0 else "max")
        if mem.get("reservation") is not None:
            write(f"{d}/memory.low", mem["reservation"])
        if mem.get("swap") is not None and os.path.exists(f"{d}/memory.swap.max"):
            swap = mem["swap"]
            write(f"{d}/memory.swap.max",
                  "max" if swap == -1 else max(0, swap - (mem.get("limit") or 0)))
        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            write(f"{d}/cpu.weight", shares_to_weight(cpu["shares"]))
        if cpu.get("quota") is not None or cpu.get("period") is not None:
            quota = cpu.get("quota")
            write(f"{d}/cpu.max", f"{'max' if not quota or quota < 0 else quota} {cpu.get('period') or 100000}")
        if cpu.get("cpus"):
            write(f"{d}/cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            write(f"{d}/cpuset.mems", cpu["mems"])
        pids = res.get("pids") or {}
        if pids.get("limit") is not None:
            write(f"{d}/pids.max", pids["limit"] if pids["limit"] > 0 else "max")
        blkio = res.get("blockIO") or {}
        if blkio.get("weight") and os.path.exists(f"{d}/io.weight"):
            write(f"{d}/io.weight", f"default {blkio['weight']}")

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
