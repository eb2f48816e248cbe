"""The shim fork server ("zygote"): starts shims by fork(2) instead of exec; stdlib only.

One per daemon exec-root, run by the daemon's `lifecycle.ShimLauncher` as its own
process (never forked from the threaded daemon):

    python3 -S -c '...forkserver import main...' SOCK LOG VERSION [GRACE_SECONDS]

It binds SOCK, forks the long-lived server (setsid, cwd /, stdin /dev/null, stdout and
stderr appended to LOG), prints `{"pid": N}` (or `{"error": ...}`) and exits: once that
line is out, SOCK accepts connections. The server has the shim's modules imported and
`gc.freeze()`d, so a forked shim shares the interpreter's pages copy-on-write (its
memory is only the pages it writes) and starts in about a millisecond instead of a
whole interpreter start-up.

One request line (JSON) per connection:

| request | reply |
|---|---|
| `{"op":"spawn","dir":ABS_DIR,"env":{...}}` | what `dockerd-py-shim DIR` prints: `{"pid": N}` or `{"error": ...}` |
| `{"op":"ping"}` | `{"ok":true,"pid":N,"version":V,"spawned":N}` |
| `{"op":"watch"}` | `{"ok":true}`; the connection then stays open: a daemon that uses this server |
| `{"op":"exit"}` | removes SOCK, `{"ok":true}`, exits (shims are not affected) |

spawn: the server forks a child that sheds everything of the server (listening socket,
selector, watch connections, signal handlers and wakeup fd), takes the connection as
its stdout and `env` (if given) as its environment, and runs `__main__.run(DIR)`, the
very code of `dockerd-py-shim DIR`: it forks the daemonised shim (setsid, subreaper,
runtime create) and writes its report line to the daemon. The server replies nothing
itself, except `{"error": ..., "forkserver": true}` when it could not fork. It reaps
its direct children (they exit once their shim has reported); it is no subreaper, so
the shims are re-parented past it, exactly as with the command line.

Lifetime: shims never depend on the server (kill it: they run on). The server exits
- on `exit`, SIGTERM or SIGINT (and removes SOCK if SOCK is still its own);
- when SOCK no longer is its socket (replaced by a newer server, or removed);
- GRACE seconds (default 60) after the last watching daemon went away, or after its
  start if none ever watched: a daemon restarted within that time reuses it; a daemon
  gone for good leaves nothing running behind.
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys
import time

# What every child runs: loaded once, shared.
from . import (attach, control, exits, jsonlog, launch, loop, proc, runtime,  # noqa: F401
               server, shimlog, statedir)
from .__main__ import run as run_shim

# The shim's lazy imports (subreaper, resize, error logs), loaded once here too.
import ctypes  # noqa: E402,F401
import fcntl  # noqa: E402
import termios  # noqa: E402,F401
import traceback  # noqa: E402

ORPHAN_GRACE = 60.0     # seconds without a watching daemon before the server exits
CHECK_INTERVAL = 5.0    # how often SOCK and the grace period are checked
REQUEST_TIMEOUT = 5.0   # for a client to send its request line
MAX_REQUEST = 1 << 20


def log(msg: str) -> None:
    try:
        sys.stderr.write(f"{jsonlog.now()} shim-forkserver[{os.getpid()}] "
                         f"{msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def read_request(sock: socket.socket) -> dict:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise ValueError("request too long")
    req = json.loads(bytes(buf).split(b"\n", 1)[0] or b"null")
    if not isinstance(req, dict):
        raise ValueError("request is not an object")
    return req


def send(sock: socket.socket, obj: dict) -> None:
    try:
        sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
    except OSError:
        pass


def set_comm(name: str) -> None:
    """The process name ps/top show by default (the command line stays the fork server's)."""
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, name[:15].encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def sock_ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class ForkServer:
    def __init__(self, sock_path: str, listener: socket.socket, version: str,
                 grace: float) -> None:
        self.sock_path = sock_path
        self.listener = listener
        self.ident = sock_ident(sock_path)
        self.version = version
        self.grace = grace
        self.sel = selectors.DefaultSelector()
        self.watchers: dict[int, socket.socket] = {}
        self.orphan_since: float | None = time.monotonic()
        self.spawned = 0
        self.stopping = ""
        self.wake_r = self.wake_w = -1
        self.interval = min(CHECK_INTERVAL, max(0.05, grace / 4))

    # ---- loop -----------------------------------------------------------------------------

    def serve(self) -> int:
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, self.on_accept)
        self.sel.register(self.wake_r, selectors.EVENT_READ, self.on_wake)
        # Everything allocated so far stays put: the collector never touches (and so
        # never dirties) these objects again, in the server or in any child.
        gc.collect()
        gc.freeze()
        log(f"serving {self.sock_path} (version {self.version}, grace {self.grace:g}s)")
        next_check = time.monotonic() + self.interval
        while not self.stopping:
            for key, _ in self.sel.select(max(0.0, next_check - time.monotonic())):
                try:
                    key.data(key)
                except Exception:  # noqa: BLE001 - keep serving
                    log(f"handler error: {traceback.format_exc()}")
                if self.stopping:
                    break
            self.reap()
            if time.monotonic() >= next_check:
                self.check()
                next_check = time.monotonic() + self.interval
        log(f"exit: {self.stopping} ({self.spawned} shims spawned)")
        self.shutdown()
        return 0

    def check(self) -> None:
        if sock_ident(self.sock_path) != self.ident:
            self.ident = None  # not ours any more: leave it alone
            self.stopping = f"{self.sock_path} was removed or replaced"
        elif (not self.watchers and self.orphan_since is not None
              and time.monotonic() - self.orphan_since >= self.grace):
            self.stopping = f"no daemon has watched for {self.grace:g}s"

    def on_term(self, signum: int, frame: object) -> None:
        self.stopping = f"signal {signum}"

    def on_wake(self, key: selectors.SelectorKey) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def remove_socket(self, locked: bool) -> None:
        """Unlink SOCK if it still is ours. Unless the caller holds SOCK.lock (an `exit`
        request from a launcher), take it, without waiting, so as not to race a launcher
        that is replacing us; if it is busy, that launcher deals with SOCK."""
        lock_fd = -1
        try:
            if not locked:
                lock_fd = os.open(self.sock_path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                  0o600)
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if self.ident is not None and sock_ident(self.sock_path) == self.ident:
                os.unlink(self.sock_path)
            self.ident = None
        except OSError:
            pass
        finally:
            if lock_fd >= 0:
                os.close(lock_fd)

    def shutdown(self) -> None:
        self.remove_socket(locked=False)
        for w in list(self.watchers.values()):
            w.close()
        self.watchers.clear()
        self.sel.close()
        self.listener.close()

    # ---- requests -------------------------------------------------------------------------

    def on_accept(self, key: selectors.SelectorKey) -> None:
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. EMFILE: let the clients' timeouts/fallback act
                log(f"accept: {e}")
                return
            try:
                conn.settimeout(REQUEST_TIMEOUT)
                req = read_request(conn)
            except (OSError, ValueError) as e:
                send(conn, {"error": f"fork server: bad request: {e}", "forkserver": True})
                conn.close()
                continue
            self.handle(conn, req)

    def handle(self, conn: socket.socket, req: dict) -> None:
        op = req.get("op")
        if op == "spawn":
            self.spawn(conn, req)
            return
        if op == "ping":
            send(conn, {"ok": True, "pid": os.getpid(), "version": self.version,
                        "spawned": self.spawned})
        elif op == "watch":
            send(conn, {"ok": True, "pid": os.getpid()})
            conn.setblocking(False)
            self.watchers[conn.fileno()] = conn
            self.sel.register(conn, selectors.EVENT_READ, self.on_watcher)
            self.orphan_since = None
            return
        elif op == "exit":
            self.remove_socket(locked=True)  # before the reply: the caller binds a new one
            self.stopping = "asked to exit"
            send(conn, {"ok": True})
        else:
            send(conn, {"error": f"fork server: unknown op {op!r}", "forkserver": True})
        conn.close()

    def on_watcher(self, key: selectors.SelectorKey) -> None:
        conn = self.watchers.get(key.fd)
        if conn is None:
            return
        try:
            if conn.recv(4096):
                return  # a watcher has nothing to say; ignore it
        except BlockingIOError:
            return
        except OSError:
            pass
        self.sel.unregister(conn)
        del self.watchers[key.fd]
        conn.close()
        if not self.watchers:
            self.orphan_since = time.monotonic()

    def spawn(self, conn: socket.socket, req: dict) -> None:
        state_dir, env = req.get("dir"), req.get("env")
        if not isinstance(state_dir, str) or not os.path.isabs(state_dir) or (
                env is not None and not isinstance(env, dict)):
            send(conn, {"error": "fork server: spawn needs an absolute dir", "forkserver": True})
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as e:
            send(conn, {"error": f"fork server: fork: {e.strerror}", "forkserver": True})
            conn.close()
            return
        if pid == 0:
            self.child(conn, state_dir, env)  # never returns
        self.spawned += 1
        conn.close()  # the child has it

    # ---- the child ------------------------------------------------------------------------

    def child(self, conn: socket.socket, state_dir: str, env: dict | None) -> None:
        """Shed the server, then be `dockerd-py-shim DIR` with the connection as stdout."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's default
            self.sel.close()
            self.listener.close()
            for w in self.watchers.values():
                w.close()
            self.watchers.clear()
            os.close(self.wake_r)
            os.close(self.wake_w)
            set_comm("dockerd-py-shim")
            conn.setblocking(True)
            os.dup2(conn.fileno(), 1)  # fd 1 is the server's log: never conn's own fd
            conn.close()
            if env is not None:
                os.environ.clear()
                os.environ.update({str(k): str(v) for k, v in env.items()})
            code = run_shim(state_dir)
        except BaseException:  # noqa: BLE001 - a child never returns into the server
            try:
                log(f"child for {state_dir}: {traceback.format_exc()}")
            except BaseException:  # noqa: BLE001
                pass
        finally:
            try:
                sys.stdout.flush()
            except BaseException:  # noqa: BLE001
                pass
            os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4):
        sys.stderr.write("usage: forkserver SOCK LOG VERSION [GRACE_SECONDS]\n")
        return 2
    sock_path, log_path, version = args[:3]
    grace = float(args[3]) if len(args) == 4 else ORPHAN_GRACE
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        try:
            os.unlink(sock_path)  # stale: the launcher found nobody answering (it holds .lock)
        except FileNotFoundError:
            pass
        listener.bind(sock_path)
        listener.listen(128)
    except OSError as e:
        listener.close()
        print(json.dumps({"error": f"fork server: bind {sock_path}: {e}"}), flush=True)
        return 1
    finally:
        os.umask(old_umask)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        listener.close()
        print(json.dumps({"pid": pid}), flush=True)
        return 0
    code = 1
    try:
        os.setsid()
        os.chdir("/")
        set_comm("shim-forkserver")
        logfd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        nullfd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nullfd, 0)
        os.dup2(logfd, 1)  # the launcher reads its pipes to EOF: let go of them at once
        os.dup2(logfd, 2)
        os.close(nullfd)
        os.close(logfd)
        code = ForkServer(sock_path, listener, version, grace).serve()
    except BaseException:  # noqa: BLE001
        log(f"fatal: {traceback.format_exc()}")
    finally:
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
