"""Digests, chain ids, random ids and Go-style timestamps."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from datetime import datetime, timedelta, timezone


ID_HEX_RE = re.compile(r"^[a-f0-9]+$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    """`sha256:abc` -> `abc` (a bare hex passes through)."""
    return digest.split(":", 1)[1] if ":" in digest else digest


def short_id(ident: str) -> str:
    """stringid.TruncateID: 12 hex chars without the algorithm."""
    return hex_of(ident)[:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: chain(L0)=diff(L0); chain(Ln)=sha256(chain(Ln-1) + " " + diff(Ln))."""
    out: list[str] = []
    for diff in diff_ids:
        if not out:
            out.append(diff)
        else:
            out.append(sha256_digest(f"{out[-1]} {diff}".encode()))
    return out


def random_hex(n: int = 64) -> str:
    return os.urandom(n // 2).hex()


def link_id() -> str:
    """Docker overlay2's 26-character short link id (base32 of random bytes)."""
    return base64.b32encode(os.urandom(16)).decode().rstrip("=")[:26]


def rfc3339_nano(ts: float | None = None) -> str:
    """Go's time.RFC3339Nano for a UTC instant (trailing zeros trimmed)."""
    if ts is None:
        ns = time.time_ns()
    else:
        ns = int(round(ts * 1e9))
    sec, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")

ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_time(value: str | None) -> tuple[float, str] | None:
    """Parse an RFC 3339 time: (unix seconds, Go RFC3339Nano rendering), or None."""
    if not value or not isinstance(value, str):
        return None
    m = _TIME_RE.match(value)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    frac = (frac or "")[:9]
    if zone in ("Z", "z"):
        tz = timezone.utc
        zone_out = "Z"
    else:
        sign = 1 if zone[0] == "+" else -1
        off = sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
        tz = timezone(timedelta(minutes=off))
        zone_out = zone if off else "Z"  # Go renders a zero offset in a UTC daemon as Z
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
    except ValueError:
        return None
    stamp = dt.timestamp() + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)
    rendered = f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    trimmed = frac.rstrip("0")
    if trimmed:
        rendered += "." + trimmed
    return stamp, rendered + zone_out
