"""create: set the container up and leave init blocked before the user process."""

from __future__ import annotations

import argparse
import os

from .. import spec as sp
from ..process import parent


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", "-b", default="")
    p.add_argument("--pid-file", default=None)
    p.add_argument("--console-socket", default=None)
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("id")


def run(args: argparse.Namespace) -> int:
    bundle = os.path.abspath(args.bundle or os.getcwd())
    spec = sp.load(bundle)
    parent.create(args.root, args.id, spec, pid_file=args.pid_file,
                  console_socket=args.console_socket, no_pivot=args.no_pivot,
                  preserve_fds=args.preserve_fds)
    return 0
