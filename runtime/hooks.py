"""OCI hooks: run in order, state JSON on stdin, optional timeout (seconds)."""

from __future__ import annotations

import subprocess

from .errors import RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_all(hooks: list[dict[str, Any]], state_json: bytes, kind: str) -> None:
    """Run every hook; the first failure raises (callers decide if it is fatal).
    Messages are runc's ("error running hook #N: ..."); ``kind`` goes to the debug log."""
    from .logs import log
    for i, hook in enumerate(hooks or []):
        path = hook.get("path", "")
        log.debug(f"running {kind} hook #{i}: {path}")
        args = hook.get("args") or [path]
        env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
        timeout = hook.get("timeout")
        try:
            if not path:
                raise FileNotFoundError(2, "No such file or directory")
            # a path without "/" is not looked up in PATH: as Go's exec.Cmd, it is relative to the cwd
            res = subprocess.run(args, executable=path if "/" in path else "./" + path, input=state_json, env=env,
                                 capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeErr(f"error running hook #{i}: hook ran past specified timeout of "
                             f"{float(timeout):.1f}s") from None
        except OSError as e:
            raise RuntimeErr(f"error running hook #{i}: fork/exec {path}: "
                             f"{(e.strerror or str(e)).lower()}") from None
        if res.returncode != 0:
            status = f"exit status {res.returncode}" if res.returncode > 0 else \
                f"signal: {_signal_name(-res.returncode)}"
            raise RuntimeErr(f"error running hook #{i}: error running hook: {status}, stdout: "
                             f"{res.stdout.decode(errors='replace')}, stderr: {res.stderr.decode(errors='replace')}")


def _signal_name(sig: int) -> str:
    """Go's names for the usual ones ("killed", "terminated"), else the number."""
    return {9: "killed", 15: "terminated", 2: "interrupt", 6: "aborted", 11: "segmentation fault"}.get(
        sig, f"signal {sig}")
