"""Live `oom` events: one thread polls the OOM-kill counter of each running container's memory cgroup.

Docker publishes `oom` when the kernel kills a process for the memory limit, also when the
container survives it (a child was killed). The shim records OOMKilled at exit
(contracts.md §2); this watcher only makes the event timely. The runner asks `forget` at
exit how many were published, and publishes one then if the watcher had not seen it yet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from .stats import cgroup_dirs

log = logging.getLogger("dockerd_py.containers")


def oom_counter_file(pid: int) -> str | None:
    """memory.oom_control (v1) or memory.events (v2) of the cgroup of `pid`."""
    try:
        v1, v2 = cgroup_dirs(pid)
    except (OSError, ValueError):
        return None
    if "memory" in v1:
        return os.path.join(v1["memory"], "memory.oom_control")
    return os.path.join(v2, "memory.events") if v2 else None


def read_oom_kills(path: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


class OomWatcher:
    def __init__(self, on_oom: Callable[[object], None], interval: float = 0.5) -> None:
        self._on_oom = on_oom
        self._interval = interval
        self._lock = threading.Lock()
        self._watched: dict[str, list] = {}  # id -> [container, file, last count, events published]
        self._thread: threading.Thread | None = None

    def watch(self, c, pid: int) -> None:
        path = oom_counter_file(pid)
        if path is None:
            return
        with self._lock:
            self._watched[c.id] = [c, path, read_oom_kills(path), 0]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="oom-watcher")
                self._thread.start()

    def forget(self, c) -> int:
        """Stop watching `c`; the number of `oom` events published for it since `watch`."""
        with self._lock:   # the poller checks under the lock too: no event after this returns
            entry = self._watched.pop(c.id, None)
            if entry is None:
                return 0
            self._check(entry)  # a kill just before the exit
            return entry[3]

    def _check(self, entry: list) -> None:
        count = read_oom_kills(entry[1])
        if count > entry[2]:
            entry[2] = count
            entry[3] += 1
            try:
                self._on_oom(entry[0])
            except Exception:
                log.exception("oom event")

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            with self._lock:
                for entry in list(self._watched.values()):
                    self._check(entry)
