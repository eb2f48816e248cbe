"""pause / resume: freeze and thaw the container's cgroup."""

from __future__ import annotations

import argparse

from ..container import Container
from ..errors import IncorrectStatus


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")


def run_pause(args: argparse.Namespace) -> int:
    c = Container.load(args.root, args.id)
    if c.status not in ("running", "created"):
        raise IncorrectStatus("container not running")
    c.cgroup.freeze()
    return 0


def run_resume(args: argparse.Namespace) -> int:
    c = Container.load(args.root, args.id)
    if c.status != "paused":
        raise IncorrectStatus("container not paused")
    c.cgroup.thaw()
    return 0
