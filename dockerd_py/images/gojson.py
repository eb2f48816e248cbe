"""JSON bytes the way Go's encoding/json writes them (compact, HTML-safe escapes)."""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
            ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def dumps(obj: Any) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _ESCAPES:
        text = text.replace(char, escaped)
    return text.encode()
