"""The state directory ``<root>/<id>/``: state.json (atomic), exec.fifo, lock.

state.json holds what later verbs need (init pid + start time to detect pid
reuse, cgroup paths, hooks, bundle). Status is never trusted from it: see
container.py.
"""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import time
from . import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
FIFO = "exec.fifo"


def rfc3339nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction trimmed)."""
    ns = time.time_ns() if ns is None else ns
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    text = f"{frac:09d}".rstrip("0")
    return f"{base}.{text}Z" if text else f"{base}Z"


def container_dir(root: str, container_id: str) -> str:
    return root + container_id if root.endswith("/") else f"{root}/{container_id}"


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """temp + rename, so readers never see a torn file. No fsync, as runc: this
    state describes processes, which a crash of the machine ends as well (and
    --root is normally on tmpfs); on a disk it cost ms on every create."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.rename(tmp, path)


def save(root: str, container_id: str, state: dict[str, Any]) -> None:
    write_atomic(f"{container_dir(root, container_id)}/{STATE_FILE}",
                 jsonio.dumps(state).encode())


def load(root: str, container_id: str) -> dict[str, Any] | None:
    try:
        with open(f"{container_dir(root, container_id)}/{STATE_FILE}", "rb") as f:
            return jsonio.loads(f.read())
    except FileNotFoundError:
        return None


class Lock:
    """flock on the container directory: serialises verbs on one container."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> "Lock":
        import fcntl  # here: start, state, kill and list take no lock (an extension module less)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def remove_dir(path: str) -> None:
    """rm -r of a container directory (flat: state.json, exec.fifo, temp files)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(f"{path}/{name}")
        except IsADirectoryError:
            remove_dir(f"{path}/{name}")
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
