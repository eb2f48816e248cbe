"""PidMode `container:<ref>`: the PID namespace a container joins, found at start.

As Docker: the donor must exist and be running (not restarting).
IpcMode `container:<ref>`/`shareable` stay refused (validate.py): sharing /dev/shm
needs a host-side tmpfs per shareable container, which this daemon does not make.
"""

from collections.abc import Callable

from ...errors import Conflict, InvalidParameter, NotFound
from .record import Container


def joined(host_config: dict, lookup: Callable[[str], Container]) -> dict[str, int]:
    """{"pid": donor's PID} when `host_config` takes the PID namespace of another container."""
    mode = host_config.get("PidMode") or ""
    if not mode.startswith("container:"):
        return {}
    ref = mode[len("container:"):]
    try:
        donor = lookup(ref)
    except NotFound as e:
        raise InvalidParameter(str(e)) from None
    with donor.lock:
        status, pid = donor.state.status, donor.state.pid
    if status == "restarting":
        raise Conflict(f"Container {donor.id} is restarting, wait until the container is running")
    if status not in ("running", "paused") or not pid:
        raise Conflict(f"container {ref} is not running")
    return {"pid": pid}
