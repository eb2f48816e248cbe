"""delete: remove a stopped (or created) container; --force kills a running one."""

from __future__ import annotations

import os

from .. import signals
from ..container import Container
from ..errors import IncorrectStatus, NotFound
from .. import state as st

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    try:
        c = Container.load(args.root, args.id)
    except NotFound:
        if args.force:
            return 0
        raise
    with st.Lock(c.dir):
        if c.status == "created":
            _kill_init(c)
        elif c.status in ("running", "paused"):
            if not args.force:
                raise IncorrectStatus(f"cannot delete container {c.id} that is not stopped: {c.status}")
            c.signal_all(signals.SIGKILL)
            _kill_init(c)
        c.destroy()
    return 0


def _kill_init(c: Container) -> None:
    try:
        os.kill(c.pid, signals.SIGKILL)
    except ProcessLookupError:
        pass
    c.wait_stopped()
