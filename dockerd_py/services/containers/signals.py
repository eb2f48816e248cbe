"""Signal names and numbers as the Docker API accepts them ("SIGKILL", "KILL", "9", "RTMIN+3"):
moby/sys/signal's ParseSignal and, for a number, ValidSignalForPlatform."""

import signal

from ...errors import InvalidParameter


def _signal_map() -> dict[str, int]:
    """moby's SignalMap for Linux: the named signals and the real-time ones by RTMIN+n / RTMAX-n."""
    names = {name[3:]: int(s) for name, s in signal.Signals.__members__.items()}  # aliases too (IOT, CLD, POLL)
    low, high = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    names.update({"RTMIN": low, "RTMAX": high})
    names.update({f"RTMIN+{i}": low + i for i in range(1, 16)})
    names.update({f"RTMAX-{i}": high - i for i in range(1, 15)})
    return names


SIGNALS = _signal_map()
_VALID = set(SIGNALS.values())


def parse(value: str | int | None, default: int = signal.SIGKILL) -> int:
    if value is None or value == "":
        return default
    text = str(value).strip()
    if text.lstrip("+-").isdigit():
        number = int(text)
        if number == 0:
            raise InvalidParameter(f"Invalid signal: {text}")
        if number not in _VALID:
            raise InvalidParameter(f"the linux daemon does not support signal {number}")
        return number
    name = text.upper()
    sig = SIGNALS.get(name[3:] if name.startswith("SIG") else name)
    if sig is None:
        raise InvalidParameter(f"Invalid signal: {text}")
    return sig
