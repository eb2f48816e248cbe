"""start: release a created container's init (poststart hooks follow)."""

from __future__ import annotations


from ..container import Container
from ..errors import IncorrectStatus
from ..process.start import release

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise IncorrectStatus("cannot start a container that has stopped")
    if c.status != "created":
        raise IncorrectStatus("cannot start an already running container")
    release(c)
    poststart(c)
    return 0


def poststart(c: Container) -> None:
    hooks = (c.data.get("hooks") or {}).get("poststart")
    if hooks:
        from .. import hooks as hk
        from ..logs import log
        c.status = "running"
        try:
            hk.run_all(hooks, c.hook_state_json(), "poststart")
        except Exception as e:  # noqa: BLE001 - runc only warns for poststart
            log.warning(str(e))
