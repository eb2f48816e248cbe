"""features: what this runtime supports (runtime-spec features.md)."""

from __future__ import annotations

import argparse
import json
import sys

from .. import spec


def add_args(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(spec.features(), indent=4) + "\n")
    return 0
