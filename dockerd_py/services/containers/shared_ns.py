"""PidMode/IpcMode `container:<ref>`: the namespaces a container joins, found at start.

As Docker: the donor must exist and be running (not restarting); an IPC donor must also be
`shareable` (or `host`), and its /dev/shm (shm.py, or the host's) becomes the joiner's.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import Conflict, InvalidParameter, NotFound
from . import shm
from .record import Container


@dataclass(frozen=True)
class Joined:
    namespaces: dict[str, int] = field(default_factory=dict)  # "pid"/"ipc" -> the donor's PID
    shm_path: str | None = None  # host dir bound as /dev/shm (IpcMode container:<ref>)


def _running_donor(ref: str, lookup: Callable[[str], Container], prefix: str = "") -> tuple[Container, int]:
    try:
        donor = lookup(ref)
    except NotFound as e:
        raise InvalidParameter(f"{prefix}{e}") from None
    with donor.lock:
        status, pid = donor.state.status, donor.state.pid
    if status == "restarting":
        raise Conflict(f"{prefix}Container {donor.id} is restarting, wait until the container is running")
    if status not in ("running", "paused") or not pid:
        raise Conflict(f"{prefix}container {ref} is not running")
    return donor, pid


def joined(host_config: dict, lookup: Callable[[str], Container]) -> Joined:
    """The namespaces (and /dev/shm) `host_config` takes from other containers."""
    namespaces: dict[str, int] = {}
    shm_path = None
    pid_mode = host_config.get("PidMode") or ""
    if pid_mode.startswith("container:"):
        namespaces["pid"] = _running_donor(pid_mode[len("container:"):], lookup)[1]
    ipc_mode = host_config.get("IpcMode") or ""
    if ipc_mode.startswith("container:"):
        ref = ipc_mode[len("container:"):]
        prefix = "failed to join IPC namespace: "
        donor, pid = _running_donor(ref, lookup, prefix)
        donor_mode = donor.host_config.get("IpcMode") or ""
        if donor_mode not in ("shareable", "host"):
            raise InvalidParameter(f"{prefix}container {ref}: non-shareable IPC "
                                   "(hint: use IpcMode:shareable for the donor container)")
        namespaces["ipc"] = pid
        shm_path = "/dev/shm" if donor_mode == "host" else shm.path(donor.dir)
    return Joined(namespaces, shm_path)
