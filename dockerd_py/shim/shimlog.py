"""The shim's diagnostic log: lines on stderr, which is DIR/shim.log once daemonised."""

import os
import sys

from .jsonlog import now


def log(msg: str) -> None:
    """One timestamped line, tagged with our pid; never raises."""
    try:
        sys.stderr.write(f"{now()} shim[{os.getpid()}] {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def log_exception(what: str) -> None:
    """`what` and the traceback of the exception being handled."""
    import traceback  # only here: not needed unless something went wrong

    log(f"{what}: {traceback.format_exc()}")
