"""update: new resource limits for a running (or paused, or created) container.

As runc: `--resources FILE` (or `-` for stdin) holds OCI LinuxResources JSON and
overrides the flags; otherwise the flags (--memory, --cpu-share, --pids-limit ...).
Only what is given is written; device rules and rdma limits are never touched (as runc 1.1).
"""

from __future__ import annotations

import sys

from .. import jsonio
from ..container import Container
from ..errors import ConfigError, IncorrectStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..cli import Args

# flag dest -> (section, key, kind): "bytes" takes runc's units (RAMInBytes), "int" a number, "str" text.
FLAGS: dict[str, tuple[str, str, str]] = {
    "blkio_weight": ("blockIO", "weight", "int"),
    "cpu_period": ("cpu", "period", "int"),
    "cpu_quota": ("cpu", "quota", "int"),
    "cpu_share": ("cpu", "shares", "int"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "int"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"),
    "memory": ("memory", "limit", "bytes"),
    "memory_reservation": ("memory", "reservation", "bytes"),
    "memory_swap": ("memory", "swap", "bytes"),
    "pids_limit": ("pids", "limit", "int"),
}
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: "64m", "64MiB", "1.5g", "1024", "-1" (unlimited)."""
    t = text.strip().lower()
    if t == "-1":
        return -1
    t = t.removesuffix("b").removesuffix("i")
    unit = t[-1] if t and t[-1] in _UNITS else ""
    try:
        value = float(t[:-1] if unit else t)
    except ValueError:
        raise ConfigError(f"invalid size: '{text}'") from None
    if value < 0:
        raise ConfigError(f"invalid size: '{text}'")
    return int(value * _UNITS[unit])


def from_flags(args: Args) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for dest, (section, key, kind) in FLAGS.items():
        raw = getattr(args, dest)
        if raw in (None, False, ""):
            continue
        if kind == "bytes":
            value: Any = ram_in_bytes(raw)
        elif kind == "int":
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"invalid value {raw!r} for flag --{dest.replace('_', '-')}") from None
        else:
            value = raw
        res.setdefault(section, {})[key] = value
    return res


def from_file(path: str) -> dict[str, Any]:
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        res = jsonio.loads(data)
    except OSError as e:
        raise ConfigError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    except ValueError as e:
        raise ConfigError(f"invalid resources JSON: {e}") from None
    if not isinstance(res, dict):
        raise ConfigError("invalid resources JSON: not an object")
    return res


def _drop_zero(res: dict[str, Any]) -> dict[str, Any]:
    """Zero means "unchanged" in runc's JSON (and an absent flag)."""
    out: dict[str, Any] = {}
    for section, values in res.items():
        if isinstance(values, dict):
            kept = {k: v for k, v in values.items() if v not in (0, None, "")}
            if kept:
                out[section] = kept
    return out


def run(args: Args) -> int:
    if not args.resources and args.l3_cache_schema:
        raise ConfigError("Intel RDT/CAT: l3 cache schema is not enabled")
    if not args.resources and args.mem_bw_schema:
        raise ConfigError("Intel RDT/MBA: memory bandwidth schema is not enabled")
    res = _drop_zero(from_file(args.resources) if args.resources else from_flags(args))
    res.pop("rdma", None)  # runc 1.1 takes no rdma limits in update: those of create stay
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise IncorrectStatus("container not running")
    pids = res.get("pids")
    if pids and pids.get("limit", 0) < 0:
        pids["limit"] = -1
    c.cgroup.update(res)
    return 0
