"""state: the OCI state JSON of one container."""

from __future__ import annotations

import argparse
import json
import sys

from ..container import Container


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")


def run(args: argparse.Namespace) -> int:
    c = Container.load(args.root, args.id)
    sys.stdout.write(json.dumps(c.oci_state(), indent=2))
    return 0
