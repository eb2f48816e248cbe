"""Stage 0 (the ``create`` process): prepare, fork init, wait until it is ready.

One fork only: the parent switches its own pid_for_children to the container's
PID namespace around the fork, so the child is pid 1 there and, once create
exits, becomes a direct child of the caller's subreaper (the shim).
"""

from __future__ import annotations

import os

from .. import jsonio
from .. import signals
from .. import state as st
from ..cgroups import manager as cgm
from ..container import check_id, proc_stat
from ..errors import Exists, RuntimeErr
from ..linux import syscalls as sc
from ..linux.idmap import is_idmapped
from ..linux.namespaces import PidNamespace, TimeNamespace
from ..logs import log
from ..spec import Spec
from .channel import Channel
from .init import InitConfig
from .init import preload
from .init import run as init_run
from .init import run_userns_stage

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any


class Created:
    """What create leaves behind: the init pid and the container's state dict."""

    def __init__(self, pid: int, data: dict[str, Any]) -> None:
        self.pid = pid
        self.data = data


def create(root: str, container_id: str, spec: Spec, *, pid_file: str | None,
           console_socket: str | None, no_pivot: bool, preserve_fds: int = 0,
           detach: bool = True, console_conn: socket.socket | None = None) -> Created:
    """Create the container; on any failure leave nothing behind and raise.

    ``console_conn`` (foreground ``run`` only) replaces --console-socket with an
    already connected socket whose peer receives the pty master.
    """
    check_id(container_id)
    proc = spec.process
    if proc.get("terminal") and not console_socket and console_conn is None:
        raise RuntimeErr("cannot allocate tty if runc will detach without setting console socket")
    if console_socket and not proc.get("terminal"):
        raise RuntimeErr("cannot use console socket if runc will not detach or allocate tty")
    preload(spec)
    os.makedirs(root, 0o700, exist_ok=True)
    seccomp_prog = None
    if spec.linux.get("seccomp"):
        from ..linux import seccomp
        seccomp_prog = seccomp.prepare(sc.default(), spec.linux["seccomp"], root)
    # Only paths (mountinfo), nothing made yet: done while cgroups/warm.py's write holds the cgroup lock.
    cgroups = cgm.new(spec.cgroups_path(container_id))
    cdir = st.container_dir(root, container_id)
    try:
        os.mkdir(cdir, 0o711)
    except FileExistsError:
        raise Exists("container with given ID already exists") from None
    child = 0
    manager = None
    try:
        with st.Lock(cdir) as lock:
            fifo = os.path.join(cdir, st.FIFO)
            old = os.umask(0)
            try:
                os.mkfifo(fifo, 0o622)
            finally:
                os.umask(old)
            fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
            manager = cgroups
            manager.apply(spec.linux.get("resources") or {})
            console = _connect(console_socket) if console_socket else console_conn
            ours, theirs = Channel.pair()
            created = st.rfc3339nano()
            data = {
                "id": container_id, "bundle": spec.bundle, "rootfs": spec.rootfs, "created": created,
                "annotations": spec.annotations, "cgroup_paths": manager.paths,
                "hooks": {k: v for k, v in spec.hooks.items() if k in ("poststart", "poststop")},
            }
            oci = {"ociVersion": spec.raw.get("ociVersion"), "id": container_id, "status": "creating",
                   "bundle": spec.bundle, "annotations": spec.annotations}
            cfg = InitConfig(spec, theirs, fifo_fd, manager.procs_files(), manager.paths, console,
                             no_pivot, preserve_fds, None)
            cfg.seccomp = seccomp_prog
            if any(is_idmapped(m) for m in spec.raw.get("mounts") or []):
                from ..linux import idmap
                cfg.idmapped = idmap.prepare(sc.default(), spec.raw.get("mounts") or [], spec.linux)
            userns = spec.has_new_namespace("user")
            pid_ns = next((ns for ns in spec.namespaces() if ns.get("type") == "pid"), None)
            time_ns = next((ns for ns in spec.namespaces() if ns.get("type") == "time"), None)
            with PidNamespace(sc.default(), None if userns else pid_ns), \
                    TimeNamespace(sc.default(), None if userns else time_ns, spec.linux.get("timeOffsets")):
                child = os.fork()
                if child == 0:
                    os.close(lock.fd)  # the flock must not live on in init
                    ours.close()
                    oci["pid"] = os.getpid()
                    cfg.state_json = jsonio.dumps(oci).encode()
                    if userns:
                        run_userns_stage(cfg)  # never returns
                    init_run(cfg)  # never returns
            theirs.close()
            os.close(fifo_fd)
            for fd in cfg.idmapped.values():
                os.close(fd)
            cfg.idmapped = {}
            if console is not None:
                console.close()
            oci["pid"] = child
            if userns:
                stage1, child = child, 0
                child = _supervise_setup(ours, spec, oci, stage1)
            else:
                _supervise_setup(ours, spec, oci, 0)
            info = proc_stat(child)
            data["pid"] = child
            data["init_start"] = info[1] if info else 0
            st.save(root, container_id, data)
            if pid_file:
                _write_pid_file(pid_file, child)
            ours.send("ok")  # (init cleared its parent-death signal before "ready")
            ours.close()
            return Created(child, data)
    except BaseException:
        if child:
            kill_child(child)
        if manager is not None:
            try:
                manager.remove()
            except OSError as e:
                log.warning(f"failed to remove cgroup: {e}")
        st.remove_dir(cdir)
        raise


def _supervise_setup(channel: Channel, spec: Spec, oci: dict[str, Any], stage1: int) -> int:
    """Serve init's requests until it says ready; its errors become ours.

    With a user namespace, ``stage1`` is the first child: it asks for its id
    maps ("userns"), then reports init's pid ("pid") and exits (reaped here).
    Returns init's pid when it came that way.
    """
    init_pid = 0
    ready = False
    try:
        while not (ready and not stage1):
            msg = channel.recv()
            if msg is None:
                raise RuntimeErr("container init exited prematurely")
            kind = msg.get("type")
            if kind == "ready":
                ready = True  # (two writers: init's "ready" may overtake stage 1's "pid")
                continue
            if kind == "error":
                raise RuntimeErr(msg.get("msg") or "container init failed")
            if kind == "userns" and stage1:
                from ..linux import userns
                try:
                    userns.write_maps(stage1, spec.linux)
                except OSError as e:
                    text = str(e.args[1]) if len(e.args) > 1 else str(e)  # without "[Errno N]"
                    channel.send("error", msg=text)
                    raise RuntimeErr(f"failed to set up user namespace mappings: {text}") from None
                channel.send("ok")
                continue
            if kind == "pid" and stage1:
                init_pid = oci["pid"] = int(msg["pid"])
                os.waitpid(stage1, 0)
                stage1 = 0
                continue
            _serve_hooks(channel, spec, jsonio.dumps(oci).encode(), kind)
        return init_pid
    except BaseException:
        if init_pid:
            kill_child(init_pid)
        if stage1:
            kill_child(stage1)
        raise


def _serve_hooks(channel: Channel, spec: Spec, state_json: bytes, kind: str | None) -> None:
    """init asks for the prestart/createRuntime hooks (run here, in the host's namespaces)."""
    if kind != "hooks":
        return
    from .. import hooks
    try:
        hooks.run_all(spec.hooks.get("prestart") or [], state_json, "prestart")
        hooks.run_all(spec.hooks.get("createRuntime") or [], state_json, "createRuntime")
    except RuntimeErr as e:
        channel.send("error", msg=str(e))
        raise RuntimeErr(f"unable to start container process: error during container init: {e}") from None
    channel.send("ok")


def _connect(path: str) -> socket.socket:
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise RuntimeErr(f"failed to connect to console socket {path}: {e.strerror}") from None
    return sock


def kill_child(pid: int) -> None:
    """End and reap a child of a failed create or exec (it may already be gone)."""
    try:
        os.kill(pid, signals.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _write_pid_file(path: str, pid: int) -> None:
    """Atomic, like runc: the shim may poll for it."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)

