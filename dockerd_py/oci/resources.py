"""HostConfig resources -> OCI linux.resources and process.rlimits (daemon/oci_linux.go WithResources)."""

from __future__ import annotations

import re

from ..errors import InvalidParameter
from .defaults import NANO_CPU_PERIOD
from .host import HostInfo

RLIM_INFINITY = 2**64 - 1

# go-units ulimit names -> RLIMIT_* (what `docker run --ulimit` accepts).
ULIMIT_NAMES = frozenset({
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
    "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
})


def memory(hc: dict, host: HostInfo) -> dict:
    """linux.resources.memory. Memory-swap defaults to twice the limit (adaptContainerSettings).

    cgroup v2 has neither swappiness nor an OOM-killer switch: Docker discards both there.
    """
    out: dict = {}
    limit = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    if limit > 0:
        out["limit"] = limit
        if not host.swap_limit:
            swap = -1          # "Memory limited without swap" (warning at create)
        elif swap == 0:
            swap = 2 * limit
    if (hc.get("MemoryReservation") or 0) > 0:
        out["reservation"] = hc["MemoryReservation"]
    if swap > 0:               # -1 (unlimited) is the runtime's default: left out
        out["swap"] = swap
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not host.cgroup_v2:
        out["swappiness"] = swappiness
    out["disableOOMKiller"] = bool(hc.get("OomKillDisable")) and not host.cgroup_v2
    if hc.get("KernelMemoryTCP"):
        out["kernelTCP"] = hc["KernelMemoryTCP"]
    return out


def cpu(hc: dict) -> dict:
    """linux.resources.cpu. NanoCpus becomes a CFS quota over a 100ms period."""
    out: dict = {}
    if (hc.get("CpuShares") or 0) > 0:
        out["shares"] = hc["CpuShares"]
    if hc.get("CpusetCpus"):
        out["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        out["mems"] = hc["CpusetMems"]
    nano = hc.get("NanoCpus") or 0
    if nano > 0:
        out["period"] = NANO_CPU_PERIOD
        out["quota"] = nano * NANO_CPU_PERIOD // 1_000_000_000
    if hc.get("CpuPeriod"):
        out["period"] = hc["CpuPeriod"]
    if hc.get("CpuQuota"):
        out["quota"] = hc["CpuQuota"]
    if hc.get("CpuRealtimePeriod"):
        out["realtimePeriod"] = hc["CpuRealtimePeriod"]
    if hc.get("CpuRealtimeRuntime"):
        out["realtimeRuntime"] = hc["CpuRealtimeRuntime"]
    return out


def pids(hc: dict) -> dict | None:
    """0 and negative PidsLimit mean unlimited, which runc spells -1."""
    limit = hc.get("PidsLimit")
    if limit is None:
        return None
    return {"limit": limit if limit > 0 else -1}


def build(hc: dict, device_rules: list[dict], host: HostInfo) -> dict:
    out: dict = {"devices": device_rules, "memory": memory(hc, host), "cpu": cpu(hc),
                 "blockIO": {"weight": (hc.get("BlkioWeight") or 0) if host.blkio_weight else 0}}
    p = pids(hc)
    if p is not None:
        out["pids"] = p
    return out


def rlimits(hc: dict) -> list[dict]:
    """HostConfig.Ulimits; Docker adds no rlimit of its own (the daemon's default-ulimits is empty)."""
    def value(v: int) -> int:
        return v if v >= 0 else RLIM_INFINITY   # Go's uint64(-1): unlimited
    return [{"type": "RLIMIT_" + u["Name"].upper(), "hard": value(u["Hard"]), "soft": value(u["Soft"])}
            for u in hc.get("Ulimits") or []]


def validate_ulimits(ulimits: list[dict] | None) -> None:
    for u in ulimits or []:
        name = str(u.get("Name", ""))
        if name.lower() not in ULIMIT_NAMES:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        soft, hard = u.get("Soft"), u.get("Hard")
        if not isinstance(soft, int) or not isinstance(hard, int):
            raise InvalidParameter(f"invalid ulimit argument: {name}")
        if soft < -1 or hard < -1:
            raise InvalidParameter(f"invalid ulimit argument: {name}")
        if (soft if soft >= 0 else RLIM_INFINITY) > (hard if hard >= 0 else RLIM_INFINITY):
            raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")


_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def device_cgroup_rule(text: str) -> dict:
    """`--device-cgroup-rule 'c 1:3 mr'` -> an OCI device cgroup allow rule."""
    m = _RULE.match(text)
    if not m:
        raise InvalidParameter(f"invalid device cgroup format '{text}'")
    rule: dict = {"allow": True, "type": m.group(1)}
    if m.group(2) != "*":
        rule["major"] = int(m.group(2))
    if m.group(3) != "*":
        rule["minor"] = int(m.group(3))
    rule["access"] = m.group(4)
    return rule


def validate_device_mappings(mappings: list[dict] | None) -> None:
    for m in mappings or []:
        mode = m.get("CgroupPermissions") or "rwm"
        if not m.get("PathOnHost") or len(mode) > 3 or set(mode) - set("rwm"):
            raise InvalidParameter(f"invalid device mode: {mode}" if m.get("PathOnHost")
                                   else "invalid device mapping: PathOnHost is empty")


def user_devices(mappings: list[dict] | None, host: HostInfo) -> tuple[list[dict], list[dict]]:
    """HostConfig.Devices -> (linux.devices nodes, device cgroup allow rules), as Docker's DevicesFromPath."""
    nodes: list[dict] = []
    rules: list[dict] = []
    for m in mappings or []:
        on_host = m["PathOnHost"]
        in_ctr = m.get("PathInContainer") or on_host
        perms = m.get("CgroupPermissions") or "rwm"
        try:
            found = host.lookup_device(on_host)
        except (OSError, ValueError) as e:
            reason = e.strerror.lower() if isinstance(e, OSError) and e.strerror else str(e)
            raise InvalidParameter(
                f'error gathering device information while adding custom device "{on_host}": {reason}') from None
        for dev in found:
            nodes.append({**dev, "path": in_ctr + dev["path"]})
            rules.append({"allow": True, "type": dev["type"], "major": dev["major"], "minor": dev["minor"],
                          "access": perms})
    return nodes, rules
