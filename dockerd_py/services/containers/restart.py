"""Restart policies: whether a container that exited starts again, and when.

Docker's rules: `always` and `unless-stopped` restart unless the user stopped
the container; `on-failure[:N]` restarts after a non-zero exit, at most N
times. The delay starts at 100 ms and doubles per restart up to a minute; a
run that lasted ten seconds or more resets it. At daemon start, `always`
containers start again, and `unless-stopped` ones unless the user stopped them.
"""

import time
from signal import SIGKILL

from ...timeutil import rfc3339_to_nano
from .record import Container

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


def policy(c: Container) -> tuple[str, int]:
    p = c.host_config.get("RestartPolicy") or {}
    return p.get("Name") or "no", int(p.get("MaximumRetryCount") or 0)


def should_restart(c: Container, exit_code: int) -> bool:
    name, max_retries = policy(c)
    if c.manually_stopped or c.removed:
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        return exit_code != 0 and (max_retries == 0 or c.restart_count < max_retries)
    return False


def forget_retries(c: Container) -> None:
    """A start by the user: RestartCount and the back-off begin again (Docker's ResetRestartManager)."""
    c.restart_count = 0
    c.restart_delay = 0.0


def cancelled_by_kill(c: Container, sig: int, stop_signal: int | None) -> bool:
    """Whether `docker kill` with `sig` keeps the policy from bringing the container back.

    As Docker: a fatal signal (SIGKILL, any signal when the container has no StopSignal,
    or its StopSignal) disables the policy until the next start; any kill marks the
    container as stopped by the user, which is enough for `unless-stopped`.
    """
    fatal = stop_signal is None or sig in (SIGKILL, stop_signal)
    return fatal or policy(c)[0] == "unless-stopped"


def next_delay(c: Container, previous: float) -> float:
    """The wait before the next restart, given the one before the last."""
    try:
        ran = (rfc3339_to_nano(c.state.finished_at) - rfc3339_to_nano(c.state.started_at)) / 1e9
    except ValueError:
        ran = 0.0
    if ran >= RESET_AFTER or previous <= 0:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)


def start_at_boot(c: Container) -> bool:
    name, _ = policy(c)
    if c.state.running:
        return False
    return name == "always" or (name == "unless-stopped" and not c.manually_stopped)


def sleep_unless(cancelled, seconds: float) -> bool:
    """Wait for the delay; False when `cancelled()` turned true first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancelled():
            return False
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return not cancelled()
