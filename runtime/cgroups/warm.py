"""Warming the kernel's cgroup attach lock while create does other work.

Every write to a ``cgroup.procs`` file takes the kernel's global
cgroup_threadgroup_rwsem for writing. When nobody has taken it for a while,
the writer first waits for an RCU grace period (6-15 ms on the test host; by
far the longest step of a create); after a write the lock stays cheap for
about one more grace period. runc pays that wait in line. Here create (and
exec) start a no-op join on a thread at once: the process writes itself into
the cgroup it is already in. The grace period then passes while the verb
imports its modules, compiles or loads the seccomp filter and makes the
cgroups, and init's real joins find the lock warm. A failure only means no
head start: nothing depends on this write.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _thread

CGROUP_ROOT = "/sys/fs/cgroup"


def start() -> None:
    """Begin the no-op join in the background (returns at once)."""
    fd = _open_own_procs()
    if fd is None:
        return
    import _thread  # the C module: `threading` costs an import of its own
    started = _thread.allocate_lock()
    started.acquire()
    _thread.start_new_thread(_write_and_close, (fd, started))
    started.acquire()  # (waits with the GIL released: the thread gets it now, not after a switch interval)


def _candidates() -> list[str]:
    """cgroup.procs of the cgroup this process is in, one per hierarchy, v2 first."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in reversed(lines):  # the v2 line ("0::/path") comes last
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        path = path.rstrip("/")
        if not controllers:
            out += [f"{CGROUP_ROOT}{path}/cgroup.procs", f"{CGROUP_ROOT}/unified{path}/cgroup.procs"]
        else:
            out.append(f"{CGROUP_ROOT}/{controllers.removeprefix('name=')}{path}/cgroup.procs")
    return out


def _open_own_procs() -> int | None:
    for path in _candidates():
        try:
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            continue
    return None


def _write_and_close(fd: int, started: _thread.LockType) -> None:
    """(On the thread: only the write waits, with the GIL released.)"""
    started.release()
    try:
        os.write(fd, b"0")
    except OSError:
        pass
    finally:
        os.close(fd)
