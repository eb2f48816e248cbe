"""``exec``: run another process inside a running container.

Like create, one fork: the parent points its pid_for_children at the
container's PID namespace, the child joins the cgroups and the other
namespaces of the container's init (by /proc/<pid>/ns/*), applies the
process settings (same code as init) and execve's. No exec.fifo: the child
goes as soon as the parent has written --pid-file.
"""

from __future__ import annotations

import os

from .. import signals
from ..container import Container
from ..errors import RuntimeErr
from ..linux import namespaces
from ..linux import syscalls as sc
from . import init as ini
from .channel import Channel
from .parent import _connect, _write_pid_file, kill_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    from ..linux import seccomp

# Joined in this order; user first (it owns the others), mnt last: once in it,
# host paths are gone (fds are open).
_NS_ORDER = [("user", sc.CLONE_NEWUSER), ("ipc", sc.CLONE_NEWIPC), ("uts", sc.CLONE_NEWUTS), ("net", sc.CLONE_NEWNET),
             ("cgroup", sc.CLONE_NEWCGROUP), ("time", sc.CLONE_NEWTIME), ("mnt", sc.CLONE_NEWNS)]


def exec_process(c: Container, proc: dict[str, Any], linux: dict[str, Any], *, pid_file: str | None,
                 console_socket: str | None, detach: bool, preserve_fds: int = 0,
                 sub_cgroups: dict[str, str] | None = None) -> int:
    """Start ``proc`` in the container; return its pid (detach) or exit status.
    ``sub_cgroups`` (exec --cgroup): controller ("" = all) -> existing sub-cgroup to join."""
    if proc.get("terminal") and not console_socket:
        raise RuntimeErr("cannot allocate tty if runc will detach without setting console socket")
    prog = None
    if linux.get("seccomp"):
        from ..linux import seccomp  # compiled (or taken from the cache) before fork
        prog = seccomp.prepare(sc.default(), linux["seccomp"], c.root)
    if proc.get("terminal"):
        from ..linux import tty  # noqa: F401
    ns_fds = _open_namespaces(c.pid)
    console = _connect(console_socket) if console_socket else None
    ours, theirs = Channel.pair()
    child = 0
    try:
        with namespaces.PidNamespace(sc.default(), {"type": "pid", "path": f"/proc/{c.pid}/ns/pid"}):
            child = os.fork()
            if child == 0:
                ours.close()
                _child(theirs, ns_fds, _procs_files(c, sub_cgroups or {}), proc, prog, console, preserve_fds)
        theirs.close()
        if console is not None:
            console.close()
        msg = ours.recv()
        if msg is None or msg.get("type") != "ready":
            raise RuntimeErr((msg or {}).get("msg") or "exec process exited prematurely")
        if pid_file:
            _write_pid_file(pid_file, child)
        ours.send("ok")
        ours.recv()  # EOF: the child is past its parent-death signal and exec'ing
        ours.close()
    except BaseException:
        if child:
            kill_child(child)
        raise
    finally:
        for fd, _ in ns_fds:
            os.close(fd)
    if detach:
        return child
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _procs_files(c: Container, subs: dict[str, str]) -> list[str]:
    """cgroup.procs of the container's cgroups, or of the sub-cgroups asked for."""
    out = []
    for name, path in c.cgroup.paths.items():
        sub = subs.get(name, subs.get(""))
        if sub:
            path = os.path.join(path, sub.lstrip("/"))
            if not os.path.isdir(path):
                raise RuntimeErr(f"cgroup {path} does not exist (exec --cgroup joins an existing sub-cgroup)")
        out.append(f"{path}/cgroup.procs")
    return out


def _open_namespaces(pid: int) -> list[tuple[int, int]]:
    """fds of init's namespaces that differ from ours (sharing the host's is allowed)."""
    out = []
    for name, flag in _NS_ORDER:
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.readlink(theirs) == os.readlink(f"/proc/self/ns/{name}"):
                continue
            out.append((os.open(theirs, os.O_RDONLY | os.O_CLOEXEC), flag))
        except FileNotFoundError:
            continue
    return out


def _child(channel: Channel, ns_fds: list[tuple[int, int]], cgroup_procs: list[str], proc: dict[str, Any],
           prog: seccomp.Program | None, console: socket.socket | None, preserve_fds: int) -> None:
    code = 1
    try:
        sys_ = sc.default()
        sys_.prctl(sc.PR_SET_PDEATHSIG, signals.SIGKILL)
        for path in cgroup_procs:
            with open(path, "w") as f:
                f.write("0")
        for fd, flag in ns_fds:
            sys_.setns(fd, flag)
        os.setsid()
        slave = None
        if proc.get("terminal"):
            from ..linux import tty
            assert console is not None
            slave = tty.setup(sys_, console, proc.get("consoleSize"), console=False)
        ini._rlimits(proc.get("rlimits") or [])
        nnp = bool(proc.get("noNewPrivileges"))
        if nnp:
            sys_.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if prog and not nnp:
            from ..linux import seccomp
            seccomp.install(sys_, prog)
        env = ini._environment(proc)
        ini._close_fds(3 + preserve_fds)
        if slave:
            from ..linux import tty
            tty.make_controlling(slave)
        denied = ini._chdir(proc.get("cwd") or "/", defer_denied=True)
        ini._switch_user(sys_, proc.get("capabilities"), proc.get("user") or {}, env)
        if denied:
            ini._chdir(proc.get("cwd") or "/")
        path = ini._lookup(proc["args"][0], env)
        ini._reset_signals()
        channel.send("ready")
        msg = channel.recv()
        if msg is None or msg.get("type") != "ok":
            raise RuntimeError("parent process went away")
        sys_.prctl(sc.PR_SET_PDEATHSIG, 0)
        channel.close()
        if prog and nnp:
            from ..linux import seccomp
            seccomp.install(sys_, prog)
        try:
            os.execve(path, proc["args"], env)
        except OSError as e:
            os.write(2, f"exec {path}: {e.strerror}\n".encode())
            code = 127
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        try:
            channel.send("error", msg=ini._describe(e))
        except OSError:
            pass
    finally:
        os._exit(code)
