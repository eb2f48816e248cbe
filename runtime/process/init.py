"""The container's init, from fork to execve (runs in the forked child only).

The parent has already placed us in the right PID namespace (pid 1 there).
Steps, in runc's order: join cgroups, join/unshare namespaces, setsid, hooks,
rootfs + pivot_root, console, hostname/sysctl, read-only/masked paths, rlimits,
oom score, no_new_privs, [seccomp], user + capabilities, ready, block on
exec.fifo until ``start``, startContainer hooks, [seccomp], execve.
"""

from __future__ import annotations

import fcntl
import os
import resource

from .. import jsonio
from .. import signals
from ..linux import caps, namespaces, rootfs
from ..linux import syscalls as sc
from ..logs import log
from ..spec import Spec
from .channel import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    from ..linux import seccomp

# False in init forked by the user-namespace stage (see run_userns_stage).
_restore_pdeathsig = True
# runc's init reports "ready" to its parent before seccomp, capabilities, the
# user and the working directory: its errors before that point are wrapped as
# "error during container init", the later ones are not.
_past_ready = False


class InitConfig:
    """Everything init needs, prepared by the parent before fork."""

    def __init__(self, spec: Spec, channel: Channel, fifo_fd: int, cgroup_procs: list[str],
                 cgroup_paths: dict[str, str], console: socket.socket | None, no_pivot: bool,
                 preserve_fds: int, state_json: bytes | None) -> None:
        self.spec = spec
        self.channel = channel
        self.fifo_fd = fifo_fd
        self.cgroup_procs = cgroup_procs
        self.cgroup_paths = cgroup_paths
        self.console = console
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.state_json = state_json
        # Forked by the user-namespace stage (run_userns_stage): cgroups and
        # namespaces are done, and our parent exits at once (no parent-death signal).
        self.stage2 = False
        self.idmapped: dict[int, int] = {}  # mounts[] index -> id-mapped detached mount (linux/idmap.py)
        self.seccomp: seccomp.Program | None = None  # linux.seccomp, compiled before fork


def preload(spec: Spec) -> None:
    """Import now what init needs after pivot_root: the host's Python library is
    out of reach once the root has moved (seccomp: see InitConfig.seccomp)."""
    if spec.process.get("terminal"):
        from ..linux import tty  # noqa: F401
    if any(spec.hooks.get(k) for k in ("createContainer", "startContainer")):
        from .. import hooks  # noqa: F401
        import subprocess  # noqa: F401


def run(cfg: InitConfig) -> None:
    """Never returns: execve's the user process or _exit's."""
    code = 1
    try:
        _init(cfg)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        msg = _describe(e)
        if not msg.startswith("unable to start container process: "):
            during = "" if _past_ready else "error during container init: "
            msg = f"unable to start container process: {during}{msg}"
        try:
            cfg.channel.send("error", msg=msg)
        except OSError:
            try:
                os.write(2, f"dockerd-py-runc init: {msg}\n".encode())
            except OSError:
                pass
        code = 127 if isinstance(e, _ExecFailed) else 1
    finally:
        os._exit(code)


class _ExecFailed(Exception):
    pass


def _describe(e: BaseException) -> str:
    """A runc-like message: "<what failed>: <strerror>" without "[Errno N]"."""
    if isinstance(e, OSError):
        if e.filename is not None:
            return f"{e.strerror}: {e.filename}"
        if len(e.args) > 1:
            return str(e.args[1])
    return str(e) or type(e).__name__


def run_userns_stage(cfg: InitConfig) -> None:
    """Never returns. The first child when there is a user namespace: join the
    cgroups (still host root), join the ``path`` namespaces, unshare the user
    namespace and let the parent write its maps, become root in it, unshare the
    rest (PID included, now owned by it) and fork init, whose pid goes to the parent."""
    from ..linux import userns  # now: joining a mount namespace by path hides the host's files
    code = 1
    try:
        sys_ = sc.default()
        sys_.prctl(sc.PR_SET_PDEATHSIG, signals.SIGKILL)
        _join_cgroups(cfg.cgroup_procs)
        spaces = cfg.spec.namespaces()
        namespaces.join(sys_, spaces, with_pid=True)
        flags = namespaces.new_flags(spaces, with_pid=True)
        if flags & sc.CLONE_NEWUSER:
            sys_.unshare(sc.CLONE_NEWUSER)
            cfg.channel.send("userns")
            _expect_ok(cfg.channel)
            flags &= ~sc.CLONE_NEWUSER
        # Root in the namespace; the gid only in init, as runc: the IPC
        # namespace made here (its mqueue root) keeps the unmapped gid there too.
        if userns.maps_root(cfg.spec.linux.get("uidMappings") or []):
            os.setresuid(0, 0, 0)
        if flags:
            sys_.unshare(flags)
        if flags & sc.CLONE_NEWTIME:
            # setresuid made us non-dumpable: /proc/self/* then belongs to the
            # host's root, unmapped here. The exec resets dumpable anyway.
            sys_.prctl(sc.PR_SET_DUMPABLE, 1)
            namespaces.write_time_offsets(cfg.spec.linux.get("timeOffsets"))
        pid = os.fork()
        if pid == 0:
            global _restore_pdeathsig
            cfg.stage2 = True
            _restore_pdeathsig = False  # our parent exits now: its death must not kill us
            if userns.maps_root(cfg.spec.linux.get("gidMappings") or []):
                os.setresgid(0, 0, 0)
                os.setgroups([])
            run(cfg)  # never returns
        cfg.channel.send("pid", pid=pid)
        code = 0
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        try:
            cfg.channel.send("error", msg=_describe(e))
        except OSError:
            pass
    finally:
        os._exit(code)


def _join_cgroups(procs_files: list[str]) -> None:
    for path in procs_files:
        try:
            with open(path, "w") as f:
                f.write("0")
        except OSError as e:
            raise OSError(e.errno, f"failed to join cgroup {os.path.dirname(path)}: {e.strerror}") from None


def _init(cfg: InitConfig) -> None:
    global _past_ready
    sys_ = sc.default()
    spec, raw, proc = cfg.spec, cfg.spec.raw, cfg.spec.process
    if not cfg.stage2:
        sys_.prctl(sc.PR_SET_PDEATHSIG, signals.SIGKILL)
        _join_cgroups(cfg.cgroup_procs)
        namespaces.enter(sys_, spec.namespaces())
    os.setsid()
    if any(ns.get("type") == "network" and not ns.get("path") for ns in spec.namespaces()):
        sys_.link_up("lo")  # runc's loopback network for a new network namespace
    if spec.hooks.get("prestart") or spec.hooks.get("createRuntime"):
        cfg.channel.send("hooks")
        _expect_ok(cfg.channel)
    old_umask = os.umask(0)
    _make_cwd(spec.rootfs, proc.get("cwd") or "/")
    if spec.hooks.get("createContainer"):
        from .. import hooks
        hooks.run_all(spec.hooks["createContainer"], _state_for_hooks(cfg), "createContainer")
    if spec.has_new_namespace("mount"):
        rootfs.prepare(sys_, spec.rootfs, raw, cfg.cgroup_paths, cfg.no_pivot,
                       in_userns=spec.has_new_namespace("user"), idmapped=cfg.idmapped)
    slave = None
    if proc.get("terminal"):
        from ..linux import tty
        assert cfg.console is not None
        slave = tty.setup(sys_, cfg.console, proc.get("consoleSize"))
    if raw.get("hostname"):
        sys_.sethostname(raw["hostname"])
    if raw.get("domainname"):
        sys_.setdomainname(raw["domainname"])
    rootfs.set_sysctls(spec.linux.get("sysctl") or {})
    if spec.has_new_namespace("mount"):
        rootfs.finalize(sys_, raw)
    os.umask(old_umask)
    _security_labels(proc)
    _rlimits(proc.get("rlimits") or [])
    if spec.linux.get("personality"):
        sys_.personality(spec.linux["personality"])
    if proc.get("oomScoreAdj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc["oomScoreAdj"]))
    nnp = bool(proc.get("noNewPrivileges"))
    if nnp:
        sys_.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    _past_ready = True
    if cfg.seccomp and not nnp:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the drop.
        from ..linux import seccomp
        seccomp.install(sys_, cfg.seccomp)
    env = _environment(proc)
    user = proc.get("user") or {}
    _close_fds(3 + cfg.preserve_fds)
    if slave:
        from ..linux import tty
        tty.make_controlling(slave)
    denied = _chdir(proc.get("cwd") or "/", defer_denied=True)
    _switch_user(sys_, proc.get("capabilities"), user, env)
    if denied:
        _chdir(proc.get("cwd") or "/")
    path = _lookup(proc["args"][0], env)
    _reset_signals()
    # Tell create we are ready, and only go on once it saved the state. The
    # parent-death signal goes first: from here on we only wait on the channel,
    # whose EOF (create gone before its "ok") ends us as well, and create can
    # exit right after its "ok" without waiting for us to get this far.
    sys_.prctl(sc.PR_SET_PDEATHSIG, 0)
    cfg.channel.send("ready")
    _expect_ok(cfg.channel)
    cfg.channel.close()
    _wait_start(cfg.fifo_fd)
    if spec.hooks.get("startContainer"):
        from .. import hooks
        hooks.run_all(spec.hooks["startContainer"], _state_for_hooks(cfg, "running"), "startContainer")
    if cfg.seccomp and nnp:
        from ..linux import seccomp
        seccomp.install(sys_, cfg.seccomp)
    try:
        os.execve(path, proc["args"], env)
    except OSError as e:
        raise _ExecFailed(f"exec {path}: {e.strerror}") from None


def _expect_ok(channel: Channel) -> None:
    msg = channel.recv()
    if msg is None:
        raise RuntimeError("parent process went away")
    if msg.get("type") != "ok":
        raise RuntimeError(msg.get("msg") or "parent refused")


def _state_for_hooks(cfg: InitConfig, status: str = "creating") -> bytes:
    state = jsonio.loads(cfg.state_json or b"{}")
    state["status"] = status
    return jsonio.dumps(state).encode()


def _make_cwd(root: str, cwd: str) -> None:
    """runc creates a missing working directory inside the rootfs."""
    target = rootfs.secure_join(root, cwd)
    if not os.path.exists(target):
        rootfs.mkdir_all(target)
    elif not os.path.isdir(target):
        raise OSError(20, f"mkdir {cwd}: not a directory")  # runc's MkdirAll


def _security_labels(proc: dict[str, Any]) -> None:
    profile = proc.get("apparmorProfile")
    if profile:  # as runc 1.1: applied whether apparmor is enabled or not (then it fails)
        path = "/proc/self/attr/apparmor/exec"
        if not os.path.exists(path):
            path = "/proc/self/attr/exec"  # the kernel's older interface
        try:
            with open(path, "w") as f:
                f.write(f"exec {profile}")
        except OSError as e:
            raise RuntimeError(f"unable to apply apparmor profile: apparmor failed to apply profile: "
                               f"write {path}: {(e.strerror or str(e)).lower()}") from None
    if proc.get("selinuxLabel"):
        log.debug("selinux is not enabled on this host: ignoring selinuxLabel")


def _rlimits(limits: list[dict[str, Any]]) -> None:
    for rl in limits:
        hard = _rlim(rl.get("hard", 0))
        soft = _rlim(rl.get("soft", 0))
        kind = getattr(resource, rl["type"])
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError) as e:  # (Python refuses soft > hard itself, with its own words)
            why = os.strerror(e.errno).lower() if isinstance(e, OSError) and e.errno else "invalid argument"
            raise RuntimeError(f"error setting rlimits for ready process: error setting rlimit type {kind}: {why}") \
                from None


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value >= 2**63 else value


def _environment(proc: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in proc.get("env") or []:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


def _home_of(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _switch_user(sys_: sc.Syscalls, capabilities: dict[str, Any] | None, user: dict[str, Any],
                 env: dict[str, str]) -> None:
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    if "HOME" not in env:
        env["HOME"] = _home_of(uid)
    if capabilities is not None:
        caps.drop_bounding(sys_, capabilities)
    sys_.prctl(sc.PR_SET_KEEPCAPS, 1)
    if uid != 0:
        _fix_stdio_owner(uid, gid)
    os.setgroups([int(g) for g in user.get("additionalGids") or []])
    os.setgid(gid)
    os.setuid(uid)
    sys_.prctl(sc.PR_SET_KEEPCAPS, 0)
    if capabilities is not None:
        try:
            caps.apply(sys_, capabilities)
        except OSError as e:
            raise RuntimeError(f"unable to apply caps: {os.strerror(e.errno).lower()}") from None
    if uid != 0 and _restore_pdeathsig:
        sys_.prctl(sc.PR_SET_PDEATHSIG, signals.SIGKILL)  # credentials change cleared it
    if user.get("umask") is not None:
        os.umask(int(user["umask"]))
    else:
        os.umask(0o022)


def _fix_stdio_owner(uid: int, gid: int) -> None:
    """Let a non-root user reopen its stdio (/proc/self/fd/N), as runc does."""
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            if st.st_uid != uid and st.st_rdev != os.makedev(1, 3):
                os.fchown(fd, uid, gid)
        except OSError:
            pass


def _chdir(cwd: str, *, defer_denied: bool = False) -> bool:
    """runc tries the working directory before the user switch too (root may reach
    what the user cannot): with ``defer_denied``, True on EACCES/EPERM, to retry as the user."""
    try:
        os.chdir(cwd)
    except PermissionError:
        if defer_denied:
            return True
        raise _exec_error(f'chdir to cwd ("{cwd}") set in config.json failed: permission denied') from None
    except OSError as e:
        raise _exec_error(f'chdir to cwd ("{cwd}") set in config.json failed: '
                          f'{(e.strerror or str(e)).lower()}') from None
    return False


def _lookup(arg0: str, env: dict[str, str]) -> str:
    """exec.LookPath inside the container, with the container's PATH."""
    if "/" in arg0:
        if not os.path.exists(arg0):
            raise _exec_error(f'exec: "{arg0}": stat {arg0}: no such file or directory')
        if os.path.isdir(arg0):  # Go's findExecutable: EISDIR, else EACCES unless executable
            raise _exec_error(f'exec: "{arg0}": is a directory')
        if not os.access(arg0, os.X_OK):
            raise _exec_error(f'exec: "{arg0}": permission denied')
        return arg0
    path = env.get("PATH", "")   # none or empty: no directory at all (Go's filepath.SplitList), as runc
    for d in path.split(":") if path else []:
        candidate = os.path.join(d or ".", arg0)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise _exec_error(f'exec: "{arg0}": executable file not found in $PATH')


def _exec_error(msg: str) -> RuntimeError:
    return RuntimeError(f"unable to start container process: {msg}")


def _close_fds(first: int) -> None:
    """Mark every inherited fd >= first close-on-exec (ours already are)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError as e:
        raise RuntimeError(f"error closing exec fds: open /proc/self/fd: {os.strerror(e.errno).lower()}") from None
    for name in names:
        fd = int(name)
        if fd >= first:
            try:
                flags = fcntl.fcntl(fd, fcntl.F_GETFD)
                fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
            except OSError:
                pass


def _reset_signals() -> None:
    """Python ignores SIGPIPE/SIGXFSZ and ignored signals survive execve: undo."""
    for sig in range(1, signals.NSIG):
        try:
            if signals.getsignal(sig) not in (signals.SIG_DFL, None):
                signals.signal(sig, signals.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signals.unblock_all()


def _wait_start(fifo_fd: int) -> None:
    """Block until ``start`` opens exec.fifo for reading; then tell it we go."""
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)
