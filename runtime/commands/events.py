"""events: the container's cgroup stats (``--stats``: one sample), or a stream of
stats every ``--interval`` plus OOM notifications (cgroup v1: an eventfd on
memory.oom_control; v2: inotify on memory.events, as runc) until the container ends."""

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
        poller.register(oom.fd, select.POLLIN)
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
    """cgroup v2, as runc: inotify on memory.events (an OOM once oom_kill > 0 after a change)
    and on cgroup.events (no more watching once the cgroup has no process)."""

    _IN_MODIFY, _IN_CLOEXEC, _IN_NONBLOCK = 0x2, 0o2000000, 0o4000

    def __init__(self, cgroup_dir: str) -> None:
        import ctypes

        self.fd: int | None = None
        self._dir = cgroup_dir
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(self._IN_CLOEXEC | self._IN_NONBLOCK)
        if fd < 0:
            return
        self._events = libc.inotify_add_watch(fd, os.path.join(cgroup_dir, "memory.events").encode(), self._IN_MODIFY)
        self._cgroup = libc.inotify_add_watch(fd, os.path.join(cgroup_dir, "cgroup.events").encode(), self._IN_MODIFY)
        if self._events < 0:
            os.close(fd)
            return
        self.fd = fd

    def check(self) -> str:
        """"oom" (memory.events changed, oom_kill > 0), "gone" (no process left), or ""."""
        assert self.fd is not None
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return ""
        wds, i = set(), 0
        while i + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name[len]
            wds.add(int.from_bytes(data[i:i + 4], "little", signed=True))
            i += 16 + int.from_bytes(data[i + 12:i + 16], "little")
        if self._cgroup in wds and self._empty():
            return "gone"
        return "oom" if self._events in wds and self._kv("memory.events", "oom_kill") > 0 else ""

    def _kv(self, name: str, key: str) -> int:
        try:
            with open(os.path.join(self._dir, name)) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key:
                        return int(v)
        except (OSError, ValueError):
            pass
        return 0

    def _empty(self) -> bool:
        return not os.path.isdir(self._dir) or self._kv("cgroup.events", "populated") == 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
