"""The shim process: daemonise, `runtime create`, then one selectors event loop.

Single-threaded on purpose (it forks and execs the runtime). The loop owns the
stdio (pipes or a pty master) of the container's init and of its exec processes,
the control socket, the attach streams and SIGCHLD (through
signal.set_wakeup_fd). The shim is a child subreaper, so the container init
(and every `runtime exec --detach` process) is re-parented to it and reaped here.
Runtime CLI calls are synchronous: they take milliseconds, and no other thread exists.
"""

import errno
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

from ..state.atomic import write_bytes
from .jsonlog import JSONLog, rfc3339nano

PR_SET_CHILD_SUBREAPER = 36
READ_SIZE = 32 * 1024
HIGH_WATER = 1 << 20        # bytes queued for one attacher before the process's output is paused
DRAIN_TIMEOUT = 2.0         # seconds without output, after a process exits, before giving up on EOF
STREAM_IDS = {"stdout": 1, "stderr": 2}


def log(msg: str) -> None:
    """A diagnostic line in shim.log (our stderr after daemonising)."""
    try:
        sys.stderr.write(f"{rfc3339nano(time.time_ns())} shim[{os.getpid()}] {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def log_exception(what: str) -> None:
    import traceback

    log(f"{what}: {traceback.format_exc()}")


_dir_fd = -1  # O_PATH fd of the state directory, for socket paths longer than sun_path


def sock_addr(path: str) -> str:
    """An AF_UNIX address for `path` (in the state dir) that fits in sun_path (108 bytes):
    the path itself, or the same file reached through /proc/PID/fd/DIRFD."""
    if len(path.encode()) < 100 or _dir_fd < 0:
        return path
    return f"/proc/{os.getpid()}/fd/{_dir_fd}/{os.path.basename(path)}"


def now() -> str:
    return rfc3339nano(time.time_ns())


def set_subreaper() -> None:
    import ctypes  # only here: ~2 ms of import time

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


class RuntimeError_(Exception):
    """A runtime CLI call failed; the message is its stderr."""


def spawn(argv: list[str], stdin: int, stdout: int, stderr: int) -> int:
    """posix_spawn with the given stdio, default signal dispositions, empty mask."""
    fa = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
          (os.POSIX_SPAWN_DUP2, stderr, 2)]
    sigdef = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGHUP, signal.SIGINT,
              signal.SIGTERM)
    fn = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
    return fn(argv[0], argv, os.environ, file_actions=fa, setsigdef=sigdef, setsigmask=())


def status_to_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def collect(pid: int, fds: list[int]) -> tuple[int, list[bytes]]:
    """Read the fds of child `pid` until they reach EOF or the child exits, whichever
    comes first (a container, or a process the runtime left behind, may hold them open);
    reap the child. Returns its wait status and what was read."""
    out = {fd: bytearray() for fd in fds}
    sel = selectors.DefaultSelector()
    for fd in fds:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    try:
        pidfd = os.pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = -1  # old kernel: poll
    status = None
    try:
        while status is None and len(sel.get_map()) > (pidfd >= 0):
            events = sel.select(None if pidfd >= 0 else 0.05)
            for key, _ in events:
                if key.fd == pidfd:
                    continue
                try:
                    chunk = os.read(key.fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    out[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
            if pidfd < 0 or any(key.fd == pidfd for key, _ in events):
                wpid, st = os.waitpid(pid, os.WNOHANG)
                if wpid == pid:
                    status = st
    finally:
        sel.close()
        if pidfd >= 0:
            os.close(pidfd)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    for fd, buf in out.items():  # what the child wrote just before it exited
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return status, [bytes(out[fd]) for fd in fds]


def read_all(fds: list[int], timeout: float | None = None) -> list[bytes]:
    """Read each fd to EOF (blocking helper for short-lived runtime calls)."""
    out = {fd: bytearray() for fd in fds}
    sel = selectors.DefaultSelector()
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while sel.get_map():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = sel.select(left)
            if not events:
                break
            for key, _ in events:
                try:
                    chunk = os.read(key.fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    out[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
    return [bytes(out[fd]) for fd in fds]


class Attacher:
    """One attach stream: a socket getting stdcopy frames, optionally feeding stdin."""

    __slots__ = ("sock", "fd", "stdin", "stdout", "stderr", "stdin_once", "out", "reading")

    def __init__(self, sock: socket.socket, req: dict, default_once: bool) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.stdin = bool(req.get("stdin"))
        self.stdout = bool(req.get("stdout"))
        self.stderr = bool(req.get("stderr"))
        once = req.get("stdin_once")
        self.stdin_once = default_once if once is None else bool(once)
        self.out = bytearray()
        self.reading = True


class Conn:
    """A control connection still reading its request line."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()


class Proc:
    """A process whose stdio the shim owns: the container's init, or one exec."""

    def __init__(self, exec_id: str, tty: bool, stdin: bool, logger: JSONLog | None) -> None:
        self.exec_id = exec_id                     # "" for the init process
        self.tty = tty
        self.stdin_open = stdin                    # whether attachers may feed stdin
        self.log = logger
        self.pid = 0
        self.exit: dict | None = None              # set when reaped
        self.exited_mono = 0.0
        self.last_output = 0.0
        self.outputs: dict[int, str] = {}          # fd -> "stdout" | "stderr"
        self.master: int | None = None             # pty master (tty mode)
        self.stdin_fd: int | None = None           # our end of the process's stdin
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.attachers: dict[int, Attacher] = {}
        self.waiters: list[socket.socket] = []
        self.output_paused = False
        self.done = False                          # exited, drained, streams closed

    def name(self) -> str:
        return f"exec {self.exec_id[:12]}" if self.exec_id else "init"


class Shim:
    """State of one container's shim."""

    def __init__(self, state_dir: str, cfg: dict, listener: socket.socket) -> None:
        self.dir = state_dir
        self.listener = listener
        self.cfg = cfg
        self.id: str = cfg["id"]
        self.runtime_base = [cfg["runtime"]] + (["--root", cfg["runtime_root"]]
                                                 if cfg.get("runtime_root") else [])
        self.sel = selectors.DefaultSelector()
        logger = JSONLog(cfg["log_path"], cfg.get("log_max_size") or 0,
                         cfg.get("log_max_file") or 1) if cfg.get("log_path") else None
        self.init = Proc("", bool(cfg.get("tty")), bool(cfg.get("stdin")), logger)
        self.execs: dict[str, Proc] = {}
        self.exec_seq = 0
        self.conns: dict[int, Conn] = {}
        self.cgroup_files: list[str] = []
        self.wake_r = -1

    # ---- runtime CLI ---------------------------------------------------------------------

    def runtime(self, *args: str) -> bytes:
        """Run `RUNTIME --root ROOT args...`; return stdout or raise RuntimeError_(stderr)."""
        argv = self.runtime_base + list(args)
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid = spawn(argv, devnull, out_w, err_w)
        except OSError as e:
            for fd in (devnull, out_r, out_w, err_r, err_w):
                os.close(fd)
            raise RuntimeError_(f"{argv[0]}: {e.strerror}") from None
        for fd in (devnull, out_w, err_w):
            os.close(fd)
        try:
            status, (out, err) = collect(pid, [out_r, err_r])
        finally:
            os.close(out_r)
            os.close(err_r)
        if status != 0:
            msg = err.decode("utf-8", "replace").strip() or \
                f"{' '.join(argv[:1] + list(args))}: exit status {status_to_code(status)}"
            raise RuntimeError_(msg)
        return out

    def run_with_stdio(self, p: Proc, args: list[str], pid_file: str, console: str) -> None:
        """`RUNTIME args [--console-socket console] ID` with p's stdio; sets p.pid."""
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if p.tty:
            try:
                os.unlink(console)
            except FileNotFoundError:
                pass
            csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                csock.bind(sock_addr(console))
                csock.listen(1)
                err_r, err_w = os.pipe()
                try:
                    pid = spawn(self.runtime_base + args[:1]
                                + ["--console-socket", sock_addr(console)]
                                + args[1:] + [self.id], devnull, devnull, err_w)
                except OSError as e:
                    os.close(err_r)
                    raise RuntimeError_(f"{self.runtime_base[0]}: {e.strerror}") from None
                finally:
                    os.close(err_w)
                    os.close(devnull)
                status, (err,) = collect(pid, [err_r])
                os.close(err_r)
                if status != 0:
                    raise RuntimeError_(err.decode("utf-8", "replace").strip()
                                        or f"{args[0]}: exit status {status_to_code(status)}")
                csock.settimeout(10)
                conn, _ = csock.accept()
                with conn:
                    conn.settimeout(10)
                    _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                if not fds:
                    raise RuntimeError_("runtime sent no console fd over the console socket")
            finally:
                csock.close()
                try:
                    os.unlink(console)
                except FileNotFoundError:
                    pass
            p.master = fds[0]
            os.set_inheritable(p.master, False)
            os.set_blocking(p.master, False)
            p.outputs[p.master] = "stdout"
            p.stdin_fd = os.dup(p.master)  # a separate fd for the write direction
            os.set_blocking(p.stdin_fd, False)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if p.stdin_open:
                in_r, in_w = os.pipe()
            else:
                in_r, in_w = devnull, -1
            try:
                pid = spawn(self.runtime_base + args + [self.id], in_r, out_w, err_w)
            except OSError as e:
                for fd in (out_r, err_r) + ((in_w,) if in_w >= 0 else ()):
                    os.close(fd)
                raise RuntimeError_(f"{self.runtime_base[0]}: {e.strerror}") from None
            finally:
                os.close(out_w)
                os.close(err_w)
                if in_r != devnull:
                    os.close(in_r)
                os.close(devnull)
            # The runtime's own messages go to the process's stdout/stderr pipes.
            status, (out, err) = collect(pid, [out_r, err_r])
            if status != 0:
                if in_w >= 0:
                    os.close(in_w)
                more_out, more_err = read_all([out_r, err_r], timeout=1.0)
                os.close(out_r)
                os.close(err_r)
                msg = (err + more_err + out + more_out).decode("utf-8", "replace").strip()
                raise RuntimeError_(msg or f"{args[0]}: exit status {status_to_code(status)}")
            if out or err:
                log(f"runtime {args[0]} said: {(err + out).decode('utf-8', 'replace').strip()}")
            p.outputs[out_r] = "stdout"
            p.outputs[err_r] = "stderr"
            if in_w >= 0:
                os.set_blocking(in_w, False)
                p.stdin_fd = in_w
        with open(pid_file) as f:
            p.pid = int(f.read().strip())

    def create(self) -> int:
        """`runtime create`; sets up stdio. Returns the init pid or raises RuntimeError_."""
        pid_file = os.path.join(self.dir, "init.pid")
        self.run_with_stdio(self.init, ["create", "--bundle", self.cfg["bundle"],
                                        "--pid-file", pid_file],
                            pid_file, os.path.join(self.dir, "console.sock"))
        self.find_cgroup()
        return self.init.pid

    def find_cgroup(self) -> None:
        """Remember the memory-cgroup files that record OOM kills for this container."""
        try:
            with open(f"/proc/{self.init.pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            path = parts[2].lstrip("/")
            if "memory" in parts[1].split(","):
                self.cgroup_files.append(os.path.join("/sys/fs/cgroup/memory", path,
                                                      "memory.oom_control"))
            elif parts[0] == "0" and parts[1] == "":
                self.cgroup_files.append(os.path.join("/sys/fs/cgroup", path, "memory.events"))
                self.cgroup_files.append(os.path.join("/sys/fs/cgroup/unified", path,
                                                      "memory.events"))

    def oom_killed(self) -> bool:
        for path in self.cgroup_files:
            try:
                with open(path) as f:
                    for line in f:
                        k, _, v = line.partition(" ")
                        if k == "oom_kill" and int(v) > 0:
                            return True
            except (OSError, ValueError):
                continue
        return False

    # ---- event loop -----------------------------------------------------------------------

    def serve(self) -> None:
        """Run the loop until init has exited and its output is drained, then finish."""
        sock_path = os.path.join(self.dir, "shim.sock")
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, self.on_accept)
        wr, ww = os.pipe()
        os.set_blocking(wr, False)
        os.set_blocking(ww, False)
        self.wake_r = wr
        signal.set_wakeup_fd(ww, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(wr, selectors.EVENT_READ, self.on_signal)
        self.watch_outputs(self.init)
        self.reap()  # init may already be gone
        errors = 0
        while True:
            timeout = None
            for p in [self.init, *self.execs.values()]:
                if p.exit is None or p.done:
                    continue
                if not p.outputs:
                    if p is self.init:
                        break
                    self.finish_exec(p)
                    continue
                left = max(p.exited_mono, p.last_output) + DRAIN_TIMEOUT - time.monotonic()
                if left <= 0:
                    if p.output_paused:  # stuck readers hold up the drain
                        for a in list(p.attachers.values()):
                            if len(a.out) > HIGH_WATER:
                                log(f"{p.name()}: dropping an attach stream that does not read")
                                self.drop(p, a)
                        p.last_output = time.monotonic()
                        left = DRAIN_TIMEOUT
                    else:
                        log(f"{p.name()}: no EOF on the output after exit; closing it")
                        for fd in list(p.outputs):
                            self.close_output(p, fd)
                        left = 0
                timeout = left if timeout is None else min(timeout, left)
            else:
                for key, mask in self.sel.select(timeout):
                    try:
                        key.data(key, mask)
                    except Exception:  # noqa: BLE001 - keep serving the container
                        errors += 1
                        log_exception(f"handler error #{errors}")
                        if errors > 100:
                            raise
                continue
            break
        self.finish(sock_path)

    def watch_outputs(self, p: Proc) -> None:
        for fd in p.outputs:
            self.sel.register(fd, selectors.EVENT_READ,
                              lambda key, mask, p=p: self.on_output(p, key))

    def on_signal(self, key: selectors.SelectorKey, mask: int) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        self.reap()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            p: Proc | None = self.init if pid == self.init.pid else \
                next((x for x in self.execs.values() if x.pid == pid), None)
            if p is None or p.exit is not None:
                continue
            p.exit = {"exit_code": status_to_code(status), "exited_at": now(),
                      "oom_killed": False}
            p.exited_mono = time.monotonic()
            log(f"{p.name()} {pid} exited: {p.exit['exit_code']}")
            if p is self.init and not self.has_pid_ns():
                try:  # processes outside a pid namespace would hold the pipes open
                    self.runtime("kill", "--all", self.id, "9")
                except RuntimeError_:
                    pass

    def has_pid_ns(self) -> bool:
        try:
            with open(os.path.join(self.cfg["bundle"], "config.json")) as f:
                spec = json.load(f)
            return any(ns.get("type") == "pid" and not ns.get("path")
                       for ns in spec.get("linux", {}).get("namespaces", []))
        except (OSError, ValueError, AttributeError):
            return True

    # ---- process output -------------------------------------------------------------------

    def on_output(self, p: Proc, key: selectors.SelectorKey) -> None:
        fd = key.fd
        stream = p.outputs[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:  # EIO on the pty master once every slave is closed
            if e.errno != errno.EIO:
                log(f"{p.name()}: read {stream}: {e}")
            data = b""
        if not data:
            self.close_output(p, fd)
            return
        p.last_output = time.monotonic()
        if p.log is not None:
            p.log.write(stream, data)
        if p.attachers:
            frame = data if p.tty else struct.pack(">BxxxL", STREAM_IDS[stream], len(data)) + data
            for a in list(p.attachers.values()):
                if a.stdout if stream == "stdout" else a.stderr:
                    self.send(p, a, frame)

    def close_output(self, p: Proc, fd: int) -> None:
        p.outputs.pop(fd, None)
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        if fd != p.master:
            os.close(fd)

    def pause_output(self, p: Proc) -> None:
        paused = any(len(x.out) > HIGH_WATER for x in p.attachers.values())
        if paused == p.output_paused:
            return
        p.output_paused = paused
        if paused:
            for fd in p.outputs:
                self.sel.unregister(fd)
        else:
            self.watch_outputs(p)

    # ---- attach streams -------------------------------------------------------------------

    def send(self, p: Proc, a: Attacher, data: bytes) -> None:
        if a.out:
            a.out += data
        else:
            try:
                n = a.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                self.drop(p, a)
                return
            if n < len(data):
                a.out += data[n:]
        self.update_attacher(p, a)

    def update_attacher(self, p: Proc, a: Attacher) -> None:
        events = (selectors.EVENT_READ if a.reading and not self.stdin_full(p) else 0) | \
                 (selectors.EVENT_WRITE if a.out else 0)
        registered = a.fd in self.sel.get_map()
        try:
            if events and registered:
                self.sel.modify(a.fd, events, lambda key, mask: self.on_attacher(p, key, mask))
            elif events:
                self.sel.register(a.fd, events, lambda key, mask: self.on_attacher(p, key, mask))
            elif registered:
                self.sel.unregister(a.fd)
        except (KeyError, ValueError, OSError):
            pass
        self.pause_output(p)

    def on_attacher(self, p: Proc, key: selectors.SelectorKey, mask: int) -> None:
        a = p.attachers.get(key.fd)
        if a is None:
            return
        if mask & selectors.EVENT_WRITE and a.out:
            try:
                n = a.sock.send(a.out)
                del a.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.drop(p, a)
                return
        if mask & selectors.EVENT_READ:
            try:
                data = a.sock.recv(READ_SIZE)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                a.reading = False  # half-close: stdin EOF, keep sending output
                if a.stdin and a.stdin_once:
                    self.close_stdin(p)
                if not (a.stdout or a.stderr):
                    self.drop(p, a)
                    return
            elif data and a.stdin:
                self.write_stdin(p, data)
        self.update_attacher(p, a)

    def drop(self, p: Proc, a: Attacher) -> None:
        p.attachers.pop(a.fd, None)
        try:
            self.sel.unregister(a.fd)
        except (KeyError, ValueError):
            pass
        a.sock.close()
        self.pause_output(p)

    def add_attacher(self, p: Proc, sock: socket.socket, req: dict, rest: bytes,
                     default_once: bool) -> None:
        sock.setblocking(False)
        a = Attacher(sock, req, default_once)
        p.attachers[a.fd] = a
        if rest and a.stdin:
            self.write_stdin(p, rest)
        self.update_attacher(p, a)

    def close_attachers(self, p: Proc) -> None:
        """Flush and half-close every attach stream of p (the client then sees EOF)."""
        for a in list(p.attachers.values()):
            try:
                self.sel.unregister(a.fd)
            except (KeyError, ValueError):
                pass
            try:
                a.sock.setblocking(True)
                a.sock.settimeout(5)
                if a.out:
                    a.sock.sendall(a.out)
                a.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            a.sock.close()
        p.attachers.clear()

    # ---- process stdin --------------------------------------------------------------------

    def stdin_full(self, p: Proc) -> bool:
        return len(p.stdin_buf) > HIGH_WATER

    def write_stdin(self, p: Proc, data: bytes) -> None:
        if p.stdin_fd is None or p.stdin_close_pending or not p.stdin_open:
            return
        was_full = self.stdin_full(p)
        p.stdin_buf += data
        self.flush_stdin(p)
        if self.stdin_full(p) != was_full:
            for a in list(p.attachers.values()):
                self.update_attacher(p, a)

    def flush_stdin(self, p: Proc) -> None:
        if p.stdin_fd is None:
            return
        while p.stdin_buf:
            try:
                n = os.write(p.stdin_fd, p.stdin_buf)
            except BlockingIOError:
                break
            except OSError as e:  # EPIPE: the process closed its stdin
                log(f"{p.name()}: write stdin: {e}")
                p.stdin_buf.clear()
                break
            del p.stdin_buf[:n]
        registered = p.stdin_fd in self.sel.get_map()
        if p.stdin_buf and not registered:
            self.sel.register(p.stdin_fd, selectors.EVENT_WRITE,
                              lambda key, mask: self.on_stdin_writable(p))
        elif not p.stdin_buf:
            if registered:
                self.sel.unregister(p.stdin_fd)
            if p.stdin_close_pending:
                p.stdin_close_pending = False
                self.do_close_stdin(p)

    def on_stdin_writable(self, p: Proc) -> None:
        was_full = self.stdin_full(p)
        self.flush_stdin(p)
        if was_full and not self.stdin_full(p):
            for a in list(p.attachers.values()):
                self.update_attacher(p, a)

    def close_stdin(self, p: Proc) -> None:
        """Close p's stdin once queued input is written (no-op with a TTY)."""
        if p.stdin_fd is None or p.tty:
            return
        if p.stdin_buf:
            p.stdin_close_pending = True
        else:
            self.do_close_stdin(p)

    def do_close_stdin(self, p: Proc) -> None:
        if p.stdin_fd is not None:
            if p.stdin_fd in self.sel.get_map():
                self.sel.unregister(p.stdin_fd)
            os.close(p.stdin_fd)
            p.stdin_fd = None

    # ---- control socket -------------------------------------------------------------------

    def on_accept(self, key: selectors.SelectorKey, mask: int) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        self.conns[sock.fileno()] = Conn(sock)
        self.sel.register(sock, selectors.EVENT_READ, self.on_conn)

    def on_conn(self, key: selectors.SelectorKey, mask: int) -> None:
        c = self.conns[key.fd]
        try:
            data = c.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            c.buf += data
            if b"\n" not in c.buf and len(c.buf) < (1 << 20):
                return
        del self.conns[key.fd]
        self.sel.unregister(key.fd)
        line, _, rest = bytes(c.buf).partition(b"\n")
        if not line.strip():
            c.sock.close()
            return
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("request is not an object")
        except ValueError as e:
            self.reply(c.sock, {"error": f"bad request: {e}"})
            return
        self.handle(c.sock, req, rest)

    def reply(self, sock: socket.socket, obj: dict, keep: bool = False) -> bool:
        try:
            sock.setblocking(True)
            sock.settimeout(5)
            sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
            ok = True
        except OSError:
            ok = False
        if not keep or not ok:
            sock.close()
        return ok

    def proc(self, req: dict) -> Proc:
        exec_id = req.get("exec_id")
        if not exec_id:
            return self.init
        p = self.execs.get(str(exec_id))
        if p is None:
            raise RuntimeError_(f"no such exec: {exec_id}")
        return p

    def handle(self, sock: socket.socket, req: dict, rest: bytes) -> None:
        op = req.get("op")
        try:
            if op == "wait" or op == "exec_wait":
                p = self.proc(req) if op == "exec_wait" else self.init
                if p.done:
                    self.reply(sock, dict(ok=True, **(p.exit or {})))
                else:
                    p.waiters.append(sock)
                    self.sel.register(sock, selectors.EVENT_READ,
                                      lambda key, mask: self.on_waiter(p, sock))
                return
            if op == "attach":
                p = self.proc(req)
                if p.done:
                    raise RuntimeError_("process has exited")
                if self.reply(sock, {"ok": True}, keep=True):
                    self.add_attacher(p, sock, req, rest,
                                      bool(self.cfg.get("stdin_once")) if p is self.init else True)
                return
            if op == "exec":
                self.exec(sock, req, rest)
                return
            if op == "start":
                if self.init.exit is not None:
                    raise RuntimeError_("container has already exited")
                self.runtime("start", self.id)
                res = {"ok": True, "pid": self.init.pid, "started_at": now()}
            elif op == "state":
                res = self.state(self.proc(req))
            elif op == "kill":
                p = self.proc(req)
                sig = int(req.get("signal", 15))
                if p is self.init:
                    self.runtime(*(["kill"] + (["--all"] if req.get("all") else [])
                                   + [self.id, str(sig)]))
                elif p.exit is None:
                    os.kill(p.pid, sig)
                else:
                    raise RuntimeError_("process already finished")
                res = {"ok": True}
            elif op == "resize":
                p = self.proc(req)
                if p.master is None:
                    raise RuntimeError_("process has no TTY")
                import fcntl
                import termios
                fcntl.ioctl(p.master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", int(req["height"]), int(req["width"]), 0, 0))
                res = {"ok": True}
            elif op == "close_stdin":
                self.close_stdin(self.proc(req))
                res = {"ok": True}
            elif op in ("pause", "resume"):
                self.runtime(op, self.id)
                res = {"ok": True}
            elif op == "pids":
                if self.init.exit is not None:
                    res = {"ok": True, "pids": []}
                else:
                    pids = json.loads(self.runtime("ps", "--format", "json", self.id) or b"[]")
                    res = {"ok": True, "pids": pids or []}
            else:
                res = {"error": f"unknown op {op!r}"}
        except RuntimeError_ as e:
            res = {"error": str(e)}
        except (OSError, ValueError, KeyError, TypeError) as e:
            res = {"error": f"{op}: {e}"}
        self.reply(sock, res)

    def on_waiter(self, p: Proc, sock: socket.socket) -> None:
        """A waiting client hung up (or sent junk): forget it."""
        try:
            if sock.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.sel.unregister(sock)
        p.waiters.remove(sock)
        sock.close()

    def state(self, p: Proc) -> dict:
        if p.exit is not None:
            return {"ok": True, "status": "stopped", "pid": p.pid,
                    "exit_code": p.exit["exit_code"]}
        if p is not self.init:
            return {"ok": True, "status": "running", "pid": p.pid}
        st = json.loads(self.runtime("state", self.id))
        return {"ok": True, "status": st.get("status", "unknown"), "pid": st.get("pid", p.pid)}

    def exec(self, sock: socket.socket, req: dict, rest: bytes) -> None:
        """Start an exec process; unless detached the connection becomes its attach stream."""
        exec_id = str(req.get("exec_id") or "")
        process = req.get("process")
        if not exec_id or not isinstance(process, dict):
            raise ValueError("exec needs exec_id and process")
        if exec_id in self.execs:
            raise RuntimeError_(f"exec {exec_id} already exists")
        if self.init.exit is not None:
            raise RuntimeError_("container has exited")
        tty = bool(req.get("tty"))
        detach = bool(req.get("detach"))
        p = Proc(exec_id, tty, bool(req.get("stdin")) and not detach, None)
        self.exec_seq += 1
        base = os.path.join(self.dir, f"x{self.exec_seq}")
        process = dict(process, terminal=tty)
        write_bytes(base + ".json", json.dumps(process).encode())
        try:
            self.run_with_stdio(p, ["exec", "--process", base + ".json", "--detach",
                                    "--pid-file", base + ".pid"], base + ".pid", base + ".sock")
        finally:
            for suffix in (".json", ".pid"):
                try:
                    os.unlink(base + suffix)
                except FileNotFoundError:
                    pass
        self.execs[exec_id] = p
        self.watch_outputs(p)
        if not self.reply(sock, {"ok": True, "pid": p.pid}, keep=not detach) or detach:
            return
        self.add_attacher(p, sock, {"stdin": p.stdin_open, "stdout": req.get("stdout", True),
                                    "stderr": req.get("stderr", True)}, rest, True)

    # ---- exit -----------------------------------------------------------------------------

    def finish_exec(self, p: Proc) -> None:
        """An exec exited and its output is drained: close its streams, answer its waiters."""
        for fd in list(p.outputs):
            self.close_output(p, fd)
        if p.master is not None:
            os.close(p.master)
            p.master = None
        self.do_close_stdin(p)
        if p.exit is None:  # died with the container without being reaped here
            p.exit = {"exit_code": 137, "exited_at": now(), "oom_killed": False}
        p.done = True
        self.close_attachers(p)
        for w in p.waiters:
            try:
                self.sel.unregister(w)
            except (KeyError, ValueError):
                pass
            self.reply(w, dict(ok=True, **p.exit))
        p.waiters.clear()

    def drain_requests(self) -> None:
        """Answer requests already connected or queued in the listen backlog, then stop."""
        socks = [c.sock for c in self.conns.values()]
        self.conns.clear()
        while True:
            try:
                sock, _ = self.listener.accept()
                socks.append(sock)
            except OSError:
                break
        for sock in socks:
            try:
                sock.setblocking(True)
                sock.settimeout(0.5)
                buf = b""
                while b"\n" not in buf:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                req = json.loads(buf.split(b"\n", 1)[0])
            except (OSError, ValueError):
                sock.close()
                continue
            if req.get("op") in ("attach", "exec"):
                self.reply(sock, {"error": "container has exited"})
            else:
                self.handle(sock, req, b"")

    def finish(self, sock_path: str) -> None:
        """Record the exit, delete the container, answer waiters, close streams, go."""
        p = self.init
        assert p.exit is not None
        for fd in list(p.outputs):
            self.close_output(p, fd)
        if p.master is not None:
            os.close(p.master)
            p.master = None
        if p.log is not None:
            p.log.close()
        p.exit["oom_killed"] = self.oom_killed()
        write_bytes(os.path.join(self.dir, "exit.json"),
                     json.dumps(p.exit, separators=(",", ":")).encode())
        p.done = True
        try:
            self.runtime("delete", self.id)
        except RuntimeError_ as e:
            log(f"delete: {e}")
            try:
                self.runtime("delete", "--force", self.id)
            except RuntimeError_ as e2:
                log(f"delete --force: {e2}")
        self.reap()  # execs that died with the container
        for x in self.execs.values():
            if not x.done:
                self.finish_exec(x)
        # Leave DIR before anyone learns of the exit: a waiter may at once spawn the next
        # shim (a restart) in the same DIR, and nothing of ours may touch its files.
        for path in (sock_path, os.path.join(self.dir, "shim.pid")):
            try:
                os.unlink(path)  # no new connections; the queued ones are answered below
            except FileNotFoundError:
                pass
        for w in p.waiters:
            self.sel.unregister(w)
            self.reply(w, dict(ok=True, **p.exit))
        p.waiters.clear()
        self.close_attachers(p)
        self.drain_requests()
        self.listener.close()
        log("exit")


def launch(state_dir: str) -> int:
    """First process: fork the daemonised shim, relay its one-line report, exit."""
    state_dir = os.path.abspath(state_dir)
    try:
        with open(os.path.join(state_dir, "shim.json"), "rb") as f:
            cfg = json.load(f)
        for k in ("id", "bundle", "runtime"):
            if not cfg.get(k):
                raise ValueError(f"shim.json: missing {k!r}")
    except (OSError, ValueError) as e:
        print(json.dumps({"error": f"shim: {e}"}), flush=True)
        return 1
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            code = daemon(state_dir, cfg, w)
        except BaseException:  # noqa: BLE001 - the shim must never propagate
            try:
                log_exception("fatal")
            except Exception:  # noqa: BLE001
                pass
        finally:
            os._exit(code)
    os.close(w)
    data = bytearray()
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    line = bytes(data).split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        res = json.loads(line)
    except ValueError:
        res = {"error": f"shim died during create; see {state_dir}/shim.log"}
        line = json.dumps(res)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0 if "pid" in res else 1


def daemon(state_dir: str, cfg: dict, report_fd: int) -> int:
    """The long-lived shim: detach, create the container, report, serve until it exits."""
    global _dir_fd
    os.setsid()
    os.chdir("/")
    _dir_fd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    logfd = os.open(os.path.join(state_dir, "shim.log"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    nullfd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nullfd, 0)
    os.dup2(logfd, 1)
    os.dup2(logfd, 2)
    os.close(nullfd)
    os.close(logfd)
    set_subreaper()

    def report(obj: dict) -> None:
        try:
            os.write(report_fd, json.dumps(obj).encode() + b"\n")
        except OSError:
            pass
        os.close(report_fd)

    sock_path = os.path.join(state_dir, "shim.sock")
    pid_path = os.path.join(state_dir, "shim.pid")
    for stale in ("exit.json", "init.pid", "shim.sock"):
        try:
            os.unlink(os.path.join(state_dir, stale))
        except FileNotFoundError:
            pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(sock_addr(sock_path))
        listener.listen(64)  # requests queue up here until the loop runs
        write_bytes(pid_path, f"{os.getpid()}".encode())
        shim = Shim(state_dir, cfg, listener)
        pid = shim.create()
    except (RuntimeError_, OSError, ValueError, KeyError) as e:
        msg = str(e)
        log(f"create failed: {msg}")
        listener.close()
        for path in (sock_path, pid_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            runtime_base = [cfg["runtime"]] + (["--root", cfg["runtime_root"]]
                                               if cfg.get("runtime_root") else [])
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            p = spawn(runtime_base + ["delete", "--force", cfg["id"]], null, null, null)
            os.close(null)
            os.waitpid(p, 0)
        except OSError:
            pass
        report({"error": msg})
        return 1
    log(f"created {cfg['id']}: init pid {pid}")
    report({"pid": pid})
    shim.serve()
    return 0
