"""run: create + start; in the foreground wait for the container and return its
exit status (signals we receive are forwarded to init), then delete it."""

from __future__ import annotations

import os

from .. import signals
from .. import spec as sp
from ..container import Container
from ..errors import RuntimeErr
from ..process import parent
from ..process.start import release
from .start import poststart

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args

# Everything catchable except what concerns us, not the container.
_FORWARD = sorted({n for k, n in signals.NUMBERS.items()
                   if k not in ("KILL", "STOP", "CHLD", "SEGV", "BUS", "ILL", "FPE", "PIPE")})


def run(args: Args) -> int:
    bundle = os.path.abspath(args.bundle or os.getcwd())
    spec = sp.load(bundle)
    pid_file = sp.enter_bundle(bundle, args.pid_file)
    proxy = None
    if spec.process.get("terminal") and not args.console_socket:
        if args.detach:
            raise RuntimeErr("cannot allocate tty if runc will detach without setting console socket")
        from ..linux.ttyproxy import Proxy
        proxy = Proxy()
    if not args.detach and not args.no_subreaper:
        # As runc: a subreaper, so that an init that is not our child (forked
        # by the user-namespace stage) is still ours to wait for.
        from ..linux import syscalls as sc
        sc.default().prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    created = parent.create(args.root, args.id, spec, pid_file=pid_file,
                            console_socket=args.console_socket, no_pivot=args.no_pivot,
                            preserve_fds=args.preserve_fds, detach=args.detach,
                            console_conn=proxy.theirs if proxy else None)
    if proxy:
        proxy.receive()
    pid = created.pid
    if not args.detach:
        for sig in _FORWARD:
            try:
                signals.signal(sig, lambda s, _f: _forward(pid, s))
            except (OSError, ValueError):
                pass
    c = Container.load(args.root, args.id)
    try:
        release(c)
    except BaseException:
        _kill(pid)
        os.waitpid(pid, 0)
        c.destroy()
        raise
    poststart(c)
    if args.detach:
        return 0
    if proxy:
        status = proxy.copy_until_exit(pid)
    else:
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if not args.keep:
        Container.load(args.root, args.id).destroy()
    return code if code >= 0 else 128 - code


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        pass
