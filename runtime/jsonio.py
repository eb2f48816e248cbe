"""JSON through the C accelerator ``_json`` directly.

``import json`` pulls in ``re`` and ``enum`` (about 4 ms), because json.decoder
compiles regular expressions at import time. The C scanner and encoder behind
it need neither, and this binary runs several times per container, so the
runtime uses them directly. Falls back to ``json`` if ``_json`` is missing.
Only malformed input imports json (the C scanner's errors need json.decoder).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - every CPython build has it
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"


def _constant(name: str) -> float:
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class _Context:
    """The attributes c_make_scanner reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, str] = {}


def _default(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


if _json is not None:
    _scan = _json.make_scanner(_Context())
    _encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",",
                                 False, False, True)
    _encode_spaced = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ": ", ", ",
                                        False, False, True)


def loads(data: str | bytes) -> Any:
    """json.loads; raises ValueError on malformed input."""
    if _json is None:
        import json
        return json.loads(data)
    if isinstance(data, (bytes, bytearray)):
        # Not .decode("utf-8-sig"): that codec is a module import (~1 ms); utf-8 is built in.
        text = (data[3:] if data[:3] == b"\xef\xbb\xbf" else data).decode()
    else:
        text = data
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    except SystemError:
        # The scanner reports most errors with json.decoder.JSONDecodeError, which
        # it looks up in sys.modules only: absent, it fails with SystemError.
        # Errors are rare: let json itself parse again and explain.
        import json
        return json.loads(text)
    if text[end:].strip(_WS):
        raise ValueError(f"Extra data: char {end}")
    return obj


def dumps(obj: Any, *, compact: bool = True) -> str:
    """json.dumps (compact: no spaces after separators)."""
    if _json is None:
        import json
        return json.dumps(obj, separators=(",", ":") if compact else None)
    return "".join((_encode if compact else _encode_spaced)(obj, 0))


def dumps_indent(obj: Any, indent: int | str, _level: int = 0) -> str:
    """json.dumps(obj, indent=N) for dicts/lists of plain values (a str indent: that string)."""
    unit = indent if isinstance(indent, str) else " " * indent
    pad, inner = unit * _level, unit * (_level + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{dumps(str(k))}: {dumps_indent(v, indent, _level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        items = [inner + dumps_indent(v, indent, _level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return dumps(obj)
