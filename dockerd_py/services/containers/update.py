"""POST /containers/{id}/update: merge new resources into a container's HostConfig, and
apply them to a live container through the runtime's `update` verb (runc's JSON LinuxResources).

The merge rules and texts are moby's (container.UpdateContainer, daemon/update.go).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from ...errors import Conflict, InvalidParameter, SystemErr, json_kind
from ...oci import host_config_warnings, unsupported_options, validate_host_config
from ...oci.defaults import NANO_CPU_PERIOD
from . import gotypes

# UpdateConfig: the Resources fields plus RestartPolicy, with their Go types.
_INT_FIELDS = ("BlkioWeight", "CpuShares", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime",
               "Memory", "MemoryReservation", "MemorySwap", "KernelMemory", "NanoCpus", "PidsLimit")
_STR_FIELDS = ("CpusetCpus", "CpusetMems")
_GO_TYPE = {"BlkioWeight": "uint16", "PidsLimit": "int64", "CpuShares": "int64"}
# Fields copied when set to a non-zero value (PidsLimit: whenever present).
# (KernelMemory is type-checked but dropped: API 1.42+ ignores it, as at create.)
_COPIED = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
           "MemorySwap", "MemoryReservation", "CpuRealtimePeriod", "CpuRealtimeRuntime")


def parse(body: dict) -> dict:
    """Type-check the body as Go's decoder would; returns the fields that are set."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            continue
        if key in _INT_FIELDS or key in _STR_FIELDS or key == "RestartPolicy":
            want = str if key in _STR_FIELDS else dict if key == "RestartPolicy" else int
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                go = "string" if want is str else "container.RestartPolicy" if want is dict \
                    else _GO_TYPE.get(key, "int64")
                raise InvalidParameter(f"invalid JSON: json: cannot unmarshal {json_kind(value)} "
                                       f"into Go struct field UpdateConfig.{key} of type {go}")
            if key == "RestartPolicy":
                try:
                    gotypes.check(value, "container.RestartPolicy", "UpdateConfig", key)
                except InvalidParameter as e:  # ReadJSON's wrapping
                    raise InvalidParameter(f"invalid JSON: {e.message}") from None
            out[key] = value
    return out


def _conflict(container_id: str, msg: str) -> Conflict:
    return Conflict(f"Cannot update container {container_id}: {msg}")


def merge(container_id: str, current: dict, update: dict) -> dict:
    """The new HostConfig (a copy): moby's UpdateContainer, with its conflicts."""
    hc = dict(current)
    g = lambda d, k: d.get(k) or 0  # noqa: E731
    if g(update, "NanoCpus") > 0 and g(hc, "CpuPeriod") > 0:
        raise _conflict(container_id, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if g(update, "NanoCpus") > 0 and g(hc, "CpuQuota") > 0:
        raise _conflict(container_id, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if g(update, "CpuPeriod") > 0 and g(hc, "NanoCpus") > 0:
        raise _conflict(container_id, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if g(update, "CpuQuota") > 0 and g(hc, "NanoCpus") > 0:
        raise _conflict(container_id, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    for key in _COPIED:
        if update.get(key):
            hc[key] = update[key]
    if update.get("Memory"):
        if update["Memory"] > g(current, "MemorySwap") and not update.get("MemorySwap"):
            raise _conflict(container_id, "Memory limit should be smaller than already set memoryswap limit, "
                                          "update the memoryswap at the same time")
        hc["Memory"] = update["Memory"]
    if "PidsLimit" in update:
        hc["PidsLimit"] = update["PidsLimit"]
    policy = update.get("RestartPolicy") or {}
    if policy.get("Name"):
        if policy["Name"] != "no" and current.get("AutoRemove"):
            raise _conflict(container_id, "Restart policy cannot be updated because AutoRemove is enabled for the container")
        hc["RestartPolicy"] = {"Name": policy["Name"], "MaximumRetryCount": policy.get("MaximumRetryCount") or 0}
    return hc


def validate(update: dict) -> list[str]:
    """Docker's 400s for the values themselves (as at create); the warnings to return."""
    checked = dict(update)
    if not update.get("Memory"):  # verifyPlatformContainerResources(update=true): a swap limit alone is fine
        checked.pop("MemorySwap", None)
    validate_host_config(checked)
    unsupported = unsupported_options(update)
    if unsupported:   # as at create: e.g. the realtime CPU fields
        raise InvalidParameter(f"not supported by this daemon yet: {', '.join(unsupported)}")
    return host_config_warnings(update)


def runtime_resources(update: dict) -> dict:
    """The request's resources as runc's LinuxResources (moby's toContainerdResources); 0 = unchanged."""
    cpu: dict[str, Any] = {}
    if update.get("CpuShares"):
        cpu["shares"] = update["CpuShares"]
    if update.get("NanoCpus"):
        cpu["period"] = NANO_CPU_PERIOD
        cpu["quota"] = update["NanoCpus"] * NANO_CPU_PERIOD // 1_000_000_000
    if update.get("CpuQuota") and "quota" not in cpu:
        cpu["quota"] = update["CpuQuota"]
    if update.get("CpuPeriod") and "period" not in cpu:
        cpu["period"] = update["CpuPeriod"]
    for key, name in (("CpusetCpus", "cpus"), ("CpusetMems", "mems"), ("CpuRealtimePeriod", "realtimePeriod"),
                      ("CpuRealtimeRuntime", "realtimeRuntime")):
        if update.get(key):
            cpu[name] = update[key]
    memory: dict[str, Any] = {}
    if update.get("Memory"):
        memory["limit"] = update["Memory"]
    if update.get("MemoryReservation"):
        memory["reservation"] = update["MemoryReservation"]
    if (update.get("MemorySwap") or 0) > 0:
        memory["swap"] = update["MemorySwap"]
    out: dict[str, Any] = {"memory": memory, "cpu": cpu}
    if update.get("BlkioWeight"):
        out["blockIO"] = {"weight": update["BlkioWeight"]}
    if "PidsLimit" in update:
        out["pids"] = {"limit": update["PidsLimit"] if update["PidsLimit"] > 0 else -1}
    return out


def apply_live(runtime: str, runtime_root: str, container_id: str, resources: dict) -> None:
    """`RUNTIME --root ROOT update --resources - ID`; the runtime's message on failure."""
    proc = subprocess.run([runtime, "--root", runtime_root, "update", "--resources", "-", container_id],
                          input=json.dumps(resources).encode(), capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise SystemErr(f"Cannot update container {container_id}: "
                        f"{_runtime_message(proc.stderr.decode(errors='replace'))}")


def _runtime_message(stderr: str) -> str:
    """runc logs `time="..." level=error msg="..."`; ours and crun print the text."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "runtime update failed"
    if 'msg="' in text:
        text = text.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return text
