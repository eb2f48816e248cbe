"""The shim proper: one container's processes, the requests about them, and its end.

`Shim.create` runs `runtime create`; `Shim.serve` runs the event loop (loop.py) until the
container's init has exited and its output is drained, answering control requests
(control.py; contracts.md §2) and reaping children (exits.py) on the way; `finish` then
records the exit, deletes the container and answers whoever waited.
"""

import json
import os
import socket
import struct

from ..state.atomic import write_bytes
from .control import ControlSocket, reply
from .exits import has_own_pid_ns, oom_event_files, oom_killed, reaped, write_exit
from .jsonlog import JSONLog, now
from .loop import Loop
from .proc import Proc
from .runtime import Runtime, RuntimeCallError
from .shimlog import log


class Shim:
    """One container's shim."""

    def __init__(self, state_dir: str, cfg: dict, listener: socket.socket) -> None:
        self.dir = state_dir
        self.cfg = cfg
        self.id: str = cfg["id"]
        self.runtime = Runtime(cfg)
        self.loop = Loop()
        self.control = ControlSocket(listener, self.loop.sel, self.handle)
        logger = JSONLog(cfg["log_path"], cfg.get("log_max_size") or 0, cfg.get("log_max_file") or 1,
                         bool(cfg.get("log_compress"))) if cfg.get("log_path") else None
        self.init = Proc("", bool(cfg.get("tty")), bool(cfg.get("stdin")), logger, self.loop.sel)
        self.execs: dict[str, Proc] = {}
        self.exec_seq = 0
        self.oom_files: list[str] = []

    def create(self) -> int:
        """`runtime create`; sets up stdio. Returns the init pid or raises RuntimeCallError."""
        pid_file = os.path.join(self.dir, "init.pid")
        self.run_with_stdio(self.init, ["create", "--bundle", self.cfg["bundle"],
                                        "--pid-file", pid_file],
                            pid_file, os.path.join(self.dir, "console.sock"))
        self.oom_files = oom_event_files(self.init.pid)
        return self.init.pid

    def run_with_stdio(self, p: Proc, args: list[str], pid_file: str, console: str) -> None:
        """`RUNTIME args [--console-socket console] ID` with new stdio for p; sets p.pid."""
        p.set_stdio(self.runtime.run_with_stdio(args, p.tty, p.stdin_open, console,
                                                running=p is not self.init))
        with open(pid_file) as f:
            p.pid = int(f.read().strip())

    # ---- event loop -----------------------------------------------------------------------

    def serve(self) -> None:
        """Run the loop until init has exited and its output is drained, then finish."""
        self.control.start()
        self.loop.on_sigchld(self.reap)
        self.init.watch_outputs()
        self.reap()  # init may already be gone
        while self.init.exit is None or self.init.outputs:
            self.loop.run_once(self.drain_exited())
        self.finish()

    def drain_exited(self) -> float | None:
        """Finish the execs that exited and are drained; return how long the loop may wait
        before a drain timeout is due (None: no limit)."""
        timeout = None
        for p in [self.init, *self.execs.values()]:
            if p.exit is None or p.done:
                continue
            if not p.outputs:  # an exec: the loop ends when init is drained
                self.finish_exec(p)
                continue
            left = p.drain_timeout()
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    def reap(self) -> None:
        for pid, exit_code in reaped():
            p = self.init if pid == self.init.pid else \
                next((x for x in self.execs.values() if x.pid == pid), None)
            if p is None or p.exit is not None:
                continue
            p.set_exit(exit_code)
            log(f"{p.name()} {pid} exited: {exit_code}")
            if p is self.init and not has_own_pid_ns(self.cfg["bundle"]):
                try:  # processes outside a pid namespace would hold the pipes open
                    self.runtime.run("kill", "--all", self.id, "9")
                except RuntimeCallError:
                    pass

    # ---- requests -------------------------------------------------------------------------

    def proc(self, req: dict) -> Proc:
        exec_id = req.get("exec_id")
        if not exec_id:
            return self.init
        p = self.execs.get(str(exec_id))
        if p is None:
            raise RuntimeCallError(f"no such exec: {exec_id}")
        return p

    def handle(self, sock: socket.socket, req: dict, rest: bytes) -> None:
        """Serve one control request; `rest` is what the client sent after its line."""
        op = req.get("op")
        try:
            if op == "wait" or op == "exec_wait":
                p = self.proc(req) if op == "exec_wait" else self.init
                if p.done:
                    reply(sock, dict(ok=True, **(p.exit or {})))
                else:
                    p.waiters.add(sock)
                return
            if op == "attach":
                p = self.proc(req)
                if p.done:
                    raise RuntimeCallError("process has exited")
                if reply(sock, {"ok": True}, keep=True):
                    p.add_attacher(sock, req, rest,
                                   bool(self.cfg.get("stdin_once")) if p is self.init else True)
                return
            if op == "exec":
                self.exec(sock, req, rest)
                return
            if op == "exec_delete":
                p = self.proc(req)
                if p is self.init or not p.done:
                    raise RuntimeCallError("exec is still running")
                del self.execs[p.exec_id]
                reply(sock, {"ok": True})
                return
            if op == "start":
                if self.init.exit is not None:
                    raise RuntimeCallError("container has already exited")
                self.runtime.run("start", self.id)
                res = {"ok": True, "pid": self.init.pid, "started_at": now()}
            elif op == "state":
                res = self.state(self.proc(req))
            elif op == "kill":
                p = self.proc(req)
                sig = int(req.get("signal", 15))
                if p is self.init:
                    self.runtime.run(*(["kill"] + (["--all"] if req.get("all") else [])
                                       + [self.id, str(sig)]))
                elif p.exit is None:
                    os.kill(p.pid, sig)
                else:
                    raise RuntimeCallError("process already finished")
                res = {"ok": True}
            elif op == "resize":
                p = self.proc(req)
                if p.master is None:
                    raise RuntimeCallError("process has no TTY")
                import fcntl
                import termios
                fcntl.ioctl(p.master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", int(req["height"]), int(req["width"]), 0, 0))
                res = {"ok": True}
            elif op == "close_stdin":
                self.proc(req).close_stdin()
                res = {"ok": True}
            elif op in ("pause", "resume"):
                self.runtime.run(op, self.id)
                res = {"ok": True}
            elif op == "pids":
                if self.init.exit is not None:
                    res = {"ok": True, "pids": []}
                else:
                    pids = json.loads(self.runtime.run("ps", "--format", "json", self.id) or b"[]")
                    res = {"ok": True, "pids": pids or []}
            else:
                res = {"error": f"unknown op {op!r}"}
        except RuntimeCallError as e:
            res = {"error": str(e)}
        except (OSError, ValueError, KeyError, TypeError) as e:
            res = {"error": f"{op}: {e}"}
        reply(sock, res)

    def state(self, p: Proc) -> dict:
        if p.exit is not None:
            return {"ok": True, "status": "stopped", "pid": p.pid,
                    "exit_code": p.exit["exit_code"]}
        if p is not self.init:
            return {"ok": True, "status": "running", "pid": p.pid}
        st = json.loads(self.runtime.run("state", self.id))
        return {"ok": True, "status": st.get("status", "unknown"), "pid": st.get("pid", p.pid)}

    def exec(self, sock: socket.socket, req: dict, rest: bytes) -> None:
        """Start an exec process; unless detached the connection becomes its attach stream."""
        exec_id = str(req.get("exec_id") or "")
        process = req.get("process")
        if not exec_id or not isinstance(process, dict):
            raise ValueError("exec needs exec_id and process")
        if exec_id in self.execs:
            raise RuntimeCallError(f"exec {exec_id} already exists")
        if self.init.exit is not None:
            raise RuntimeCallError("container has exited")
        tty = bool(req.get("tty"))
        detach = bool(req.get("detach"))
        p = Proc(exec_id, tty, bool(req.get("stdin")) and not detach, None, self.loop.sel)
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
        p.watch_outputs()
        if not reply(sock, {"ok": True, "pid": p.pid}, keep=not detach) or detach:
            return
        p.add_attacher(sock, {"stdin": p.stdin_open, "stdout": req.get("stdout", True),
                              "stderr": req.get("stderr", True)}, rest, True)

    # ---- the end --------------------------------------------------------------------------

    def finish_exec(self, p: Proc) -> None:
        """An exec exited and its output is drained: close its streams, answer its waiters."""
        p.close_outputs_and_pty()
        p.close_stdin_now()
        if p.exit is None:  # died with the container without being reaped here
            p.set_exit(137)
        p.done = True
        p.close_attachers()
        p.waiters.answer(dict(ok=True, **p.exit))

    def finish(self) -> None:
        """Record the exit, delete the container, answer waiters, close streams, go."""
        p = self.init
        assert p.exit is not None
        p.close_outputs_and_pty()
        if p.log is not None:
            p.log.close()
        p.exit["oom_killed"] = oom_killed(self.oom_files)
        try:
            self.runtime.run("delete", self.id)
        except RuntimeCallError as e:
            log(f"delete: {e}")
            try:
                self.runtime.run("delete", "--force", self.id)
            except RuntimeCallError as e2:
                log(f"delete --force: {e2}")
        self.reap()  # execs that died with the container
        for x in self.execs.values():
            if not x.done:
                self.finish_exec(x)
        # Exits of execs the daemon has not deleted yet (it may be down): for after we are gone.
        write_exit(self.dir, dict(p.exit, execs={x.exec_id: x.exit["exit_code"]
                                                 for x in self.execs.values() if x.exit}))
        p.done = True
        # Leave DIR before anyone learns of the exit: a waiter may at once spawn the next
        # shim (a restart) in the same DIR, and nothing of ours may touch its files.
        for name in ("shim.sock", "shim.pid"):
            try:
                os.unlink(os.path.join(self.dir, name))  # no new connections; queued ones
            except FileNotFoundError:                    # are answered below
                pass
        p.waiters.answer(dict(ok=True, **p.exit))
        p.close_attachers()
        self.control.drain(self.handle_late)
        log("exit")

    def handle_late(self, sock: socket.socket, req: dict, rest: bytes) -> None:
        """A request that was queued when the container's end was recorded."""
        if req.get("op") in ("attach", "exec"):
            reply(sock, {"error": "container has exited"})
        else:
            self.handle(sock, req, rest)
