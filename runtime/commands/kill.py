"""kill: send a signal to init, or with --all to every process of the cgroup."""

from __future__ import annotations

import argparse
import os
import signal

from ..container import Container
from ..errors import IncorrectStatus, RuntimeErr


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", "-a", action="store_true")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")


def parse_signal(text: str) -> int:
    if text.isdigit():
        return int(text)
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
    if sig is None:
        raise RuntimeErr(f"unknown signal {text!r}")
    return int(sig)


def run(args: argparse.Namespace) -> int:
    sig = parse_signal(args.signal)
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise IncorrectStatus("container not running")
    if args.all:
        c.signal_all(sig)
    else:
        try:
            os.kill(c.pid, sig)
        except ProcessLookupError:
            raise IncorrectStatus("container not running") from None
    return 0
