"""Go's fmt verbs as the legacy builder uses them in history comments (`%q`, `%v`, Duration)."""

from __future__ import annotations

_ESC = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def quote(s: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o in _ESC:
            out.append(_ESC[o])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def quote_list(items: list[str] | None) -> str:
    """`%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(quote(s) for s in items or []) + "]"


def quote_rune(n: int) -> str:
    """`%q` of an int: strconv.QuoteRune."""
    if n in _ESC:
        return f"'{_ESC[n]}'"
    if n == 0x27:
        return "'\\''"
    if n == 0x5C:
        return "'\\\\'"
    if 0x20 <= n < 0x7F or (n > 0xA0 and chr(n).isprintable()):
        return f"'{chr(n)}'"
    if n < 0x100:
        return f"'\\x{n:02x}'"
    return f"'\\u{n:04x}'"


def duration(ns: int) -> str:
    """time.Duration.String."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < size * 1000:
                text = _frac(u, size) + unit
                break
    else:
        h, rest = divmod(u, 3_600_000_000_000)
        m, rest = divmod(rest, 60_000_000_000)
        text = _frac(rest, 1_000_000_000) + "s"
        if h:
            text = f"{h}h{m}m{text}"
        elif m:
            text = f"{m}m{text}"
    return ("-" if neg else "") + text


def _frac(value: int, size: int) -> str:
    whole, part = divmod(value, size)
    if not part:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")


def healthcheck(hc: dict) -> str:
    """`%q` of a *HealthConfig (Docker 20.10's five fields)."""
    return "&{%s %s %s %s %s}" % (quote_list(hc.get("Test")), quote(duration(hc.get("Interval") or 0)),
                                  quote(duration(hc.get("Timeout") or 0)),
                                  quote(duration(hc.get("StartPeriod") or 0)), quote_rune(hc.get("Retries") or 0))
