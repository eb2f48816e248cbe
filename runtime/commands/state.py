"""state: the OCI state JSON of one container."""

from __future__ import annotations

import sys

from .. import jsonio
from ..container import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    c = Container.load(args.root, args.id)
    sys.stdout.write(jsonio.dumps_indent(c.oci_state(), 2))
    return 0
