"""Capability names and Docker's CapAdd/CapDrop/Privileged rules (DEFAULTS.md §1)."""

from __future__ import annotations

from ..errors import InvalidParameter
from .defaults import ALL_CAPABILITIES, DEFAULT_CAPABILITIES
from .host import HostInfo

ALL = "ALL"


def host_capabilities(host: HostInfo) -> list[str]:
    """What --privileged grants: the capabilities the kernel knows and we hold ourselves
    (in Docker-in-Docker or a restricted sandbox the daemon's bounding set is smaller)."""
    return [c for i, c in enumerate(ALL_CAPABILITIES[: host.cap_last_cap + 1]) if host.cap_bounding >> i & 1]


def normalize(names: list[str] | None, host: HostInfo) -> list[str]:
    """Upper-case, add the CAP_ prefix, refuse unknown names (Docker's 400 texts)."""
    out: list[str] = []
    supported = set(host_capabilities(host))
    for raw in names or []:
        name = str(raw).upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL:
            if name not in ALL_CAPABILITIES:
                raise InvalidParameter(f'unknown capability: "{name}"')
            if name not in supported:
                raise InvalidParameter(
                    f'capability not supported by your kernel or not available in the current environment: "{name}"')
        out.append(name)
    return out


def _dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def effective_capabilities(host_config: dict, host: HostInfo) -> list[str]:
    """The final capability list (bounding = permitted = effective)."""
    if host_config.get("Privileged"):
        return host_capabilities(host)
    add = normalize(host_config.get("CapAdd"), host)
    drop = normalize(host_config.get("CapDrop"), host)
    if ALL in add:
        return [c for c in host_capabilities(host) if c not in drop]
    if ALL in drop:
        return _dedupe(add)
    return _dedupe([c for c in DEFAULT_CAPABILITIES if c not in drop] + add)


def capability_mask(names: list[str]) -> int:
    """The bit mask /proc/<pid>/status shows for a set of capabilities."""
    return sum(1 << ALL_CAPABILITIES.index(n) for n in set(names))
