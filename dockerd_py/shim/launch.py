"""Start-up: the first process forks the daemonised shim and relays its one-line report.

The daemonised shim detaches (setsid, cwd /, stdio to DIR/shim.log), becomes a child
subreaper, binds DIR/shim.sock, runs `runtime create`, reports, and serves.
"""

import json
import os
import socket
import sys

from ..state.atomic import write_bytes
from .runtime import Runtime, RuntimeCallError
from .server import Shim
from .shimlog import log, log_exception
from .statedir import keep_dir_fd, sock_addr

PR_SET_CHILD_SUBREAPER = 36


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
    os.setsid()
    os.chdir("/")
    keep_dir_fd(state_dir)
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
    except (RuntimeCallError, OSError, ValueError, KeyError) as e:
        msg = str(e)
        log(f"create failed: {msg}")
        listener.close()
        for path in (sock_path, pid_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            Runtime(cfg).run("delete", "--force", cfg["id"])
        except (RuntimeCallError, OSError):
            pass
        report({"error": msg})
        return 1
    log(f"created {cfg['id']}: init pid {pid}")
    report({"pid": pid})
    shim.serve()
    return 0


def set_subreaper() -> None:
    """Orphaned descendants (the container's init, detached execs) become our children."""
    import ctypes  # only here: ~2 ms of import time

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
