"""Healthchecks: Config.Healthcheck probes run through the ExecService, and State.Health.

As moby (daemon/health.go): a monitor per running container with a probe (`CMD` or
`CMD-SHELL`; `NONE` or no test means none) runs it every Interval (StartInterval while
still `starting` within StartPeriod); exit 0 is healthy, anything else a failure, Retries
failures in a row (not counting those within StartPeriod while starting) make it
unhealthy. The log keeps the last 5 results, each output cut at 4096 bytes. The monitor
starts with the container (and with the daemon, for running ones), stops when the
container exits, which leaves the status `unhealthy`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ...errors import DockerError, InvalidParameter
from ...timeutil import format_go_duration, now_rfc3339, rfc3339_to_nano
from .record import Container

log = logging.getLogger("dockerd_py.health")

SECOND = 10**9
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MIN_DURATION = 10**6  # 1ms
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
FILTER_VALUES = (STARTING, HEALTHY, UNHEALTHY, NONE)
_DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


def validate(healthcheck: Any) -> None:
    """moby's validateHealthCheck (a 400 at create)."""
    if healthcheck is None:
        return
    if not isinstance(healthcheck, dict):
        raise InvalidParameter("json: cannot unmarshal into Go struct field Config.Healthcheck of type "
                               "container.HealthConfig")
    test = healthcheck.get("Test")
    if test is not None and not (isinstance(test, list) and all(isinstance(t, str) for t in test)):
        raise InvalidParameter("json: cannot unmarshal into Go struct field HealthConfig.Healthcheck.Test "
                               "of type []string")
    for key in (*_DURATIONS, "Retries"):
        value = healthcheck.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            kind = "int" if key == "Retries" else "time.Duration"
            raise InvalidParameter(f"json: cannot unmarshal into Go struct field HealthConfig.Healthcheck.{key} "
                                   f"of type {kind}")
    for key in ("Interval", "Timeout"):
        value = healthcheck.get(key) or 0
        if value != 0 and value < MIN_DURATION:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than {format_go_duration(MIN_DURATION)}")
    if (healthcheck.get("Retries") or 0) < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    for key in ("StartPeriod", "StartInterval"):
        value = healthcheck.get(key) or 0
        if value != 0 and value < MIN_DURATION:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than {format_go_duration(MIN_DURATION)}")


def probe_command(config: dict) -> list[str] | None:
    """The probe's argv, or None when the container has no healthcheck."""
    test = list((config.get("Healthcheck") or {}).get("Test") or [])
    if not test:
        return None
    if test[0] == "CMD":
        return test[1:] or None
    if test[0] == "CMD-SHELL":
        return list(config.get("Shell") or ["/bin/sh", "-c"]) + test[1:]
    if test[0] != "NONE":
        log.warning("unknown healthcheck type %r", test[0])
    return None


def status(c: Container) -> str:
    """What `docker ps --filter health=` matches: none without a health state."""
    if c.state.health is None:
        return NONE
    return c.state.health.get("Status") or UNHEALTHY


def health_text(health: dict) -> str:
    """moby's Health.String(), as `docker ps` shows it after "Up ..."."""
    st = health.get("Status") or UNHEALTHY
    return "health: starting" if st == STARTING else st


def _setting(config: dict, key: str, default: int) -> int:
    return (config.get("Healthcheck") or {}).get(key) or default


class HealthMonitor:
    """One monitor thread per running container that has a probe."""

    def __init__(self, execs, containers) -> None:
        self.execs = execs
        self.containers = containers
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def on_lifecycle(self, c: Container, action: str) -> None:
        """ContainerService lifecycle listener: "start" starts the monitor, "die" stops it."""
        try:
            if action == "start":
                self.start(c)
            elif action == "die":
                self.stop(c)
        except Exception:  # the container's own start or exit must go on
            log.exception("container %s: healthcheck monitor (%s)", c.short_id, action)

    def restore(self) -> None:
        """After a daemon restart: monitors for the running containers."""
        for c in self.containers.all():
            if c.state.status in ("running", "paused"):
                self.start(c)

    def start(self, c: Container) -> None:
        argv = probe_command(c.config)
        self.stop(c, mark_unhealthy=False)
        if argv is None:
            return
        stop = threading.Event()
        with c.lock:
            health = dict(c.state.health or {"Log": []})
            health.update(Status=STARTING, FailingStreak=0)
            c.state.health = health
        with self._lock:
            self._stops[c.id] = stop
        threading.Thread(target=self._run, args=(c, argv, stop), daemon=True,
                         name=f"health-{c.short_id}").start()

    def stop(self, c: Container, mark_unhealthy: bool = True) -> None:
        with self._lock:
            stop = self._stops.pop(c.id, None)
        if stop is None:
            return
        stop.set()
        if mark_unhealthy:  # moby: "unhealthy when the monitor has stopped for compatibility reasons"
            with c.lock:  # a removal marks the container "removing" under this lock first
                if c.state.health is not None:
                    c.state.health["Status"] = UNHEALTHY
                    if not c.removed and c.state.status != "removing":
                        c.save()

    def _run(self, c: Container, argv: list[str], stop: threading.Event) -> None:
        cfg = c.config
        interval = _setting(cfg, "Interval", DEFAULT_INTERVAL) / SECOND
        start_interval = _setting(cfg, "StartInterval", DEFAULT_START_INTERVAL) / SECOND
        start_period = _setting(cfg, "StartPeriod", DEFAULT_START_PERIOD) / SECOND
        timeout_ns = _setting(cfg, "Timeout", DEFAULT_TIMEOUT)
        try:
            started = rfc3339_to_nano(c.state.started_at) / SECOND
        except ValueError:
            started = time.time()

        def next_interval() -> float:
            if time.time() - started >= start_period:
                return interval
            return start_interval if status(c) == STARTING else interval

        while not stop.wait(next_interval()):
            result = self._probe(c, argv, timeout_ns)
            if stop.is_set():
                return
            self._record(c, result, started, start_period, stop)

    def _probe(self, c: Container, argv: list[str], timeout_ns: int) -> dict:
        start = now_rfc3339()
        try:
            code, out, truncated = self.execs.run_probe(c, argv, timeout_ns / SECOND, MAX_OUTPUT)
            output = out.decode("utf-8", "replace") + ("..." if truncated else "")
            if code is None:
                limit = format_go_duration(timeout_ns)
                output = f"Health check exceeded timeout ({limit})" + (f": {output}" if output else "")
                code = -1
        except DockerError as e:
            code, output = -1, e.message
        except Exception as e:  # never let the monitor die
            log.exception("container %s: health probe failed", c.short_id)
            code, output = -1, str(e)
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": output}

    def _record(self, c: Container, result: dict, started: float, start_period: float,
                stop: threading.Event) -> None:
        """moby's handleProbeResult."""
        retries = _setting(c.config, "Retries", DEFAULT_RETRIES)
        with c.lock:
            if stop.is_set() or c.state.health is None:
                return
            h = c.state.health
            old = h.get("Status")
            h["Log"] = (list(h.get("Log") or []) + [result])[-MAX_LOG_ENTRIES:]
            if result["ExitCode"] == 0:
                h["FailingStreak"] = 0
                h["Status"] = HEALTHY
            else:
                in_start_period = (old == STARTING and
                                   rfc3339_to_nano(result["Start"]) / SECOND - started < start_period)
                if not in_start_period:
                    h["FailingStreak"] = h.get("FailingStreak", 0) + 1
                    if h["FailingStreak"] >= retries:
                        h["Status"] = UNHEALTHY
            changed = h["Status"] != old
            if changed and c.state.status != "removing":
                c.save()
        if changed:
            self.containers.publish(c, f"health_status: {h['Status']}")
