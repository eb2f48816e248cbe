"""Stopping the containers when the daemon shuts down (dockerd without --live-restore).

As dockerd: every running container gets its stop signal and, after its own stop timeout
(Config.StopTimeout, else 10 s), SIGKILL, all at once. None counts as stopped by the user, so
`always` and `unless-stopped` containers start again with the daemon, and no restart policy
brings one back meanwhile. The daemon waits at most `shutdown_timeout` seconds: the longer of
--shutdown-timeout and every container's stop timeout plus 5 s (none when one is negative),
then logs "Force shutdown daemon" and exits anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from signal import SIGTERM

from ...errors import DockerError, NotModified
from . import signals
from .record import Container
from .runner import stop_timeout

log = logging.getLogger("dockerd_py.containers")

GRACE_SECONDS = 5


def shutdown_timeout(configured: int, containers: list[Container]) -> int | None:
    """dockerd's ShutdownTimeout; None: wait as long as it takes."""
    if configured < 0:
        return None
    longest = configured
    for c in containers:
        seconds = stop_timeout(c, None)
        if seconds < 0:
            return None
        longest = max(longest, seconds + GRACE_SECONDS)
    return longest


def stop_all(service, configured_timeout: int) -> None:
    """Stop every running container of `service` (a ContainerService) within dockerd's timeout."""
    service.shutting_down = True
    containers = service.all()
    timeout = shutdown_timeout(configured_timeout, containers)
    workers = [threading.Thread(target=_stop, args=(service, c), daemon=True, name=f"shutdown-{c.short_id}")
               for c in containers if c.state.running]
    if not workers:
        return
    log.info("stopping %d running containers (at most %s s)", len(workers), "∞" if timeout is None else timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    for w in workers:
        w.start()
    for w in workers:
        w.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    if any(w.is_alive() for w in workers):
        log.error("Force shutdown daemon")


def _stop(service, c: Container) -> None:
    try:
        service.runner.stop(c, signals.parse(c.config.get("StopSignal"), default=SIGTERM), stop_timeout(c, None),
                            by_user=False)
    except NotModified:
        pass
    except DockerError as e:
        log.error("container %s: failed to shut down: %s", c.short_id, e.message)
    except Exception:
        log.exception("container %s: failed to shut down", c.short_id)
