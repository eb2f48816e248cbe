"""events: the container's cgroup stats (``--stats``: one sample), or a stream of
stats every ``--interval`` plus OOM notifications (cgroup v1: an eventfd on
memory.oom_control; v2: a higher oom_kill count in memory.events) until the container ends."""

from __future__ import annotations

import os
import select
import sys

from .. import jsonio
from ..cgroups import stats
from ..container import Container
from ..errors import RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cli import Args

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration ("5s", "1m30s", "250ms", "0") in seconds; ValueError if malformed."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(text)
    total = 0.0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        number, s = s[:i], s[i:]
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit, s = s[:j], s[j:]
        if not number or number == "." or unit not in _UNITS:
            raise ValueError(text)
        total += float(number) * _UNITS[unit]
    return sign * total


def _emit(event: dict) -> None:
    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def run(args: Args) -> int:
    text = args.interval or "5s"
    try:
        interval = parse_duration(text)
    except ValueError:
        raise RuntimeErr(f'invalid value "{text}" for flag -interval: parse error') from None
    c = Container.load(args.root, args.id)
    if c.status == "stopped":
        raise RuntimeErr(f"container with id {c.id} is not running")
    if interval <= 0:
        raise RuntimeErr("duration interval must be greater than 0")
    paths = c.data.get("cgroup_paths") or {}
    if args.stats:
        _emit({"type": "stats", "id": c.id, "data": stats.collect(paths)})
        return 0
    pidfd = c.pidfd()
    if pidfd is None:
        raise RuntimeErr(f"container with id {c.id} is not running")
    oom = _OomWatchV2(paths[""]) if "" in paths else _OomWatch(paths.get("memory"))
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if oom.fd is not None:
        poller.register(oom.fd, oom.mask)
    try:
        while True:
            ready = dict(poller.poll(int(interval * 1000)))
            if oom.fd is not None and oom.fd in ready:
                what = oom.check()
                if what == "oom":
                    _emit({"type": "oom", "id": c.id})
                elif what == "gone":
                    poller.unregister(oom.fd)
                    oom.close()
            if pidfd in ready:
                return 0  # the container ended
            if not ready:
                _emit({"type": "stats", "id": c.id, "data": stats.collect(paths)})
    finally:
        os.close(pidfd)
        oom.close()


class _OomWatch:
    """cgroup v1 OOM notification: an eventfd registered in cgroup.event_control."""

    mask = select.POLLIN

    def __init__(self, memory_dir: str | None) -> None:
        self.fd: int | None = None
        self._control: str | None = None
        if not memory_dir or not os.path.exists(os.path.join(memory_dir, "memory.oom_control")):
            return
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        ofd = os.open(os.path.join(memory_dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._control = os.path.join(memory_dir, "cgroup.event_control")
            with open(self._control, "w") as f:
                f.write(f"{efd} {ofd}")
            self.fd = efd
        except OSError:
            os.close(efd)
        finally:
            os.close(ofd)

    def check(self) -> str:
        """"oom", or "gone" when the eventfd fired because the cgroup went away."""
        assert self.fd is not None
        os.eventfd_read(self.fd)
        return "oom" if self._control is not None and os.path.exists(self._control) else "gone"

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _OomWatchV2:
    """cgroup v2: a change of memory.events wakes poll() with POLLPRI (kernfs notifies
    pollers as it notifies inotify); it is an OOM when oom_kill grew (runc 1.1 says "oom"
    on any change once oom_kill > 0). The file fails to read once the cgroup is gone."""

    mask = select.POLLPRI

    def __init__(self, cgroup_dir: str) -> None:
        self.fd: int | None = None
        try:
            self.fd = os.open(os.path.join(cgroup_dir, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        self._kills = self._count() or 0

    def _count(self) -> int | None:
        assert self.fd is not None
        try:
            text = os.pread(self.fd, 4096, 0).decode()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def check(self) -> str:
        """"oom" (oom_kill grew), "gone" (the cgroup was removed), or ""."""
        kills = self._count()
        if kills is None:
            return "gone"
        fired, self._kills = kills > self._kills, kills
        return "oom" if fired else ""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
