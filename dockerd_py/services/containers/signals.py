"""Signal names and numbers as the Docker API accepts them ("SIGKILL", "KILL", "9")."""

import signal

from ...errors import InvalidParameter


def parse(value: str | int | None, default: int = signal.SIGKILL) -> int:
    if value is None or value == "":
        return default
    text = str(value).strip()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise InvalidParameter(f"Invalid signal: {text}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidParameter(f"Invalid signal: {text}") from None
