"""Time formats of the Docker API: RFC3339Nano strings and the `since`/`until` forms."""

import calendar
import json
import re
import time

from .errors import InvalidParameter

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def now_rfc3339() -> str:
    return format_nano(time.time_ns())


def format_nano(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def rfc3339_to_nano(value: str) -> int:
    match = _RFC3339.match(value.strip())
    if not match:
        raise ValueError(f"not an RFC3339 time: {value!r}")
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    zone = match.group(3) or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 10**9 + int(((match.group(2) or "") + "000000000")[:9])


def parse_timestamp(value: str) -> int:
    """Docker's `since`/`until` forms → ns since the epoch.

    Unix seconds with optional fraction, RFC3339 (date only allowed), or a Go
    duration such as `10m`, counted back from now.
    """
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds, _, frac = value.partition(".")
        return int(seconds) * 10**9 + int((frac + "000000000")[:9])
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return time.time_ns() - sum(int(float(n) * _UNIT_NS[u]) for n, u in parts)
    try:
        return rfc3339_to_nano(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        if "-" not in value:  # Docker's GetTimestamp text (an RFC3339-like value gets Go's parse error)
            raise InvalidParameter(f"failed to parse value as time or duration: {json.dumps(value)}") from None
        raise InvalidParameter(f"failed to parse value {value!r} as a time") from None


def format_go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 1ms, 1.5s, 1m30s, 2h0m0s."""
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)

    def fixed(value: int, unit: int) -> str:
        whole, frac = divmod(value, unit)
        digits = f"{frac:0{len(str(unit)) - 1}d}".rstrip("0") if unit > 1 else ""
        return f"{whole}.{digits}" if digits else str(whole)

    if ns < 10**9:
        for name, unit in (("ns", 1), ("µs", 10**3), ("ms", 10**6)):
            if ns < unit * 1000:
                return sign + fixed(ns, unit) + name
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    prefix = f"{hours}h{minutes}m" if hours else (f"{minutes}m" if minutes else "")
    return sign + prefix + fixed(rest, 10**9) + "s"
