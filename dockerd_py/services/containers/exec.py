"""Exec instances: a new process in a running container (`docker exec`, healthchecks).

The process runs through the container's shim (contracts.md §2, op "exec"), which runs
`RUNTIME exec --process F --detach`: it joins every namespace and the cgroup of the
container, with the container's capabilities and seccomp profile (from the bundle's
config.json, as moby takes them from containerd's copy of the spec). The shim holds the
exec's stdio and reaps it, so an exec outlives a daemon restart: the records of live execs
(created or running) are kept beside the shim's state (<exec-root>/containers/<id>/execs/)
and reloaded by `restore`. Finished execs stay inspectable in memory until two sweeps of
the five-minute collection, as in moby.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from ...errors import Conflict, DockerError, InvalidParameter, NotFound, SystemErr, json_kind
from ...lifecycle import ShimClient, ShimError, ShimGone
from ...oci.capabilities import host_capabilities
from ...oci.host import detect
from ...oci.spec import process_env, replace_or_append_env
from ...oci.user import resolve_user
from ...state import atomic
from ...streams import parse_detach_keys
from .record import Container
from .runner import failure_exit_code

log = logging.getLogger("dockerd_py.exec")

GC_INTERVAL = 300.0  # seconds between the sweeps that forget finished execs (moby's execCommandGC)
EXIT_WAIT = 10.0     # how long an attached start waits for the exit once the stream ended


@dataclass
class ExecRecord:
    """One exec instance: moby's ExecConfig, as `GET /exec/{id}/json` shows it."""

    id: str
    container_id: str
    entrypoint: str
    args: list[str]
    env: list[str]
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    privileged: bool = False
    open_stdin: bool = False
    open_stdout: bool = False
    open_stderr: bool = False
    detach_keys: str = ""          # as given; "" is the default ctrl-p,ctrl-q (TTY only)
    console_size: list[int] | None = None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    live: bool = True              # in the container's ExecIDs: created or running
    can_remove: bool = field(default=False, compare=False)
    cond: threading.Condition = field(default_factory=threading.Condition, repr=False, compare=False)

    def to_file(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FILE_FIELDS}

    @classmethod
    def from_file(cls, d: dict[str, Any]) -> "ExecRecord":
        return cls(**{k: v for k, v in d.items() if k in _FILE_FIELDS})

    def command(self) -> str:
        """What moby appends to exec_create/exec_start actions (with its trailing space)."""
        return self.entrypoint + " " + " ".join(self.args)

    def inspect(self) -> dict[str, Any]:
        process: dict[str, Any] = {"tty": self.tty, "entrypoint": self.entrypoint,
                                   "arguments": list(self.args), "privileged": self.privileged}
        if self.user:
            process["user"] = self.user
        keys = parse_detach_keys(self.detach_keys) if self.detach_keys else b""
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": process, "OpenStdin": self.open_stdin,
                "OpenStderr": self.open_stderr, "OpenStdout": self.open_stdout,
                "CanRemove": self.can_remove, "ContainerID": self.container_id,
                "DetachKeys": base64.b64encode(keys).decode(), "Pid": self.pid}

    def wait_exit(self, timeout: float) -> int | None:
        with self.cond:
            self.cond.wait_for(lambda: self.exit_code is not None, timeout)
            return self.exit_code


_FILE_FIELDS = [f.name for f in fields(ExecRecord) if f.name not in ("cond", "can_remove")]


@dataclass
class ExecStream:
    """A started, attached exec: the shim's stream (stdcopy frames, raw for a TTY)."""

    record: ExecRecord
    sock: socket.socket


_OPTION_TYPES = {"User": str, "WorkingDir": str, "DetachKeys": str, "Tty": bool, "Privileged": bool,
                 "AttachStdin": bool, "AttachStdout": bool, "AttachStderr": bool, "Env": list, "Cmd": list,
                 "ConsoleSize": list}


def canonical_keys(body: dict[str, Any], names) -> dict[str, Any]:
    """Go's encoding/json matches field names case-insensitively (docker-py sends
    "detachKeys"): the body with the known names spelled as the API spells them."""
    by_lower = {name.lower(): name for name in names}
    return {by_lower.get(key.lower(), key): value for key, value in body.items()}


def console_size(value: Any, struct_name: str) -> list[int] | None:
    """A ConsoleSize [height, width] (Go's *[2]uint: missing entries are 0, extra ones ignored)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in value):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {struct_name}.ConsoleSize "
                               "of type [2]uint")
    return (list(value) + [0, 0])[:2]


def _type_check(options: dict[str, Any]) -> None:
    """httputils.ReadJSON's refusals of a value of the wrong JSON type."""
    def refuse(value: Any, key: str, go_type: str) -> InvalidParameter:
        return InvalidParameter(f"invalid JSON: json: cannot unmarshal {json_kind(value)} into Go struct field "
                                f"ExecOptions.{key} of type {go_type}")

    for key, kinds in _OPTION_TYPES.items():
        value = options.get(key)
        if value is not None and (not isinstance(value, kinds) or (kinds is int and isinstance(value, bool))):
            go_type = {str: "string", bool: "bool", list: "[]string"}[kinds]
            raise refuse(value, key, "[2]uint" if key == "ConsoleSize" else go_type)
    for key in ("Env", "Cmd"):
        bad = [v for v in options.get(key) or [] if not isinstance(v, str)]
        if bad:
            raise refuse(bad[0], key, "string")


class ExecService:
    """Exec instances of every container; the healthchecks run their probes through it."""

    def __init__(self, containers) -> None:
        self.containers = containers
        self._records: dict[str, ExecRecord] = {}
        self._lock = threading.Lock()
        self._last_gc = time.monotonic()

    # ---- lookup ---------------------------------------------------------------------------

    def get(self, exec_id: str) -> ExecRecord:
        """An exec whose container still exists; moby's 404 otherwise."""
        with self._lock:
            rec = self._records.get(exec_id)
        if rec is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        try:
            self.containers.get(rec.container_id)
        except NotFound:
            raise NotFound(f"No such exec instance: {exec_id}") from None
        return rec

    def startable(self, exec_id: str) -> tuple[ExecRecord, Container]:
        """moby's getExecConfig: the exec, if its container runs (404/409 otherwise)."""
        with self._lock:
            rec = self._records.get(exec_id)
        if rec is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        try:
            c = self.containers.get(rec.container_id)
        except NotFound:
            raise NotFound(f"No such container: {exec_id}") from None
        _ensure_active(c, c.id)
        return rec, c

    def inspect(self, exec_id: str) -> dict[str, Any]:
        rec = self.get(exec_id)
        with rec.cond:
            return rec.inspect()

    def container_exec_ids(self, container_id: str) -> list[str] | None:
        """The container's ExecIDs: its execs that are created or running (null if none)."""
        with self._lock:
            ids = [r.id for r in self._records.values() if r.container_id == container_id and r.live]
        return ids or None

    # ---- create ---------------------------------------------------------------------------

    def create(self, ref: str, options: dict[str, Any]) -> str:
        """POST /containers/{id}/exec; publishes exec_create."""
        options = canonical_keys(options, _OPTION_TYPES)
        _type_check(options)
        cmd = list(options.get("Cmd") or [])
        if not cmd:
            raise InvalidParameter("No exec command specified")
        c = self.containers.get(ref)
        _ensure_active(c, ref)
        user = options.get("User") or ""
        if user:
            resolve_user(self._rootfs(c), user, c.host_config.get("GroupAdd"))  # fail early, as moby
        detach_keys = options.get("DetachKeys") or ""
        if detach_keys:
            try:
                parse_detach_keys(detach_keys)
            except ValueError:
                raise InvalidParameter(f"Invalid escape keys ({detach_keys}) provided") from None
        tty = bool(options.get("Tty"))
        links_env = self.containers.link_env(c)  # the links of now, as Docker's exec
        env = replace_or_append_env(process_env({"Tty": tty, "Env": [*links_env, *(c.config.get("Env") or [])]},
                                                c.config.get("Hostname", "")), options.get("Env") or [])
        size = console_size(options.get("ConsoleSize"), "ExecOptions")
        rec = ExecRecord(id=secrets.token_hex(32), container_id=c.id, entrypoint=cmd[0], args=cmd[1:],
                         env=env, user=user or c.config.get("User") or "",
                         working_dir=options.get("WorkingDir") or c.config.get("WorkingDir") or "",
                         tty=tty, privileged=bool(options.get("Privileged")),
                         open_stdin=bool(options.get("AttachStdin")),
                         open_stdout=bool(options.get("AttachStdout")),
                         open_stderr=bool(options.get("AttachStderr")), detach_keys=detach_keys,
                         console_size=size)
        self._gc()
        with self._lock:
            self._records[rec.id] = rec
        self._save(c, rec)
        self.containers.publish(c, f"exec_create: {rec.command()}", execID=rec.id)
        return rec.id

    # ---- start ----------------------------------------------------------------------------

    def start(self, exec_id: str, attach: bool, console_size: list[int] | None = None) -> ExecStream | None:
        """POST /exec/{id}/start: run the process; unless detached, its stream.

        Raises moby's 409s before anything runs; a process that cannot start gets Docker's
        exit code (127 not found, 126 not executable) and the error, with its message."""
        rec, c = self.startable(exec_id)
        with rec.cond:
            if rec.exit_code is not None:
                raise Conflict(f"exec command {rec.id} has already run")
            if rec.running:
                raise Conflict(f"exec command {rec.id} is already running")
            rec.running = True
        self.containers.publish(c, f"exec_start: {rec.command()}", execID=rec.id)
        shim = ShimClient(c.runtime_dir)
        try:
            process = self._process(c, rec, console_size)
            pid, sock = shim.exec(rec.id, process, tty=rec.tty, stdin=rec.open_stdin and attach,
                                  detach=not attach, stdout=rec.open_stdout, stderr=rec.open_stderr)
        except ShimGone:
            self._failed(c, rec, 126)
            raise Conflict(f"container {c.id} is not running") from None
        except ShimError as e:
            code = failure_exit_code(e.message)
            if code == 127 and rec.entrypoint.lower() not in e.message.lower():
                code = 126  # translateContainerdStartErr: "not found" is 127 only when it names the command
            self._failed(c, rec, 126 if code == 128 else code)  # exec's default when nothing said more
            msg = f"OCI runtime exec failed: {_exec_failed(e.message)}: unknown"
            raise (SystemErr(msg) if code == 128 else InvalidParameter(msg)) from None
        except DockerError as e:
            self._failed(c, rec, 126)
            raise e from None
        with rec.cond:
            rec.pid = pid
        self._save(c, rec)
        threading.Thread(target=self._monitor, args=(c, rec, shim), daemon=True,
                         name=f"exec-{rec.id[:12]}").start()
        return ExecStream(rec, sock) if sock is not None else None

    def _process(self, c: Container, rec: ExecRecord, console_size: list[int] | None) -> dict[str, Any]:
        """The container's OCI process with the exec's args, env, cwd, user and TTY."""
        try:
            spec = atomic.read_json(os.path.join(c.runtime_dir, "bundle", "config.json"))
        except (OSError, ValueError):
            raise Conflict(f"container {c.id} is not running") from None
        p = dict(spec["process"])
        p.update(args=[rec.entrypoint, *rec.args], env=list(rec.env), cwd=rec.working_dir or "/",
                 terminal=rec.tty)
        p.pop("consoleSize", None)
        size = console_size or rec.console_size
        if rec.tty and size and (size[0] or size[1]):
            p["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
        if rec.user:
            p["user"] = resolve_user(spec["root"]["path"], rec.user, c.host_config.get("GroupAdd"))
        if rec.privileged:
            caps = host_capabilities(detect())
            p["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
        return p

    def _failed(self, c: Container, rec: ExecRecord, exit_code: int) -> None:
        with rec.cond:
            rec.running, rec.live = False, False
            if rec.exit_code is None:
                rec.exit_code = exit_code
            rec.cond.notify_all()
        self._unsave(c, rec)

    # ---- running --------------------------------------------------------------------------

    def resize(self, exec_id: str, height: int, width: int) -> None:
        rec, c = self.startable(exec_id)
        deadline = time.monotonic() + 10
        while not rec.pid and rec.exit_code is None:  # moby waits for the exec to start
            if time.monotonic() > deadline:
                raise SystemErr("timeout waiting for exec session ready")
            time.sleep(0.02)
        if not rec.tty or rec.exit_code is not None:
            return
        try:
            ShimClient(c.runtime_dir).resize(height, width, exec_id=rec.id)
        except ShimGone:
            raise Conflict(f"container {c.id} is not running") from None
        except ShimError as e:
            if rec.exit_code is None and rec.running:
                raise SystemErr(e.message) from None

    def kill(self, exec_id: str, signal: int) -> None:
        """Signal a running exec (a probe past its timeout)."""
        rec = self.get(exec_id)
        c = self.containers.get(rec.container_id)
        try:
            ShimClient(c.runtime_dir).kill(signal, exec_id=rec.id)
        except (ShimGone, ShimError):
            pass  # already gone

    def _monitor(self, c: Container, rec: ExecRecord, shim: ShimClient) -> None:
        """Wait for the exit in the shim, record it, publish exec_die, let the shim forget it."""
        try:
            status = shim.exec_wait(rec.id)
            exit_code = status.exit_code
        except DockerError as e:  # e.g. the shim no longer knows it
            log.warning("exec %s: %s", rec.id[:12], e.message)
            exit_code = 255
        with rec.cond:
            rec.exit_code, rec.running, rec.live = exit_code, False, False
            rec.cond.notify_all()
        self._unsave(c, rec)
        self.containers.publish(c, "exec_die", execID=rec.id, exitCode=str(exit_code))
        try:
            shim.exec_delete(rec.id)
        except DockerError:
            pass  # the shim is gone with the container

    def detached(self, rec: ExecRecord) -> None:
        """The client detached (detach keys) from an attached exec."""
        self.containers.publish(self.containers.get(rec.container_id), "exec_detach", execID=rec.id)

    # ---- persistence ----------------------------------------------------------------------

    @staticmethod
    def _dir(c: Container) -> str:
        return os.path.join(c.runtime_dir, "execs")

    def _save(self, c: Container, rec: ExecRecord) -> None:
        with rec.cond:
            data = rec.to_file()
        try:
            try:
                os.mkdir(self._dir(c), 0o700)  # not makedirs: a vanished state dir stays gone
            except FileExistsError:
                pass
            atomic.write_json(os.path.join(self._dir(c), f"{rec.id}.json"), data)
        except OSError as e:  # the container went meanwhile, and its state dir with it
            log.debug("exec %s: not saved: %s", rec.id[:12], e)

    def _unsave(self, c: Container, rec: ExecRecord) -> None:
        try:
            os.unlink(os.path.join(self._dir(c), f"{rec.id}.json"))
        except FileNotFoundError:
            pass

    def restore(self) -> None:
        """After a daemon restart: the live execs of every container, and a monitor for each
        that was running (its shim answers, or exit.json has its exit)."""
        for c in self.containers.all():
            try:
                names = os.listdir(self._dir(c))
            except OSError:
                continue
            for name in names:
                try:
                    rec = ExecRecord.from_file(atomic.read_json(os.path.join(self._dir(c), name)))
                except (OSError, ValueError, TypeError):
                    continue
                with self._lock:
                    self._records[rec.id] = rec
                if rec.running:
                    threading.Thread(target=self._monitor, args=(c, rec, ShimClient(c.runtime_dir)),
                                     daemon=True, name=f"exec-{rec.id[:12]}").start()

    def _gc(self) -> None:
        """moby's execCommandGC, run lazily: a finished exec is marked on one sweep and
        forgotten on the next; the execs of removed containers go at once."""
        now = time.monotonic()
        if now - self._last_gc < GC_INTERVAL:
            return
        self._last_gc = now
        existing = {c.id for c in self.containers.all()}
        with self._lock:
            for rec in list(self._records.values()):
                if rec.container_id not in existing or (rec.can_remove and not rec.live):
                    del self._records[rec.id]
                elif not rec.live:
                    rec.can_remove = True

    @staticmethod
    def _rootfs(c: Container) -> str:
        try:
            return atomic.read_json(os.path.join(c.runtime_dir, "bundle", "config.json"))["root"]["path"]
        except (OSError, ValueError, KeyError):
            raise Conflict(f"container {c.id} is not running") from None

    # ---- probes ---------------------------------------------------------------------------

    def run_probe(self, c: Container, argv: list[str], timeout: float,
                  limit: int) -> tuple[int | None, bytes, bool]:
        """Run argv as the container's user in its working dir, as a healthcheck does.

        Returns (exit code, the first `limit` bytes of stdout+stderr, whether more came);
        exit code None when it did not finish within `timeout` (it is then killed)."""
        exec_id = self.create(c.id, {"Cmd": argv, "AttachStdout": True, "AttachStderr": True})
        stream = self.start(exec_id, attach=True)
        assert stream is not None
        out = bytearray()
        truncated = False
        reader = _FrameReader()
        deadline = time.monotonic() + timeout
        timed_out = False
        with stream.sock as sock:
            sock.shutdown(socket.SHUT_WR)  # no stdin
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                sock.settimeout(left)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    timed_out = True
                    break
                except OSError:
                    break
                if not data:
                    break
                for payload in reader.feed(data):
                    keep = max(0, min(limit - len(out), len(payload)))
                    out += payload[:keep]
                    truncated = truncated or keep < len(payload)
        if timed_out:  # as moby: kill it and go on (its exit is recorded when it comes)
            self.kill(exec_id, 9)
            return None, bytes(out), truncated
        return stream.record.wait_exit(EXIT_WAIT), bytes(out), truncated


class _FrameReader:
    """Payloads of Docker's stdcopy frames, fed in arbitrary pieces."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            (size,) = struct.unpack(">I", self.buf[4:8])
            if len(self.buf) < 8 + size:
                break
            out.append(bytes(self.buf[8:8 + size]))
            del self.buf[:8 + size]
        return out


def _ensure_active(c: Container, ref: str) -> None:
    """moby's getActiveContainer: running, not paused, not restarting (409s)."""
    status = c.state.status
    if status == "paused":
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    if status == "restarting":
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
    if status != "running":
        raise Conflict(f"container {c.id} is not running")


def _exec_failed(message: str) -> str:
    """runc's wording of an exec that failed to start, whichever runtime said it."""
    message = message.strip()
    if message.startswith("exec failed"):
        return message
    if message.startswith("unable to start container process"):
        return f"exec failed: {message}"
    return f"exec failed: unable to start container process: {message}"
