"""Starting shims through the exec-root's shim fork server (dockerd_py/shim/forkserver.py).

`ShimLauncher(exec_root).spawn(cfg)` is `ShimClient.spawn(cfg, default_shim_cmd())`
without an interpreter start-up per container: the fork server, one per exec-root,
forks each shim from an interpreter that has the shim loaded, so the shims share its
pages. `ShimClient.spawn(cfg, launcher)` does the same (engine → runner wiring).

- The fork server is exec'd as a process of its own (`python3 -S -c ...`, like the
  shim's command line), never forked from the daemon: the daemon is threaded, and the
  fork server must be independent of the daemon's memory anyway.
- Files: <exec-root>/shim-forkserver.sock, .sock.lock (serialises starting one) and
  shim-forkserver.log.
- A launcher reuses a live fork server of its exec-root when it answers with this
  code's version (a hash of the interpreter and the shim's sources); one of another
  version is told to exit and replaced; a socket nobody answers on is replaced.
- The launcher keeps a "watch" connection open to the fork server: the fork server
  exits ORPHAN_GRACE seconds after its last daemon is gone (so a restarted daemon reuses
  it, and a daemon stopped for good leaves nothing behind). `close(stop=True)` (a clean
  daemon shutdown) stops it at once. Shims never depend on it.
- Thread-safe: every spawn has a connection of its own; starting the server is locked.
- DOCKERD_PY_SHIM_FORKSERVER=0 in the daemon's environment turns the fork server off.
- If the fork server cannot be reached or started, the shim is exec'd as before
  (`shim_cmd DIR`), with a warning in the daemon's log; after a failed start the fork
  server is not tried again for RETRY_AFTER seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from ..errors import SystemErr
from .shim_client import (ShimClient, TaskConfig, client_from_report, default_shim_cmd, exec_shim,
                          prepare_state_dir)

log = logging.getLogger("dockerd_py.lifecycle")

SOCK_NAME = "shim-forkserver.sock"
LOG_NAME = "shim-forkserver.log"


class ForkServerUnavailable(Exception):
    """The fork server cannot be used for this spawn (nothing was started)."""


def forkserver_cmd() -> list[str]:
    """This interpreter running the fork server without site (-S), as default_shim_cmd."""
    import dockerd_py

    root = os.path.dirname(os.path.dirname(os.path.abspath(dockerd_py.__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from dockerd_py.shim.forkserver import main; sys.exit(main())")
    return [sys.executable, "-S", "-c", code]


def forkserver_version() -> str:
    """Identifies the code a fork server would run: interpreter + the shim's sources."""
    from .. import shim

    h = hashlib.sha256(f"{sys.executable}\0{sys.version}\0".encode())
    shim_dir = os.path.dirname(os.path.abspath(shim.__file__))
    for name in sorted(os.listdir(shim_dir)):
        if name.endswith(".py"):
            h.update(name.encode() + b"\0")
            with open(os.path.join(shim_dir, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def _read_line(s: socket.socket) -> dict[str, Any] | None:
    """One JSON line, or None if the peer closed (or reset) the connection without one."""
    buf = bytearray()
    while b"\n" not in buf:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
    line = bytes(buf).split(b"\n", 1)[0]
    if not line.strip():
        return None
    res = json.loads(line)
    if not isinstance(res, dict):
        raise ValueError(f"not an object: {line[:200]!r}")
    return res


class ShimLauncher:
    """Starts shims for one daemon (exec-root): fork server first, exec as the fallback."""

    CONNECT_TIMEOUT = 5.0
    REPLY_TIMEOUT = 120.0    # runtime create, as ShimClient.spawn's subprocess timeout
    START_TIMEOUT = 30.0
    RETRY_AFTER = 30.0       # after a failed fork-server start, exec shims this long

    def __init__(self, exec_root: str, shim_cmd: list[str] | None = None, *,
                 use_forkserver: bool | None = None, start: bool = False,
                 grace: float | None = None) -> None:
        self.exec_root = os.path.abspath(exec_root)
        self.sock_path = os.path.join(self.exec_root, SOCK_NAME)
        self.lock_path = self.sock_path + ".lock"
        self.log_path = os.path.join(self.exec_root, LOG_NAME)
        self.shim_cmd = list(shim_cmd) if shim_cmd else default_shim_cmd()
        if use_forkserver is None:
            use_forkserver = os.environ.get("DOCKERD_PY_SHIM_FORKSERVER", "1") != "0"
        self.use_forkserver = use_forkserver
        self.grace = grace
        self.version = forkserver_version()
        self._lock = threading.Lock()
        self._watch: socket.socket | None = None
        self._pid: int | None = None
        self._down_until = 0.0
        self._closed = False
        self.exec_fallbacks = 0  # spawns that could not use the fork server
        if use_forkserver and start:  # warm up off the caller's path; spawns wait for it
            threading.Thread(target=self._warm_up, name="shim-forkserver-start",
                             daemon=True).start()

    # ---- spawning -------------------------------------------------------------------------

    def spawn(self, cfg: TaskConfig) -> ShimClient:
        """Write shim.json and start the shim (runtime create); SystemErr on failure."""
        prepare_state_dir(cfg)
        if self.use_forkserver and not self._closed:
            try:
                return client_from_report(cfg, self._spawn_forked(cfg.state_dir))
            except ForkServerUnavailable as e:
                log.warning("shim fork server %s unavailable (%s); starting the shim for %s "
                            "by exec", self.sock_path, e, cfg.id[:12])
                self.exec_fallbacks += 1
        return client_from_report(cfg, exec_shim(cfg, self.shim_cmd))

    def _spawn_forked(self, state_dir: str) -> dict[str, Any]:
        if time.monotonic() < self._down_until:
            raise ForkServerUnavailable("its last start failed")
        req = json.dumps({"op": "spawn", "dir": os.path.abspath(state_dir),
                          "env": dict(os.environ)}).encode() + b"\n"
        for attempt in range(2):
            if attempt or self._watch is None:
                self._ensure()
            try:
                s = self._connect()
            except OSError as e:
                if attempt:
                    raise ForkServerUnavailable(f"connect: {e}") from None
                self._forget()
                continue
            with s:
                try:
                    s.sendall(req)
                    s.settimeout(self.REPLY_TIMEOUT)
                    res = _read_line(s)
                except (BrokenPipeError, ConnectionResetError) as e:
                    res = None
                    why = str(e)
                except OSError as e:  # a timeout: a shim may be half-way; don't start another
                    raise SystemErr(f"failed to start shim: no report from the fork server: {e}"
                                    ) from None
                except ValueError as e:
                    raise SystemErr(f"failed to start shim: bad report: {e}") from None
                else:
                    why = "connection closed without a report"
            if res is None:
                # Killed before it forked (nothing was started: try again), or the child
                # died (a shim may exist: report the failure, as for an exec'd shim).
                if self._ping() is None and not os.path.exists(
                        os.path.join(state_dir, "shim.pid")):
                    self._forget()
                    if attempt:
                        raise ForkServerUnavailable(why)
                    continue
                raise SystemErr(f"failed to start shim: {why}; see {state_dir}/shim.log "
                                f"and {self.log_path}")
            if res.get("forkserver"):  # refused before forking
                raise ForkServerUnavailable(str(res.get("error", res)))
            return res
        raise ForkServerUnavailable("unreachable")  # pragma: no cover

    # ---- the fork server ------------------------------------------------------------------

    def server_pid(self) -> int | None:
        """The pid of the fork server in use, if any."""
        return self._pid

    def ensure_server(self) -> int:
        """Reuse or start the fork server; its pid. ForkServerUnavailable if impossible."""
        self._ensure()
        assert self._pid is not None
        return self._pid

    def _warm_up(self) -> None:
        try:
            self._ensure()
        except ForkServerUnavailable as e:
            log.warning("shim fork server %s: %s; shims will be exec'd", self.sock_path, e)
        except Exception:  # noqa: BLE001 - a background thread; spawns retry
            log.exception("shim fork server %s", self.sock_path)

    def _connect(self, timeout: float | None = None) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(self.CONNECT_TIMEOUT if timeout is None else timeout)
        try:
            s.connect(self.sock_path)
        except BaseException:
            s.close()
            raise
        return s

    def _request(self, obj: dict[str, Any], keep: bool = False
                 ) -> tuple[dict[str, Any] | None, socket.socket | None]:
        """One request to the fork server; (reply or None if nobody answers, open socket)."""
        try:
            s = self._connect()
        except OSError:
            return None, None
        try:
            s.sendall(json.dumps(obj).encode() + b"\n")
            res = _read_line(s)
        except (OSError, ValueError):
            res = None
        if res is None or not keep:
            s.close()
            return res, None
        s.settimeout(None)
        return res, s

    def _ping(self) -> dict[str, Any] | None:
        res, _ = self._request({"op": "ping"})
        return res if res and res.get("ok") else None

    def _forget(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            self._pid = None

    def _ensure(self) -> None:
        """Under the lock: a live fork server of our version is watched by us."""
        with self._lock:
            if self._closed:
                raise ForkServerUnavailable("the launcher is closed")
            info = self._ping()
            if info and info.get("version") == self.version and self._watch is not None \
                    and info.get("pid") == self._pid:
                return
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            try:
                os.makedirs(self.exec_root, mode=0o711, exist_ok=True)
                lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as e:
                self._down_until = time.monotonic() + self.RETRY_AFTER
                raise ForkServerUnavailable(str(e)) from None
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)  # another daemon process may be at it
                self._pid = self._reuse_or_start()
            except ForkServerUnavailable:
                self._pid = None
                self._down_until = time.monotonic() + self.RETRY_AFTER
                raise
            finally:
                os.close(lock_fd)
            res, self._watch = self._request({"op": "watch"}, keep=True)
            if self._watch is None:
                self._pid = None
                raise ForkServerUnavailable("the fork server went away right after its start")

    def _reuse_or_start(self) -> int:
        """With SOCK.lock held: the pid of a live fork server of our version."""
        info = self._ping()
        if info is not None:
            if info.get("version") == self.version:
                log.info("reusing shim fork server %s (pid %s)", self.sock_path, info.get("pid"))
                return int(info["pid"])
            log.info("shim fork server %s (pid %s) runs version %s, not %s: replacing it",
                     self.sock_path, info.get("pid"), info.get("version"), self.version)
            self._request({"op": "exit"})
        elif os.path.exists(self.sock_path):
            log.info("shim fork server socket %s is stale: replacing it", self.sock_path)
        argv = [*forkserver_cmd(), self.sock_path, self.log_path, self.version]
        if self.grace is not None:
            argv.append(str(self.grace))
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=self.START_TIMEOUT, cwd="/")
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ForkServerUnavailable(f"cannot start it: {e}") from None
        out = proc.stdout.decode("utf-8", "replace").strip().splitlines()
        try:
            res = json.loads(out[-1])
            pid = int(res["pid"])
        except (IndexError, ValueError, KeyError, TypeError):
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise ForkServerUnavailable(
                f"cannot start it: exit status {proc.returncode}: {out[-1:] or ''} {err}"
            ) from None
        log.info("started shim fork server %s (pid %d)", self.sock_path, pid)
        return pid

    def close(self, stop: bool = False) -> None:
        """Let go of the fork server; with stop, tell it to exit now (shims live on).
        Without, it exits once no daemon has watched it for its grace period."""
        with self._lock:
            self._closed = True
            if stop and self._watch is not None:
                lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX)
                    info = self._ping()
                    if info and info.get("pid") == self._pid:
                        self._request({"op": "exit"})
                finally:
                    os.close(lock_fd)
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            self._pid = None


__all__ = ["ShimLauncher", "ForkServerUnavailable", "forkserver_cmd", "forkserver_version"]
