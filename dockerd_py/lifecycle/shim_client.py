"""The daemon's side of the shim protocol (docs/contracts.md §2)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import SystemErr
from ..state import atomic

SHIM_JSON_FIELDS = ("id", "bundle", "runtime", "runtime_root", "log_path", "tty", "stdin",
                    "stdin_once", "log_max_size", "log_max_file", "log_compress")


@dataclass
class TaskConfig:
    """What a shim needs to run one container; everything but state_dir goes to shim.json.

    log_path "" disables logging (--log-driver none)."""

    state_dir: str
    id: str
    bundle: str
    runtime: str
    runtime_root: str
    log_path: str
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    log_max_size: int = 0    # json-file max-size in bytes (0: no rotation); extension
    log_max_file: int = 1    # json-file max-file; extension
    log_compress: bool = False  # json-file compress: gzip the rotated files; extension

    def shim_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: d[k] for k in SHIM_JSON_FIELDS}


@dataclass(frozen=True)
class StartInfo:
    """Reply to start: the container's init pid and when it was released."""

    pid: int
    started_at: str


@dataclass(frozen=True)
class ExitStatus:
    """How a container ended (exit.json)."""

    exit_code: int
    exited_at: str
    oom_killed: bool = False


class ShimError(SystemErr):
    """The shim answered {"error": ...}; the message is the runtime's stderr or the shim's text."""


class ShimGone(SystemErr):
    """No shim is listening on shim.sock (it exited, or died with the host)."""


_LOGRUS_MSG = re.compile(r'level=(?:error|fatal)\s+msg="((?:[^"\\]|\\.)*)"')


def runtime_message(text: str) -> str:
    """The runtime's error message: the msg of runc's logrus lines, else the text itself."""
    msgs = []
    for m in _LOGRUS_MSG.finditer(text):
        try:
            msgs.append(json.loads(f'"{m.group(1)}"'))
        except ValueError:
            msgs.append(m.group(1))
    if msgs:
        return msgs[-1]
    for line in text.splitlines():  # crun style: "crun: message"/JSON log lines
        line = line.strip()
        if line.startswith("{"):
            try:
                msgs.append(json.loads(line).get("msg", line))
            except (ValueError, AttributeError):
                msgs.append(line)
        elif line:
            msgs.append(line)
    return msgs[-1] if msgs else text.strip()


def _exec(exec_id: str | None) -> dict[str, Any]:
    return {"exec_id": exec_id} if exec_id else {}


def _now() -> str:
    ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return (f"{base}.{frac:09d}".rstrip("0") if frac else base) + "Z"


def default_shim_cmd() -> list[str]:
    """This interpreter running the shim without site (-S): ~25 ms and ~5 MB less than
    the `dockerd-py-shim` console script, which pays for every .pth file in site-packages."""
    import dockerd_py

    root = os.path.dirname(os.path.dirname(os.path.abspath(dockerd_py.__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from dockerd_py.shim.__main__ import main; sys.exit(main())")
    return [sys.executable, "-S", "-c", code]


class ShimClient:
    """Talks to the shim of one container through DIR/shim.sock."""

    REQUEST_TIMEOUT = 60.0

    def __init__(self, state_dir: str) -> None:
        self.state_dir = os.path.abspath(state_dir)
        self.sock_path = os.path.join(self.state_dir, "shim.sock")
        self.pid: int | None = None  # container init pid, once known

    # ---- lifecycle ------------------------------------------------------------------------

    @classmethod
    def spawn(cls, cfg: TaskConfig, shim_cmd: "list[str] | Any") -> "ShimClient":
        """Write shim.json, start the shim (runtime create); raise SystemErr on failure.

        shim_cmd is the command to exec (`shim_cmd DIR`), or a launcher with
        `.spawn(cfg) -> ShimClient` (lifecycle.ShimLauncher: the exec-root's fork server)."""
        if not isinstance(shim_cmd, (list, tuple)):
            return shim_cmd.spawn(cfg)
        prepare_state_dir(cfg)
        return client_from_report(cfg, exec_shim(cfg, list(shim_cmd)))

    def _connect(self, timeout: float | None) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        dir_fd = -1
        try:
            if len(self.sock_path.encode()) < 100:
                s.connect(self.sock_path)
            else:  # too long for sun_path: go through an fd of the directory
                dir_fd = os.open(self.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                s.connect(f"/proc/self/fd/{dir_fd}/shim.sock")
        except (FileNotFoundError, ConnectionRefusedError) as e:
            s.close()
            raise ShimGone(f"shim is not running: {e.strerror}") from None
        except OSError as e:
            s.close()
            raise ShimError(f"cannot connect to shim: {e}") from None
        finally:
            if dir_fd >= 0:
                os.close(dir_fd)
        return s

    @staticmethod
    def _read_line(s: socket.socket, exact: bool = False) -> dict[str, Any]:
        """One reply line; with exact, never read past the newline (attach)."""
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 if exact else 4096)
            if not chunk:
                break
            buf += chunk
        if not buf:
            raise ShimGone("shim closed the connection without a reply")
        try:
            res = json.loads(bytes(buf).split(b"\n", 1)[0])
        except ValueError:
            raise ShimError(f"bad reply from shim: {bytes(buf)[:200]!r}") from None
        if "error" in res:
            raise ShimError(runtime_message(str(res["error"])))
        return res

    def _call(self, op: str, timeout: float | None = REQUEST_TIMEOUT, **kw: Any) -> dict[str, Any]:
        with self._connect(timeout) as s:
            try:
                s.sendall(json.dumps({"op": op, **kw}).encode() + b"\n")
                return self._read_line(s)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ShimGone(f"shim went away: {e.strerror}") from None
            except OSError as e:  # e.g. a timeout
                raise ShimError(f"shim {op}: {e}") from None

    def alive(self) -> bool:
        """Whether a shim is listening on shim.sock."""
        try:
            self._connect(2.0).close()
            return True
        except SystemErr:
            return False

    def start(self) -> StartInfo:
        res = self._call("start")
        self.pid = int(res["pid"])
        return StartInfo(pid=self.pid, started_at=str(res["started_at"]))

    def state(self) -> dict[str, Any]:
        """{"status": created|running|paused|stopped, "pid": N}."""
        res = self._call("state")
        res.pop("ok", None)
        return res

    def kill(self, signal: int, all: bool = False,  # noqa: A002 - contract name
             exec_id: str | None = None) -> None:
        """runtime kill (the container), or kill(2) of one exec process."""
        self._call("kill", signal=int(signal), all=bool(all), **_exec(exec_id))

    def exit_status(self) -> ExitStatus | None:
        """exit.json if the shim recorded one."""
        try:
            d = atomic.read_json(os.path.join(self.state_dir, "exit.json"))
        except (OSError, ValueError):
            return None
        return ExitStatus(int(d["exit_code"]), str(d["exited_at"]), bool(d.get("oom_killed")))

    def wait(self) -> ExitStatus:
        """Block until the container has exited; exit.json if the shim is gone; else 255."""
        try:
            res = self._call("wait", timeout=None)
            return ExitStatus(int(res["exit_code"]), str(res["exited_at"]),
                              bool(res.get("oom_killed")))
        except ShimGone:
            pass
        st = self.exit_status()
        if st is not None:
            return st
        return ExitStatus(255, _now(), False)

    def attach(self, stdin: bool, stdout: bool, stderr: bool,
               stdin_once: bool = False) -> socket.socket:
        """A connected stream socket: stdcopy frames out, raw stdin in (blocking mode)."""
        s = self._connect(self.REQUEST_TIMEOUT)
        try:
            s.sendall(json.dumps({"op": "attach", "stdin": bool(stdin), "stdout": bool(stdout),
                                  "stderr": bool(stderr), "stdin_once": bool(stdin_once)}
                                 ).encode() + b"\n")
            self._read_line(s, exact=True)
        except BaseException:
            s.close()
            raise
        s.settimeout(None)
        return s

    def resize(self, height: int, width: int, exec_id: str | None = None) -> None:
        self._call("resize", height=int(height), width=int(width), **_exec(exec_id))

    def close_stdin(self, exec_id: str | None = None) -> None:
        self._call("close_stdin", **_exec(exec_id))

    # ---- exec (extension of contracts.md §2) -----------------------------------------------

    def exec(self, exec_id: str, process: dict[str, Any], *, tty: bool = False,
             stdin: bool = False, detach: bool = False, stdout: bool = True,
             stderr: bool = True) -> tuple[int, socket.socket | None]:
        """`runtime exec --detach` of an OCI process; returns its pid and, unless detached,
        the stream socket (stdcopy frames out, raw stdin in; stdin closes on half-close)."""
        s = self._connect(self.REQUEST_TIMEOUT)
        try:
            s.sendall(json.dumps({"op": "exec", "exec_id": exec_id, "process": process,
                                  "tty": bool(tty), "stdin": bool(stdin), "detach": bool(detach),
                                  "stdout": bool(stdout), "stderr": bool(stderr)}
                                 ).encode() + b"\n")
            res = self._read_line(s, exact=True)
        except OSError as e:
            s.close()
            raise ShimError(f"shim exec: {e}") from None
        except BaseException:
            s.close()
            raise
        if detach:
            s.close()
            return int(res["pid"]), None
        s.settimeout(None)
        return int(res["pid"]), s

    def exec_wait(self, exec_id: str) -> ExitStatus:
        """Block until the exec has exited and its output is drained. Once the shim is gone:
        the exit exit.json recorded for it, else 255 (it died with the host)."""
        try:
            res = self._call("exec_wait", timeout=None, exec_id=exec_id)
            return ExitStatus(int(res["exit_code"]), str(res["exited_at"]), False)
        except ShimGone:
            pass
        try:
            d = atomic.read_json(os.path.join(self.state_dir, "exit.json"))
            return ExitStatus(int(d["execs"][exec_id]), str(d["exited_at"]), False)
        except (OSError, ValueError, KeyError, TypeError):
            return ExitStatus(255, _now(), False)

    def exec_delete(self, exec_id: str) -> None:
        """Forget a finished exec (its exit is recorded); ShimError while it runs."""
        self._call("exec_delete", exec_id=exec_id)

    def exec_state(self, exec_id: str) -> dict[str, Any]:
        """{"status": running|stopped, "pid": N[, "exit_code": N]}."""
        res = self._call("state", exec_id=exec_id)
        res.pop("ok", None)
        return res

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def pids(self) -> list[int]:
        return [int(p) for p in self._call("pids")["pids"]]


def prepare_state_dir(cfg: TaskConfig) -> None:
    """Before a shim starts in cfg.state_dir: no live shim there, no stale files, shim.json."""
    os.makedirs(cfg.state_dir, mode=0o711, exist_ok=True)
    if ShimClient(cfg.state_dir).alive():
        raise SystemErr(f"a shim is already running for {cfg.id} in {cfg.state_dir}")
    for stale in ("exit.json", "init.pid"):
        try:
            os.unlink(os.path.join(cfg.state_dir, stale))
        except FileNotFoundError:
            pass
    atomic.write_json(os.path.join(cfg.state_dir, "shim.json"), cfg.shim_json())


def exec_shim(cfg: TaskConfig, shim_cmd: list[str]) -> dict[str, Any]:
    """Run `shim_cmd DIR`; its report line ({"pid": N} or {"error": ...})."""
    try:
        proc = subprocess.run([*shim_cmd, cfg.state_dir], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemErr(f"failed to start shim: {e}") from None
    lines = [ln for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    try:
        res = json.loads(lines[-1])
        if not isinstance(res, dict):
            raise ValueError(res)
    except (IndexError, ValueError):
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise SystemErr(f"failed to start shim: exit status {proc.returncode}: {err}") from None
    return res


def client_from_report(cfg: TaskConfig, res: dict[str, Any]) -> ShimClient:
    """The client of a shim that reported `res`; SystemErr(runtime's message) on an error."""
    if "error" in res or "pid" not in res:
        raise SystemErr(runtime_message(str(res.get("error", res))))
    client = ShimClient(cfg.state_dir)
    client.pid = int(res["pid"])
    return client


__all__ = ["TaskConfig", "ShimClient", "StartInfo", "ExitStatus", "ShimError", "ShimGone",
           "runtime_message", "default_shim_cmd", "prepare_state_dir", "exec_shim",
           "client_from_report"]
