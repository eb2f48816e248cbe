"""create: set the container up and leave init blocked before the user process."""

from __future__ import annotations

import os

from .. import spec as sp
from ..process import parent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    bundle = os.path.abspath(args.bundle or os.getcwd())
    spec = sp.load(bundle)
    pid_file = sp.enter_bundle(bundle, args.pid_file)
    parent.create(args.root, args.id, spec, pid_file=pid_file,
                  console_socket=args.console_socket, no_pivot=args.no_pivot,
                  preserve_fds=args.preserve_fds)
    return 0
