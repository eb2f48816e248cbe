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
    if c.status == "paused" and not args.ignore_paused:
        raise IncorrectStatus("cannot exec in a paused container (use --ignore-paused to override)")
    config = _bundle_config(c.data["bundle"])
    proc = _process(args, config)
    if c.status == "created" and not proc:
        raise IncorrectStatus("cannot exec in a created container")
    sp._validate_process(proc, True)
    result = exec_process(c, proc, config.get("linux") or {}, pid_file=args.pid_file,
                          console_socket=args.console_socket, detach=args.detach,
                          preserve_fds=args.preserve_fds, sub_cgroups=_sub_cgroups(args.cgroup or []))
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
    _apply_flags(args, proc)
    return proc


def _apply_flags(args: Args, proc: dict[str, Any]) -> None:
    """--additional-gids, --cap, --apparmor, --process-label (runc's getProcess)."""
    if args.additional_gids:
        try:
            gids = [int(g) for g in args.additional_gids]
        except ValueError:
            raise RuntimeErr(f"invalid additional-gids value {args.additional_gids!r}") from None
        proc["user"] = {**(proc.get("user") or {}), "additionalGids": gids}
    if args.cap:
        caps = {k: list(v or []) for k, v in (proc.get("capabilities") or {}).items()}
        for cap in args.cap:
            for kind in ("bounding", "effective", "permitted"):
                caps.setdefault(kind, []).append(cap)
            if caps.get("inheritable"):  # ambient needs inheritable: only where the spec has some
                caps.setdefault("ambient", []).append(cap)
        proc["capabilities"] = caps
    if args.apparmor:
        proc["apparmorProfile"] = args.apparmor
    if args.process_label:
        proc["selinuxLabel"] = args.process_label


def _sub_cgroups(values: list[str]) -> dict[str, str]:
    """runc's --cgroup: "path" (every controller, only alone) or "ctrl[,ctrl]:path"."""
    out: dict[str, str] = {}
    for value in values:
        parts = value.split(":")
        if len(parts) > 2:
            raise RuntimeErr(f"invalid --cgroup argument: {value}")
        if len(parts) == 1:
            if len(values) != 1:
                raise RuntimeErr(f"invalid --cgroup argument: {value} (missing <controller>: prefix)")
            out[""] = value
        else:
            for ctrl in parts[0].split(","):
                out[ctrl] = parts[1]
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
