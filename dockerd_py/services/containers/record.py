"""A container's persistent record and its state machine.

`config.v2.json` and `hostconfig.json` keep Docker's layout (DEFAULTS.md §8),
so `inspect` round-trips what the client sent. Every write is atomic; on
load, whether a container really runs is re-derived from its shim.
"""

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ...errors import Conflict
from ...state import atomic

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class State:
    status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: dict | None = None  # {"Status", "FailingStreak", "Log"} once started with a healthcheck

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    def to_json(self) -> dict:
        out = {"Status": self.status, "Running": self.running, "Paused": self.status == "paused",
               "Restarting": self.status == "restarting", "OOMKilled": self.oom_killed,
               "Dead": self.status == "dead", "Pid": self.pid, "ExitCode": self.exit_code,
               "Error": self.error, "StartedAt": self.started_at, "FinishedAt": self.finished_at}
        if self.health is not None:
            out["Health"] = {**self.health, "Log": list(self.health.get("Log") or [])}
        return out

    @classmethod
    def from_json(cls, data: dict) -> "State":
        status = data.get("Status", "created")
        return cls(status=status, pid=data.get("Pid", 0), exit_code=data.get("ExitCode", 0),
                   error=data.get("Error", ""), oom_killed=data.get("OOMKilled", False),
                   started_at=data.get("StartedAt", ZERO_TIME), finished_at=data.get("FinishedAt", ZERO_TIME),
                   health=data.get("Health"))


@dataclass
class Container:
    id: str
    name: str  # with the leading "/"
    created: str
    image_id: str
    config: dict[str, Any]  # the API's Config, merged with the image's defaults
    host_config: dict[str, Any]
    path: str = ""
    args: list[str] = field(default_factory=list)
    state: State = field(default_factory=State)
    restart_count: int = 0
    runtime_dir: str = ""  # exec-root/containers/<id>: the shim's state dir
    dir: str = ""  # data-root/containers/<id>
    network_settings: dict[str, Any] = field(default_factory=dict)
    has_been_started: bool = False
    manually_stopped: bool = False
    legacy_read_only: bool = False  # created through API < 1.44: read-only host binds are not recursively so
    no_new_privileges: bool = False  # fixed at create: the daemon's --no-new-privileges, then SecurityOpt
    exits: int = field(default=0, compare=False)  # in memory: exits seen since load, for wait(next-exit)
    removed: bool = field(default=False, compare=False)
    restart_delay: float = field(default=0.0, compare=False)  # in memory: the restart policy's back-off
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    changed: threading.Condition = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    def etc_path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    # --- guards: illegal transitions raise Docker's conflicts -------------
    def ensure_running(self) -> None:
        if not self.state.running:
            raise Conflict(f"container {self.id} is not running")

    def ensure_not_paused(self) -> None:
        if self.state.status == "paused":
            raise Conflict(f"Container {self.id} is paused, unpause the container before stopping or killing")

    # --- persistence ------------------------------------------------------
    def save(self) -> None:
        atomic.write_json(os.path.join(self.dir, "config.v2.json"), self._config_v2())
        atomic.write_json(os.path.join(self.dir, "hostconfig.json"), self.host_config)

    def _config_v2(self) -> dict:
        return {"ID": self.id, "Name": self.name, "Created": self.created, "Image": self.image_id,
                "Config": self.config, "Path": self.path, "Args": self.args, "State": self.state.to_json(),
                "RestartCount": self.restart_count, "Driver": "overlay2", "OS": "linux",
                "NetworkSettings": self.network_settings, "LogPath": self.log_path,
                "HasBeenStartedBefore": self.has_been_started, "HasBeenManuallyStopped": self.manually_stopped,
                "DefaultReadOnlyNonRecursive": self.legacy_read_only, "NoNewPrivileges": self.no_new_privileges,
                "HostnamePath": self.etc_path("hostname"), "HostsPath": self.etc_path("hosts"),
                "ResolvConfPath": self.etc_path("resolv.conf")}

    @classmethod
    def load(cls, directory: str, runtime_dir: str) -> "Container":
        data = atomic.read_json(os.path.join(directory, "config.v2.json"))
        host_config = atomic.read_json(os.path.join(directory, "hostconfig.json"))
        return cls(id=data["ID"], name=data["Name"], created=data["Created"], image_id=data["Image"],
                   config=data["Config"], host_config=host_config, path=data.get("Path", ""),
                   args=data.get("Args", []), state=State.from_json(data.get("State", {})),
                   restart_count=data.get("RestartCount", 0), runtime_dir=runtime_dir, dir=directory,
                   network_settings=data.get("NetworkSettings", {}),
                   has_been_started=data.get("HasBeenStartedBefore", False),
                   manually_stopped=data.get("HasBeenManuallyStopped", False),
                   legacy_read_only=data.get("DefaultReadOnlyNonRecursive", False),
                   no_new_privileges=data.get("NoNewPrivileges", False))
