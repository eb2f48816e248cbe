"""Query-string and body parsing with Docker's rules (bools, ints, filters, JSON)."""

import json
from typing import Any

from flask import request

from ..errors import InvalidParameter

_FALSE = {"", "0", "no", "false", "none"}


def boolean(name: str, default: bool = False) -> bool:
    if name not in request.args:
        return default
    return request.args.get(name, "").strip().lower() not in _FALSE


def integer(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{raw}": invalid syntax') from None


def string(name: str, default: str = "") -> str:
    return request.args.get(name, default)


def filters(allowed: set[str] | None) -> dict[str, list[str]]:
    """Decode `filters` in both historical shapes; unknown names are a 400 (any name when `allowed` is None)."""
    raw = request.args.get("filters", "")
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise InvalidParameter("invalid filter") from None
    if not isinstance(decoded, dict):
        raise InvalidParameter("invalid filter")
    result: dict[str, list[str]] = {}
    for key, value in decoded.items():
        if isinstance(value, dict):
            result[key] = [k for k, v in value.items() if v is True]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            result[key] = list(value)
        else:
            raise InvalidParameter("invalid filter")
        if allowed is not None and key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")
    return result


def json_body(required: bool = False) -> Any:
    """The JSON request body; Docker insists on the content type when a body is present."""
    data = request.get_data(cache=True)
    if not data:
        if required:
            raise InvalidParameter("invalid JSON: request body is empty")
        return None
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidParameter(f"unsupported Content-Type header ({content_type}): must be 'application/json'")
    try:
        return json.loads(data)
    except ValueError as e:
        raise InvalidParameter(f"invalid JSON: {e}") from None


def json_object(required: bool = False) -> dict:
    body = json_body(required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    return body
