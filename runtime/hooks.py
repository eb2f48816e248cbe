"""OCI hooks: run in order, state JSON on stdin, optional timeout (seconds)."""

from __future__ import annotations

import subprocess

from .errors import RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_all(hooks: list[dict[str, Any]], state_json: bytes, kind: str) -> None:
    """Run every hook; the first failure raises (callers decide if it is fatal)."""
    for hook in hooks or []:
        args = hook.get("args") or [hook["path"]]
        env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
        try:
            res = subprocess.run(args, executable=hook["path"], input=state_json, env=env,
                                 capture_output=True, timeout=hook.get("timeout"))
        except subprocess.TimeoutExpired:
            raise RuntimeErr(f"error running {kind} hook #{hooks.index(hook)}: "
                             f"timeout after {hook.get('timeout')} seconds") from None
        except OSError as e:
            raise RuntimeErr(f"error running {kind} hook #{hooks.index(hook)}: {e}") from None
        if res.returncode != 0:
            raise RuntimeErr(f"error running {kind} hook #{hooks.index(hook)}: exit status "
                             f"{res.returncode}, stdout: {res.stdout.decode(errors='replace')}, "
                             f"stderr: {res.stderr.decode(errors='replace')}")
