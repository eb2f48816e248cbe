"""delete: remove a stopped (or created) container; --force kills a running one."""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call

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
            _remove_stale(args.root, args.id)
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


def _remove_stale(root: str, container_id: str) -> None:
    """A directory without state.json is a create that died half-way (a live
    create holds the lock until state.json exists): clean it up."""
    path = st.container_dir(root, container_id)
    if "/" in container_id or container_id in (".", ".."):
        return
    try:
        lock = st.Lock(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    with lock:
        if st.load(root, container_id) is None:
            st.remove_dir(path)
