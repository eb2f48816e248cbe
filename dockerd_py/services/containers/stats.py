"""Container stats: Docker's StatsResponse JSON read from the container's cgroups and netns.

The cgroup of a container is found from its init's /proc/<pid>/cgroup, so any
runtime and any cgroup parent work: on a v1 (or hybrid) host each controller
is read from its own hierarchy; on a v2 host everything comes from the one
unified directory. Networks come from /proc/<pid>/net/dev, which is the view
of the container's network namespace. Figures follow moby's conversion
(daemon/stats_*_linux.go): nanoseconds for CPU, bytes for memory and I/O.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NS = 1_000_000_000

# The memory.stat keys Docker reports on cgroup v1 (moby's raw map).
_V1_MEMORY_KEYS = (
    "active_anon", "active_file", "cache", "dirty", "hierarchical_memory_limit", "hierarchical_memsw_limit",
    "inactive_anon", "inactive_file", "mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss",
    "rss_huge", "unevictable", "writeback",
)
# The memory.stat keys Docker reports on cgroup v2 (moby's fixed map; 0 where this kernel lacks one).
_V2_MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback",
    "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
    "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault", "workingset_refault",
    "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan", "pgsteal", "pgactivate",
    "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
)
_BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
               "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
               "io_time_recursive", "sectors_recursive")
# v1 file for each blkio list: the CFQ/BFQ file when the kernel has one, else the throttle one.
_BLKIO_FILES = {
    "io_service_bytes_recursive": ("blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive",
                                   "blkio.throttle.io_service_bytes_recursive"),
    "io_serviced_recursive": ("blkio.io_serviced_recursive", "blkio.bfq.io_serviced_recursive",
                              "blkio.throttle.io_serviced_recursive"),
    "io_queue_recursive": ("blkio.io_queued_recursive",),
    "io_service_time_recursive": ("blkio.io_service_time_recursive",),
    "io_wait_time_recursive": ("blkio.io_wait_time_recursive",),
    "io_merged_recursive": ("blkio.io_merged_recursive",),
    "io_time_recursive": ("blkio.time_recursive",),
    "sectors_recursive": ("blkio.sectors_recursive",),
}


def _mounts() -> tuple[dict[str, str], str | None]:
    """v1 controller -> mount point, and the cgroup2 mount (None if absent)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if not fields:
                continue
            mnt = left.split()[4]
            if fields[0] == "cgroup2":
                v2 = v2 or mnt
            elif fields[0] == "cgroup" and len(fields) >= 3:
                for opt in fields[2].split(","):
                    v1.setdefault(opt, mnt)
    return v1, v2


_MOUNTS: tuple[dict[str, str], str | None] | None = None


def _cgroup_mounts() -> tuple[dict[str, str], str | None]:
    global _MOUNTS
    if _MOUNTS is None:
        _MOUNTS = _mounts()
    return _MOUNTS


def cgroup_dirs(pid: int) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> cgroup directory, v2 directory when the container's v2 cgroup has controllers)."""
    v1_mounts, v2_mount = _cgroup_mounts()
    v1: dict[str, str] = {}
    v2: str | None = None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and controllers == "":
                if v2_mount:
                    d = v2_mount + path.rstrip("/")
                    if _read(f"{d}/cgroup.controllers"):
                        v2 = d
                continue
            for name in controllers.split(","):
                if name in v1_mounts:
                    v1[name] = v1_mounts[name] + path.rstrip("/")
    return v1, v2


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _int(path: str) -> int:
    text = _read(path).strip()
    return int(text) if text.lstrip("-").isdigit() else 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def now_rfc3339nano() -> str:
    t = time.time_ns()
    base = datetime.fromtimestamp(t // _NS, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{t % _NS:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds: the sum of /proc/stat's first cpu line (moby's getSystemCPUUsage)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                return sum(int(v) for v in line.split()[1:8]) * _NS // _CLK_TCK
    return 0


def machine_memory() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _blkio_entries(path: str) -> list[dict]:
    out = []
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue  # the "Total N" line
        major, _, minor = parts[0].partition(":")
        out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def _v1_stats(d: dict[str, str]) -> dict:
    cpuacct, cpu, mem = d.get("cpuacct", ""), d.get("cpu", ""), d.get("memory", "")
    acct = _kv(f"{cpuacct}/cpuacct.stat")
    throttle = _kv(f"{cpu}/cpu.stat")
    percpu = [int(v) for v in _read(f"{cpuacct}/cpuacct.usage_percpu").split()]
    cpu_usage: dict = {"total_usage": _int(f"{cpuacct}/cpuacct.usage")}
    if percpu:
        cpu_usage["percpu_usage"] = percpu
    cpu_usage["usage_in_kernelmode"] = acct.get("system", 0) * _NS // _CLK_TCK
    cpu_usage["usage_in_usermode"] = acct.get("user", 0) * _NS // _CLK_TCK
    stat = _kv(f"{mem}/memory.stat")
    raw = {k: stat.get(k, 0) for k in _V1_MEMORY_KEYS}
    raw.update({"total_" + k: stat.get("total_" + k, 0) for k in _V1_MEMORY_KEYS if not k.startswith("hier")})
    memory = {"usage": _int(f"{mem}/memory.usage_in_bytes"), "max_usage": _int(f"{mem}/memory.max_usage_in_bytes"),
              "stats": dict(sorted(raw.items())), "failcnt": _int(f"{mem}/memory.failcnt"),
              "limit": _int(f"{mem}/memory.limit_in_bytes")}
    blkio = {}
    for key in _BLKIO_KEYS:
        entries: list[dict] = []
        for name in _BLKIO_FILES[key]:
            entries = _blkio_entries(f"{d.get('blkio', '')}/{name}")
            if entries:
                break
        blkio[key] = entries
    pids = {"current": _int(f"{d.get('pids', '')}/pids.current"), "limit": _int(f"{d.get('pids', '')}/pids.max")}
    return {"cpu_usage": cpu_usage, "throttling": {"periods": throttle.get("nr_periods", 0),
                                                   "throttled_periods": throttle.get("nr_throttled", 0),
                                                   "throttled_time": throttle.get("throttled_time", 0)},
            "memory": memory, "blkio": blkio, "pids": pids}


def _v2_stats(d: str) -> dict:
    cpu = _kv(f"{d}/cpu.stat")
    stat = _kv(f"{d}/memory.stat")
    limit_text = _read(f"{d}/memory.max").strip()
    memory = {"usage": _int(f"{d}/memory.current"), "stats": {k: stat.get(k, 0) for k in sorted(_V2_MEMORY_KEYS)},
              "failcnt": _kv(f"{d}/memory.events").get("oom", 0),
              "limit": int(limit_text) if limit_text.isdigit() else 0}
    service_bytes = []
    for line in _read(f"{d}/io.stat").splitlines():
        dev, *fields = line.split()
        major, _, minor = dev.partition(":")
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            service_bytes.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values.get(key, 0))})
    blkio: dict = {k: None for k in _BLKIO_KEYS}
    blkio["io_service_bytes_recursive"] = service_bytes or None  # moby: a nil list when io.stat is empty
    pids_max = _read(f"{d}/pids.max").strip()
    return {"cpu_usage": {"total_usage": cpu.get("usage_usec", 0) * 1000,
                          "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                          "usage_in_usermode": cpu.get("user_usec", 0) * 1000},
            "throttling": {"periods": cpu.get("nr_periods", 0), "throttled_periods": cpu.get("nr_throttled", 0),
                           "throttled_time": cpu.get("throttled_usec", 0) * 1000},
            "memory": memory, "blkio": blkio,
            "pids": {"current": _int(f"{d}/pids.current"), "limit": int(pids_max) if pids_max.isdigit() else 0}}


_NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
_NET_TX = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def networks(pid: int) -> dict[str, dict]:
    """Per interface counters of the container's netns, loopback left out (as libnetwork does)."""
    out = {}
    for line in _read(f"/proc/{pid}/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if name == "lo" or len(values) < 12:
            continue
        rx = dict(zip(_NET_FIELDS, (int(values[i]) for i in (0, 1, 2, 3))))
        tx = dict(zip(_NET_TX, (int(values[i]) for i in (8, 9, 10, 11))))
        out[name] = {**rx, **tx}
    return out


def _zero_cpu() -> dict:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def empty(name: str, container_id: str) -> dict:
    """What Docker answers for a container that is not running: zeros, with name and id."""
    return {"read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {},
            "blkio_stats": {k: None for k in _BLKIO_KEYS}, "num_procs": 0, "storage_stats": {},
            "cpu_stats": _zero_cpu(), "precpu_stats": _zero_cpu(), "memory_stats": {},
            "name": name, "id": container_id}


def _omit_zero(d: dict) -> dict:
    """Go's `omitempty` on integer fields."""
    return {k: v for k, v in d.items() if v not in (0, None, {})}


def sample(pid: int, name: str, container_id: str, own_netns: bool) -> dict:
    """One stats sample of a running container (precpu_stats/preread left to the caller)."""
    read = now_rfc3339nano()
    v1, v2 = cgroup_dirs(pid)
    s = _v2_stats(v2) if v2 and "memory" not in v1 else _v1_stats(v1)
    memory = s["memory"]
    host_memory = machine_memory()
    if not memory.get("limit") or memory["limit"] > host_memory > 0:
        memory["limit"] = host_memory
    cpu_stats: dict = {"cpu_usage": s["cpu_usage"], "system_cpu_usage": system_cpu_usage(),
                       "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN"), "throttling_data": s["throttling"]}
    out = {"read": read, "preread": ZERO_TIME, "pids_stats": _omit_zero(s["pids"]), "blkio_stats": s["blkio"],
           "num_procs": 0, "storage_stats": {}, "cpu_stats": cpu_stats, "precpu_stats": _zero_cpu(),
           "memory_stats": {k: v for k, v in memory.items() if v or k == "stats"}, "name": name, "id": container_id}
    if own_netns:
        nets = networks(pid)
        if nets:
            out["networks"] = nets
    return out


def _own_netns(c) -> bool:
    mode = c.host_config.get("NetworkMode") or "bridge"
    return mode not in ("host", "none") and not mode.startswith("container:")


def _current(c) -> dict:
    """A sample of `c` now, or Docker's zeroed answer when it is not running (or just stopped)."""
    pid = c.state.pid if c.state.running and c.state.status != "restarting" else 0
    if pid:
        try:
            return sample(pid, c.name, c.id, _own_netns(c))
        except (OSError, ValueError):
            pass  # it exited while we read
    return empty(c.name, c.id)


def stream(c, *, follow: bool, one_shot: bool, interval: float = 1.0):
    """Samples as moby's stats endpoint sends them, each with the previous one's CPU as precpu.

    follow: one sample per interval until the caller stops iterating (or the container is
    removed). Otherwise one sample: the second of two taken an interval apart, so that the
    CPU figures have a base, unless one_shot asks for the first one at once.
    """
    if not follow and not (c.state.running and c.state.status != "restarting"):
        yield empty(c.name, c.id)
        return
    pre_cpu, pre_read = _zero_cpu(), ZERO_TIME
    skip_first = not follow and not one_shot
    while True:
        s = _current(c)
        s["precpu_stats"], s["preread"] = pre_cpu, pre_read
        pre_cpu, pre_read = s["cpu_stats"], s["read"]
        if skip_first:
            skip_first = False
        else:
            yield s
            if not follow:
                return
        if c.removed:
            return
        time.sleep(interval)
