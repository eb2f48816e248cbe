"""How the shim learns that processes ended, and what it records about the container's end.

The shim is a child subreaper: the container's init and every `runtime exec --detach`
process are re-parented to it, so it reaps them (and the runtime calls it spawned).
"""

import json
import os
from collections.abc import Iterator

from ..state.atomic import write_bytes
from .runtime import status_to_code


def reaped() -> Iterator[tuple[int, int]]:
    """(pid, exit code) of every child that has exited, without blocking."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status_to_code(status)


def has_own_pid_ns(bundle: str) -> bool:
    """Whether the container gets a new pid namespace (so that all its processes die with
    its init); True when the bundle's config cannot be read."""
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        return any(ns.get("type") == "pid" and not ns.get("path")
                   for ns in spec.get("linux", {}).get("namespaces", []))
    except (OSError, ValueError, AttributeError):
        return True


def oom_event_files(pid: int) -> list[str]:
    """The memory-cgroup files that count OOM kills in the cgroup of `pid` (v1 and v2)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    files = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].lstrip("/")
        if "memory" in parts[1].split(","):
            files.append(os.path.join("/sys/fs/cgroup/memory", path, "memory.oom_control"))
        elif parts[0] == "0" and parts[1] == "":
            files.append(os.path.join("/sys/fs/cgroup", path, "memory.events"))
            files.append(os.path.join("/sys/fs/cgroup/unified", path, "memory.events"))
    return files


def oom_killed(files: list[str]) -> bool:
    for path in files:
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill" and int(v) > 0:
                        return True
        except (OSError, ValueError):
            continue
    return False


def write_exit(state_dir: str, status: dict) -> None:
    """DIR/exit.json, atomically: what a daemon reads once the shim is gone."""
    write_bytes(os.path.join(state_dir, "exit.json"),
                json.dumps(status, separators=(",", ":")).encode())
