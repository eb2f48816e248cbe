"""Capabilities: bounding set, then (after setuid) effective/permitted/inheritable/ambient."""

from __future__ import annotations


from ..spec import CAP_INDEX
from . import syscalls as sc
from .syscalls import Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_last_cap: int | None = None


def last_cap() -> int:
    global _last_cap
    if _last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _last_cap = int(f.read())
    return _last_cap


def mask(names: list[str] | None) -> int:
    """Bits of the named caps; unknown ones and those this kernel lacks are
    left out (validation warned about them, as runc does)."""
    out = 0
    for name in names or []:
        index = CAP_INDEX.get(name)
        if index is not None and index <= last_cap():
            out |= 1 << index
    return out


def drop_bounding(sys: Syscalls, caps: dict[str, Any]) -> None:
    """Drop what is not in the bounding set (needs CAP_SETPCAP: do it before setuid)."""
    keep = mask(caps.get("bounding"))
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap):
            sys.prctl(sc.PR_CAPBSET_DROP, cap)


def apply(sys: Syscalls, caps: dict[str, Any]) -> None:
    """Set the thread's sets; permitted must cover effective and inheritable."""
    eff, perm, inh = mask(caps.get("effective")), mask(caps.get("permitted")), mask(caps.get("inheritable"))
    sys.capset(eff, perm | eff, inh)
    sys.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in caps.get("ambient") or []:
        if not mask([name]):
            continue
        try:
            sys.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, CAP_INDEX[name])
        except OSError as e:
            # Needs the cap in permitted and inheritable; runc only warns too.
            from ..logs import log
            log.debug(f"can't raise ambient capability {name}: {e.strerror}")
