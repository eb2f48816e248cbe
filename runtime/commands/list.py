"""list: every container under --root (table like runc's, or JSON)."""

from __future__ import annotations

import os
import pwd
import sys

from .. import jsonio
from ..container import Container, list_ids
from ..errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args


def run(args: Args) -> int:
    states = []
    for cid in list_ids(args.root):
        try:
            c = Container.load(args.root, cid)
        except NotFound:
            continue
        s = c.oci_state()
        try:
            s["owner"] = pwd.getpwuid(os.stat(c.dir).st_uid).pw_name
        except (KeyError, OSError):
            s["owner"] = "#" + str(os.stat(c.dir).st_uid)
        states.append(s)
    if args.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif args.format == "json":
        sys.stdout.write(jsonio.dumps(states) + "\n")
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]] for s in states]
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
        for r in rows:
            sys.stdout.write("".join(cell.ljust(w) for cell, w in zip(r, widths)) + r[5] + "\n")
    return 0
