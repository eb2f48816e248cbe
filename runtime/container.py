"""The Container aggregate: load from <root>/<id>, status from the kernel, guards.

Status is re-derived on every load (never trusted from disk): no pid, a dead or
zombie pid, or a pid with another start time means stopped; an existing
exec.fifo means created (init blocked before exec); a frozen cgroup means paused.
"""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import time

from . import jsonio
from . import OCI_VERSION, signals
from . import state as st
from .errors import NotFound, RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cgroups.manager import Manager

_ID_EXTRA = set("+-._")


def check_id(container_id: str) -> None:
    if not container_id or container_id in (".", "..") or \
            not all(ch.isalnum() or ch in _ID_EXTRA for ch in container_id):
        raise RuntimeErr(f"invalid container id format: {container_id}")


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


class Container:
    def __init__(self, root: str, container_id: str, data: dict[str, Any]) -> None:
        self.root = root
        self.id = container_id
        self.data = data
        self.dir = st.container_dir(root, container_id)
        self.status = self._refresh()

    @classmethod
    def load(cls, root: str, container_id: str) -> "Container":
        check_id(container_id)
        data = st.load(root, container_id)
        if data is None:
            raise NotFound("container does not exist")
        return cls(root, container_id, data)

    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    @property
    def cgroup(self) -> Manager:
        from .cgroups.manager import from_paths  # here: start and state of a created container need none
        return from_paths(self.data.get("cgroup_paths") or {})

    def init_alive(self) -> bool:
        info = proc_stat(self.pid) if self.pid else None
        return bool(info) and info[0] not in ("Z", "X") and info[1] == self.data.get("init_start")

    def _refresh(self) -> str:
        if not self.init_alive():
            return "stopped"
        if os.access(f"{self.dir}/{st.FIFO}", os.F_OK):
            return "created"
        if self.data.get("cgroup_paths") and self.cgroup.frozen():
            return "paused"
        return "running"

    def oci_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if self.status != "stopped" else 0,
            "status": self.status,
            "bundle": self.data["bundle"],
            "rootfs": self.data["rootfs"],
            "created": self.data["created"],
            "owner": "",
        }
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        return out

    def hook_state_json(self) -> bytes:
        """What poststart/poststop hooks read on stdin: the runtime-spec State, as
        runc gives it (no rootfs, created, owner; no pid once stopped)."""
        out: dict[str, Any] = {"ociVersion": OCI_VERSION, "id": self.id, "status": self.status}
        if self.status != "stopped" and self.pid:
            out["pid"] = self.pid
        out["bundle"] = self.data["bundle"]
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        return jsonio.dumps(out).encode()

    # --- operations -------------------------------------------------------
    def signal_all(self, sig: int) -> None:
        cg = self.cgroup
        if sig == signals.SIGKILL and not cg.frozen() and "freezer" in cg.paths:
            # Freeze first so nothing forks away from us between listing and killing.
            cg.freeze()
            try:
                _kill_each(cg.pids(), sig)
            finally:
                cg.thaw()
            return
        _kill_each(cg.pids(), sig)
        if sig == signals.SIGKILL and cg.frozen():
            cg.thaw()

    def pidfd(self) -> int | None:
        """A pidfd of the live init (readable once it exits), or None if it is gone.
        (One check, after the open, covers both a dead and a reused pid.)"""
        if not self.pid:
            return None
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return None
        if not self.init_alive():  # a zombie, or another process that got the pid
            os.close(fd)
            return None
        return fd

    def wait_stopped(self, timeout: float = 10.0) -> None:
        """Block until init has exited (a pidfd: no polling loop)."""
        fd = self.pidfd()
        if fd is None:
            return
        import select  # here: `delete` of a stopped container and `state` need no poll
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(int(timeout * 1000)):
                raise RuntimeErr(f"timed out waiting for container {self.id} to stop")
        finally:
            os.close(fd)

    def destroy(self) -> None:
        """Remove cgroups and the state directory; run poststop hooks (errors only logged)."""
        paths = self.data.get("cgroup_paths") or {}
        if paths:
            cg = self.cgroup
            for _ in range(10):  # (more rounds only if something forked meanwhile)
                left = cg.pids()
                if not left:
                    break
                _kill_and_wait(left)
            try:
                cg.remove()
            except OSError as e:
                from .logs import log
                log.warning(f"failed to remove cgroup: {e}")
        hooks = (self.data.get("hooks") or {}).get("poststop")
        if hooks:
            from . import hooks as hk
            from .logs import log
            try:
                hk.run_all(hooks, self.hook_state_json(), "poststop")
            except RuntimeErr as e:
                log.log("error", str(e))  # runc: logged as an error, the delete still succeeds
        st.remove_dir(self.dir)


def _kill_and_wait(pids: list[int], timeout: float = 2.0) -> None:
    """SIGKILL each and wait for their exits on pidfds (no sleep loop)."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except OSError:  # gone already
            continue
    import select
    try:
        _kill_each(pids, signals.SIGKILL)
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pending = set(fds)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                poller.unregister(fd)
                pending.discard(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _kill_each(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def list_ids(root: str) -> list[str]:
    try:
        return sorted(d for d in os.listdir(root) if _is_file(f"{root}/{d}/{st.STATE_FILE}"))
    except FileNotFoundError:
        return []


def _is_file(path: str) -> bool:
    try:
        return os.stat(path).st_mode & 0o170000 == 0o100000  # S_ISREG
    except OSError:
        return False
