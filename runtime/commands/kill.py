"""kill: send a signal to init, or with --all to every process of the cgroup."""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call

from ..container import Container
from .. import signals
from ..errors import IncorrectStatus, RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def parse_signal(text: str) -> int:
    try:
        return signals.parse(text)
    except ValueError:
        raise RuntimeErr(f'unknown signal "{text}"') from None


def run(args: Args) -> int:
    sig = parse_signal(args.signal)
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise IncorrectStatus("container not running")
    if args.all:
        c.signal_all(sig)
    else:
        try:
            os.kill(c.pid, sig)
        except ProcessLookupError:
            raise IncorrectStatus("container not running") from None
        except OSError as e:  # e.g. EINVAL for a number that is no signal
            raise RuntimeErr(f"unable to signal init: {(e.strerror or str(e)).lower()}") from None
        if c.status == "paused" and sig == signals.SIGKILL:
            c.cgroup.thaw()  # as runc: a frozen task dies of SIGKILL only once thawed (cgroup v1)
    return 0
