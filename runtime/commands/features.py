"""features: what this runtime supports (runtime-spec features.md)."""

from __future__ import annotations

import sys

from .. import jsonio
from .. import spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    sys.stdout.write(jsonio.dumps_indent(spec.features(), 4) + "\n")
    return 0
