"""Running the OCI runtime's command line (contracts.md §1) and reading what it says.

Calls are synchronous: they take milliseconds, and the shim has no other thread. A
child is spawned with posix_spawn and read until EOF or its exit, whichever comes first:
a container, or a process the runtime left behind, may hold its pipes open.
"""

import os
import selectors
import signal
import socket
import time

from .shimlog import log
from .statedir import sock_addr

READ_SIZE = 32 * 1024  # bytes per read(2) of any pipe, pty or socket the shim reads


class RuntimeCallError(Exception):
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
    """A wait status as an exit code: 128 + the signal number if a signal killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def collect(pid: int, fds: list[int]) -> tuple[int, list[bytes]]:
    """Read the fds of child `pid` until they reach EOF or the child exits, whichever
    comes first; reap the child. Returns its wait status and what was read."""
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
            _read_ready(sel, events, out, skip=pidfd)
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


def _read_ready(sel: selectors.BaseSelector, events: list, out: dict[int, bytearray], skip: int = -1) -> None:
    """One read from each ready fd into `out`; an fd at EOF leaves the selector."""
    for key, _ in events:
        if key.fd == skip:
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


def read_all(fds: list[int], timeout: float) -> list[bytes]:
    """Read each fd to EOF, giving up after `timeout` seconds (what a failed runtime call
    left in its pipes)."""
    out = {fd: bytearray() for fd in fds}
    sel = selectors.DefaultSelector()
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while sel.get_map():
            events = sel.select(max(0.0, deadline - time.monotonic()))
            if not events:
                break
            _read_ready(sel, events, out)
    finally:
        sel.close()
    return [bytes(out[fd]) for fd in fds]


class Stdio:
    """Our ends of the stdio a process was started with."""

    __slots__ = ("outputs", "master", "stdin_fd")

    def __init__(self, outputs: dict[int, str], master: int | None,
                 stdin_fd: int | None) -> None:
        self.outputs = outputs      # fd -> "stdout" | "stderr"
        self.master = master        # the pty master (TTY), also the one output fd
        self.stdin_fd = stdin_fd    # where the process's stdin is written


class Runtime:
    """The runtime CLI for one container: `RUNTIME [--root ROOT] VERB ... ID`."""

    def __init__(self, cfg: dict) -> None:
        self.base = [cfg["runtime"]] + (["--root", cfg["runtime_root"]]
                                        if cfg.get("runtime_root") else [])
        self.id: str = cfg["id"]

    def run(self, *args: str) -> bytes:
        """Run `RUNTIME --root ROOT args...`; return stdout or raise RuntimeCallError(stderr)."""
        argv = self.base + list(args)
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid = spawn(argv, devnull, out_w, err_w)
        except OSError as e:
            for fd in (devnull, out_r, out_w, err_r, err_w):
                os.close(fd)
            raise RuntimeCallError(f"{argv[0]}: {e.strerror}") from None
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
            raise RuntimeCallError(msg)
        return out

    def run_with_stdio(self, args: list[str], tty: bool, stdin: bool, console: str,
                       running: bool = False) -> Stdio:
        """`RUNTIME args [--console-socket console] ID` giving the process new stdio: a pty
        whose master the runtime sends over `console` (tty), else pipes (stdin only if
        `stdin`). `running`: the process runs before the runtime exits (exec), so what is
        in the pipes then is its output, not the runtime's. Returns our ends, or raises
        RuntimeCallError."""
        if tty:
            return self._with_console(args, console)
        return self._with_pipes(args, stdin, running)

    def _with_console(self, args: list[str], console: str) -> Stdio:
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
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
                pid = spawn(self.base + args[:1] + ["--console-socket", sock_addr(console)]
                            + args[1:] + [self.id], devnull, devnull, err_w)
            except OSError as e:
                os.close(err_r)
                raise RuntimeCallError(f"{self.base[0]}: {e.strerror}") from None
            finally:
                os.close(err_w)
                os.close(devnull)
            status, (err,) = collect(pid, [err_r])
            os.close(err_r)
            if status != 0:
                raise RuntimeCallError(err.decode("utf-8", "replace").strip()
                                       or f"{args[0]}: exit status {status_to_code(status)}")
            csock.settimeout(10)
            conn, _ = csock.accept()
            with conn:
                conn.settimeout(10)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            if not fds:
                raise RuntimeCallError("runtime sent no console fd over the console socket")
        finally:
            csock.close()
            try:
                os.unlink(console)
            except FileNotFoundError:
                pass
        master = fds[0]
        os.set_inheritable(master, False)
        os.set_blocking(master, False)
        stdin_fd = os.dup(master)  # a separate fd for the write direction
        os.set_blocking(stdin_fd, False)
        return Stdio({master: "stdout"}, master, stdin_fd)

    def _with_pipes(self, args: list[str], stdin: bool, running: bool) -> Stdio:
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if stdin:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = devnull, -1
        try:
            pid = spawn(self.base + args + [self.id], in_r, out_w, err_w)
        except OSError as e:
            for fd in (out_r, err_r) + ((in_w,) if in_w >= 0 else ()):
                os.close(fd)
            raise RuntimeCallError(f"{self.base[0]}: {e.strerror}") from None
        finally:
            os.close(out_w)
            os.close(err_w)
            if in_r != devnull:
                os.close(in_r)
            os.close(devnull)
        # The runtime's own messages go to the process's stdout/stderr pipes.
        status, read = collect(pid, [] if running else [out_r, err_r])
        out, err = read or (b"", b"")
        if status != 0:
            if in_w >= 0:
                os.close(in_w)
            more_out, more_err = read_all([out_r, err_r], timeout=1.0)
            os.close(out_r)
            os.close(err_r)
            msg = (err + more_err + out + more_out).decode("utf-8", "replace").strip()
            raise RuntimeCallError(msg or f"{args[0]}: exit status {status_to_code(status)}")
        if out or err:
            log(f"runtime {args[0]} said: {(err + out).decode('utf-8', 'replace').strip()}")
        for fd in (out_r, err_r) + ((in_w,) if in_w >= 0 else ()):
            os.set_blocking(fd, False)
        return Stdio({out_r: "stdout", err_r: "stderr"}, None, in_w if in_w >= 0 else None)
