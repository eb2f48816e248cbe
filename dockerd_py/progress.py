"""Docker's JSON progress messages (jsonmessage.JSONMessage), as the daemon writes them.

Keys appear in Go's struct order: status, progressDetail, progress, id, aux;
zero numbers are left out (omitempty). The `progress` text is what Docker's
JSONProgress.String() renders for a 200-column terminal. Shared by pull,
push, load and the API's stream writer.
"""

from __future__ import annotations

import time
from typing import Any, Callable

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
    """A progress bar: per layer (`Downloading`, `Extracting`, `Pushing`, `Loading layer`), or
    without an id (`Importing`)."""
    detail: dict[str, int] = {}
    if current:
        detail["current"] = current
    if total:
        detail["total"] = total
    msg: dict[str, Any] = {"status": action, "progressDetail": detail}
    text = bar(current, total)
    if text:
        msg["progress"] = text
    if ident:
        msg["id"] = ident
    return msg


class Meter:
    """moby's progress.Reader rule, fed byte counts: a bar each time 1% of `total` (at most
    512 KiB) more was read, at most every 0.1 s, and always the one that reaches `total`."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], ident: str, action: str, total: int) -> None:
        self.emit = emit
        self.ident = ident
        self.action = action
        self.total = total
        self.every = min(512 * 1024, total // 100) if total > 0 else 512 * 1024
        self.last = 0
        self.sent = 0.0

    def __call__(self, current: int) -> None:
        if current - self.last <= self.every and current != self.total:
            return
        self.last = current
        now = time.monotonic()
        if current == self.total or now - self.sent >= 0.1:
            self.sent = now
            self.emit(progress(self.ident, self.action, current, self.total))

    def finish(self) -> None:
        """moby's Close: a full bar unless the last one was (a size known and not reached)."""
        if 0 < self.total and self.last < self.total:
            self.last = self.total
            self.emit(progress(self.ident, self.action, self.total, self.total))


def aux(obj: dict[str, Any]) -> dict[str, Any]:
    return {"progressDetail": {}, "aux": obj}


def error(message: str) -> dict[str, Any]:
    """streamformatter.FormatError: the CLI fails on `errorDetail`; `error` is its legacy twin."""
    return {"errorDetail": {"message": message}, "error": message}
