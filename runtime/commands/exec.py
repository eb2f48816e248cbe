"""exec: run a new process in a running container (--process FILE or args)."""

from __future__ import annotations

import os
import sys

from .. import jsonio
from .. import spec as sp
from ..container import Container
from ..errors import ConfigError, IncorrectStatus, RuntimeErr
from ..process.exec import exec_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..cli import Args


def run(args: Args) -> int:
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise IncorrectStatus("cannot exec in a stopped container")
    if c.status == "paused":
        raise IncorrectStatus("cannot exec in a paused container")
    config = _bundle_config(c.data["bundle"])
    proc = _process(args, config)
    if c.status == "created" and not proc:
        raise IncorrectStatus("cannot exec in a created container")
    sp._validate_process(proc, True)
    result = exec_process(c, proc, config.get("linux") or {}, pid_file=args.pid_file,
                          console_socket=args.console_socket, detach=args.detach,
                          preserve_fds=args.preserve_fds)
    return 0 if args.detach else result


def _bundle_config(bundle: str) -> dict[str, Any]:
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            return jsonio.loads(f.read())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the container's config.json: {e}") from None


def _process(args: Args, config: dict[str, Any]) -> dict[str, Any]:
    """--process wins; otherwise the container's process with the given args."""
    if args.process:
        try:
            with open(args.process, "rb") as f:
                return jsonio.loads(f.read())
        except (OSError, ValueError) as e:
            raise ConfigError(f"invalid --process file: {e}") from None
    if not args.command:
        raise RuntimeErr("exec args cannot be empty")
    proc = dict(config.get("process") or {})
    proc["args"] = list(args.command)
    proc["terminal"] = bool(args.tty)
    proc.pop("consoleSize", None)
    if args.cwd:
        proc["cwd"] = args.cwd
    if args.env:
        proc["env"] = [*(proc.get("env") or []), *args.env]
    if args.user:
        uid, _, gid = args.user.partition(":")
        proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.no_new_privs:
        proc["noNewPrivileges"] = True
    return proc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
