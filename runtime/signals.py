"""Signal numbers by name (Linux, x86/arm generic numbering).

The stdlib ``signal`` module builds enums on import (enum costs ~3 ms); the
runtime only needs numbers, and ``_signal`` for dispositions.
"""

from __future__ import annotations

import _signal  # noqa: PLC2701 - the C half of `signal`, without the enum layer

NUMBERS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31,
}
SIGKILL, SIGTERM, SIGCHLD, SIGSTOP = 9, 15, 17, 19
RTMIN, RTMAX = 34, 64

signal = _signal.signal
getsignal = _signal.getsignal
SIG_DFL = _signal.SIG_DFL
NSIG = _signal.NSIG


def parse(text: str) -> int:
    """"KILL", "SIGKILL", "9", "RTMIN+3" -> number; ValueError if unknown."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in NUMBERS:
        return NUMBERS[name]
    for base, num in (("RTMIN", RTMIN), ("RTMAX", RTMAX)):
        if name == base:
            return num
        if name.startswith(base + "+") and base == "RTMIN" and name[6:].isdigit():
            return RTMIN + int(name[6:])
        if name.startswith(base + "-") and base == "RTMAX" and name[6:].isdigit():
            return RTMAX - int(name[6:])
    raise ValueError(text)


def unblock_all() -> None:
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
