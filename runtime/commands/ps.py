"""ps: processes of the container's cgroup (JSON list of host pids, or a ps table)."""

from __future__ import annotations

import sys

from .. import jsonio
from ..container import Container
from ..errors import RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    c = Container.load(args.root, args.id)
    pids = c.cgroup.pids() if c.status != "stopped" else []
    if args.format == "json":
        if args.ps_args:
            raise RuntimeErr("ps arguments are not supported with --format json")
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return 0
    import subprocess
    out = subprocess.run(["ps", *(args.ps_args or ["-ef"])], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0]
    col = header.split().index("PID")
    keep = set(pids)
    sys.stdout.write(header + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in keep:
            sys.stdout.write(line + "\n")
    return 0
