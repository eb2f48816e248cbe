"""A container's cgroup statistics in the shape of runc's ``events --stats`` (types.Stats).

Go's ``omitempty`` is followed field by field: zero counters that runc leaves
out are left out here too, so the JSON compares equal key for key.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS = 1_000_000_000
_MAX_U64 = 2**64 - 1
_BLKIO_CFQ = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
              ("ioServicedRecursive", "io_serviced_recursive"),
              ("ioQueueRecursive", "io_queued_recursive"),
              ("ioServiceTimeRecursive", "io_service_time_recursive"),
              ("ioWaitTimeRecursive", "io_wait_time_recursive"),
              ("ioMergedRecursive", "io_merged_recursive"),
              ("ioTimeRecursive", "time_recursive"),
              ("sectorsRecursive", "sectors_recursive"))


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str, default: int = 0) -> int:
    text = _read(path)
    if text is None:
        return default
    text = text.strip()
    if text == "max":
        return _MAX_U64
    try:
        return int(text)
    except ValueError:
        return default


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _omit(d: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty for the keys it applies to: drop 0, empty lists and dicts."""
    return {k: v for k, v in d.items() if v not in (0, [], {}, None, "")}


def _cpu_list(text: str | None) -> list[int]:
    cpus: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def _throttling(stat: dict[str, int], throttled_time: int) -> dict[str, int]:
    return _omit({"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                  "throttledTime": throttled_time})


def collect(paths: dict[str, str]) -> dict[str, Any]:
    """Stats of the cgroup(s) in ``paths`` (controller -> dir; ``""`` = v2)."""
    if "" in paths:
        return _v2(paths[""])
    return _v1(paths)


# --- cgroup v1 ---------------------------------------------------------------
def _v1(paths: dict[str, str]) -> dict[str, Any]:
    return {
        "cpu": _v1_cpu(paths.get("cpuacct"), paths.get("cpu")),
        "cpuset": _v1_cpuset(paths.get("cpuset")),
        "memory": _v1_memory(paths.get("memory")),
        "pids": _omit({"current": _int(paths["pids"] + "/pids.current") if "pids" in paths else 0,
                       "limit": _pids_limit(paths["pids"] + "/pids.max") if "pids" in paths else 0}),
        "blkio": _v1_blkio(paths.get("blkio")),
        "hugetlb": _v1_hugetlb(paths.get("hugetlb")),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _pids_limit(path: str) -> int:
    value = _int(path)
    return 0 if value == _MAX_U64 else value


def _v1_cpu(acct: str | None, cpu: str | None) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    if acct:
        percpu_kernel: list[int] = []
        percpu_user: list[int] = []
        for line in (_read(acct + "/cpuacct.usage_all") or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) == 3:
                percpu_user.append(int(fields[1]))
                percpu_kernel.append(int(fields[2]))
        stat = _kv(acct + "/cpuacct.stat")
        usage = {
            **_omit({"total": _int(acct + "/cpuacct.usage"),
                     "percpu": [int(x) for x in (_read(acct + "/cpuacct.usage_percpu") or "").split()],
                     "percpu_kernel": percpu_kernel, "percpu_user": percpu_user}),
            "kernel": stat.get("system", 0) * _NS // _CLK_TCK,
            "user": stat.get("user", 0) * _NS // _CLK_TCK,
        }
    throttling: dict[str, int] = {}
    if cpu:
        stat = _kv(cpu + "/cpu.stat")
        throttling = _throttling(stat, stat.get("throttled_time", 0))
    return {"usage": usage, "throttling": throttling}


def _v1_cpuset(path: str | None) -> dict[str, Any]:
    if not path:
        return {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                "sched_load_balance": 0, "sched_relax_domain_level": 0}
    out: dict[str, Any] = {}
    cpus = _cpu_list(_read(path + "/cpuset.cpus"))
    if cpus:
        out["cpus"] = cpus
    out["cpu_exclusive"] = _int(path + "/cpuset.cpu_exclusive")
    mems = _cpu_list(_read(path + "/cpuset.mems"))
    if mems:
        out["mems"] = mems
    for key in ("mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level"):
        out[key] = _int(f"{path}/cpuset.{key}")
    return out


def _v1_entry(path: str, prefix: str) -> dict[str, int]:
    if _read(f"{path}/{prefix}.limit_in_bytes") is None:
        return {}
    entry = {"limit": _int(f"{path}/{prefix}.limit_in_bytes")}
    for key, name in (("usage", "usage_in_bytes"), ("max", "max_usage_in_bytes")):
        value = _int(f"{path}/{prefix}.{name}")
        if value:
            entry[key] = value
    entry["failcnt"] = _int(f"{path}/{prefix}.failcnt")
    return entry


def _v1_memory(path: str | None) -> dict[str, Any]:
    if not path:
        return {"usage": {"limit": 0, "failcnt": 0}, "swap": {"limit": 0, "failcnt": 0},
                "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}}
    raw = _kv(path + "/memory.stat")
    out: dict[str, Any] = {}
    if raw.get("cache"):
        out["cache"] = raw["cache"]
    for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"), ("kernel", "memory.kmem"),
                        ("kernelTCP", "memory.kmem.tcp")):
        out[key] = _v1_entry(path, prefix) or {"limit": 0, "failcnt": 0}
    if raw:
        out["raw"] = raw
    return out


def _blkio_entries(path: str) -> list[dict[str, Any]]:
    entries = []
    for line in (_read(path) or "").splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        entry = {"major": int(major), "minor": int(minor)}
        if len(fields) == 3:
            entry["op"] = fields[1]
        entry["value"] = int(fields[-1])
        entries.append(_omit(entry))
    return entries


def _v1_blkio(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    out = {key: _blkio_entries(f"{path}/blkio.{name}") for key, name in _BLKIO_CFQ}
    out = _omit(out)
    if out:
        return out
    # No CFQ/BFQ accounting on this host: the throttle counters, as runc falls back to.
    return _omit({"ioServiceBytesRecursive": _blkio_entries(path + "/blkio.throttle.io_service_bytes_recursive")
                  or _blkio_entries(path + "/blkio.throttle.io_service_bytes"),
                  "ioServicedRecursive": _blkio_entries(path + "/blkio.throttle.io_serviced_recursive")
                  or _blkio_entries(path + "/blkio.throttle.io_serviced")})


def _v1_hugetlb(path: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not path:
        return out
    try:
        names = os.listdir(path)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith("hugetlb.") and name.endswith(".usage_in_bytes") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".usage_in_bytes")]
            out[size] = {**_omit({"usage": _int(f"{path}/{name}"),
                                  "max": _int(f"{path}/hugetlb.{size}.max_usage_in_bytes")}),
                         "failcnt": _int(f"{path}/hugetlb.{size}.failcnt")}
    return out


# --- cgroup v2 ---------------------------------------------------------------
def _v2(path: str) -> dict[str, Any]:
    stat = _kv(path + "/cpu.stat")
    raw = _kv(path + "/memory.stat")
    # runc 1.1: no max usage (memory.peak) nor failcnt on v2; swap as v1 shows it, memory + swap
    limit = _int(path + "/memory.max", _MAX_U64)
    usage = {"limit": limit, **_omit({"usage": _int(path + "/memory.current")}), "failcnt": 0}
    swap_limit = _int(path + "/memory.swap.max", _MAX_U64)
    swap = {"limit": swap_limit if swap_limit == _MAX_U64 else min(swap_limit + limit, _MAX_U64),
            **_omit({"usage": _int(path + "/memory.swap.current") + _int(path + "/memory.current")}),
            "failcnt": 0}
    memory: dict[str, Any] = {**_omit({"cache": raw.get("file", 0)}), "usage": usage, "swap": swap,
                              "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}}
    if raw:
        memory["raw"] = raw
    blk: list[dict[str, Any]] = []
    ios: list[dict[str, Any]] = []
    for line in (_read(path + "/io.stat") or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        maj, mnr = (int(x) for x in fields[0].split(":"))
        kv = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        for op, key in (("Read", "rbytes"), ("Write", "wbytes")):
            blk.append(_omit({"major": maj, "minor": mnr, "op": op, "value": int(kv.get(key, 0))}))
        for op, key in (("Read", "rios"), ("Write", "wios")):
            ios.append(_omit({"major": maj, "minor": mnr, "op": op, "value": int(kv.get(key, 0))}))
    return {
        "cpu": {"usage": {**_omit({"total": stat.get("usage_usec", 0) * 1000}),
                          "kernel": stat.get("system_usec", 0) * 1000, "user": stat.get("user_usec", 0) * 1000},
                "throttling": _throttling(stat, stat.get("throttled_usec", 0) * 1000)},
        "cpuset": {"cpu_exclusive": 0,  # runc 1.1 has no cpuset stats on v2
                   "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0, "memory_spread_page": 0,
                   "memory_spread_slab": 0, "memory_pressure": 0, "sched_load_balance": 0,
                   "sched_relax_domain_level": 0},
        "memory": memory,
        "pids": _omit({"current": _int(path + "/pids.current"), "limit": _pids_limit(path + "/pids.max")}),
        "blkio": _omit({"ioServiceBytesRecursive": blk, "ioServicedRecursive": ios}),
        "hugetlb": _v2_hugetlb(path),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _v2_hugetlb(path: str) -> dict[str, Any]:
    """Per page size: usage (hugetlb.<size>.current) and failcnt (the "max" of its events), as runc."""
    try:
        names = os.listdir(path)
    except OSError:
        return {}
    out: dict[str, Any] = {}
    for name in sorted(names):
        if name.startswith("hugetlb.") and name.endswith(".current") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".current")]
            out[size] = {**_omit({"usage": _int(f"{path}/{name}")}),
                         "failcnt": _kv(f"{path}/hugetlb.{size}.events").get("max", 0)}
    return out
