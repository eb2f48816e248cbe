"""``python3 -m dockerd_runtime`` entry point."""

from .cli import run

run()
