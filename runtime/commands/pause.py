"""pause / resume: freeze and thaw the container's cgroup."""

from __future__ import annotations


from ..container import Container
from ..errors import IncorrectStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run_pause(args: Args) -> int:
    c = Container.load(args.root, args.id)
    if c.status not in ("running", "created"):
        raise IncorrectStatus("container not running")
    c.cgroup.freeze()
    return 0


def run_resume(args: Args) -> int:
    c = Container.load(args.root, args.id)
    if c.status != "paused":
        raise IncorrectStatus("container not paused")
    c.cgroup.thaw()
    return 0
