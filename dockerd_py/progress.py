"""Docker's JSON progress messages (jsonmessage.JSONMessage), as the daemon writes them.

Keys appear in Go's struct order: status, progressDetail, progress, id, aux;
zero numbers are left out (omitempty). The `progress` text is what Docker's
JSONProgress.String() renders for a 200-column terminal. Shared by pull,
push, load and the API's stream writer.
"""

from __future__ import annotations

from typing import Any

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits (`2.152MB`)."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def bar(current: int, total: int) -> str:
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    pct = min(int(current / total * 100) // 2, 50)
    box = "[" + "=" * pct + ">" + " " * max(50 - pct, 0) + "] "
    numbers = f"{human_size(current):>8}"
    if current <= total:
        numbers += "/" + human_size(total)
    return box + numbers


def status(text: str, ident: str = "") -> dict[str, Any]:
    """progress.Message: `{"status": ..., "id": ...}`."""
    msg: dict[str, Any] = {"status": text}
    if ident:
        msg["id"] = ident
    return msg


def update(ident: str, action: str) -> dict[str, Any]:
    """progress.Update: a per-layer state with an empty progressDetail."""
    return {"status": action, "progressDetail": {}, "id": ident}


def progress(ident: str, action: str, current: int, total: int) -> dict[str, Any]:
    """A per-layer progress bar (`Downloading`, `Extracting`, `Pushing`)."""
    detail: dict[str, int] = {}
    if current:
        detail["current"] = current
    if total:
        detail["total"] = total
    msg: dict[str, Any] = {"status": action, "progressDetail": detail}
    text = bar(current, total)
    if text:
        msg["progress"] = text
    msg["id"] = ident
    return msg


def aux(obj: dict[str, Any]) -> dict[str, Any]:
    return {"progressDetail": {}, "aux": obj}


def error(message: str) -> dict[str, Any]:
    """streamformatter.FormatError: the CLI fails on `errorDetail`; `error` is its legacy twin."""
    return {"errorDetail": {"message": message}, "error": message}
