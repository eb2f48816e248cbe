"""Healthchecks, as `docker run --health-*`, HEALTHCHECK in an image, `docker ps` and docker-py see them."""

import time
import uuid

import pytest

from ..rootfs import rootfs_tar_bytes
from .conftest import RUNC, compose_runner, inspect

FAST = ["--health-interval", "200ms", "--health-timeout", "5s"]


def name() -> str:
    return "h" + uuid.uuid4().hex[:10]


def health(daemon, n: str) -> dict | None:
    return inspect(daemon, n)["State"].get("Health")


def wait_status(daemon, n: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = health(daemon, n)
        if h and h["Status"] == status:
            return h
        time.sleep(0.1)
    raise AssertionError(f"{n}: health never became {status}: {health(daemon, n)}")


def ps_status(cli, n: str) -> str:
    return cli("ps", "-a", "--filter", f"name={n}", "--format", "{{.Status}}").stdout.strip()


def ps_health(cli, value: str) -> list[str]:
    return cli("ps", "-a", "--filter", f"health={value}", "--format", "{{.Names}}").stdout.split()


@pytest.mark.parametrize("runtime", ["default"] + (["runc"] if RUNC else []))
def test_health_turns_unhealthy_then_healthy(daemon, cli, container_cleanup, runtime):
    n = name()
    container_cleanup.append(n)
    since = str(time.time())
    extra = [] if runtime == "default" else ["--runtime", runtime]
    cli("run", "-d", "--name", n, *extra, "--health-cmd", "test -f /tmp/ok && echo ok", *FAST,
        "--health-retries", "2", "busybox", "sleep", "1000")
    first = health(daemon, n)
    assert first["Status"] == "starting" and first["FailingStreak"] == 0
    assert "(health: starting)" in ps_status(cli, n)
    h = wait_status(daemon, n, "unhealthy")
    assert h["FailingStreak"] >= 2
    assert ps_status(cli, n).endswith("(unhealthy)") and ps_status(cli, n).startswith("Up ")
    assert n in ps_health(cli, "unhealthy") and n not in ps_health(cli, "healthy")
    entry = h["Log"][-1]
    assert set(entry) == {"Start", "End", "ExitCode", "Output"} and entry["ExitCode"] == 1
    assert entry["Start"] <= entry["End"]
    cli("exec", n, "touch", "/tmp/ok")
    h = wait_status(daemon, n, "healthy")
    assert h["FailingStreak"] == 0 and h["Log"][-1]["Output"] == "ok\n"
    assert ps_status(cli, n).endswith("(healthy)")
    assert n in ps_health(cli, "healthy")
    time.sleep(1.5)
    assert len(health(daemon, n)["Log"]) == 5  # the last five results
    out = cli("events", "--since", since, "--until", str(time.time()), "--filter", f"container={n}",
              "--format", "{{.Action}}").stdout.splitlines()
    assert out.count("health_status: unhealthy") == 1 and out.count("health_status: healthy") == 1
    assert out.index("health_status: unhealthy") < out.index("health_status: healthy")
    assert "exec_create: /bin/sh -c test -f /tmp/ok && echo ok" in out and "exec_die" in out


def test_health_timeout_and_long_output(daemon, cli, container_cleanup):
    slow, chatty = name(), name()
    container_cleanup.extend([slow, chatty])
    cli("run", "-d", "--name", slow, "--health-cmd", "echo partial; sleep 10", "--health-interval", "200ms",
        "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "1000")
    cli("run", "-d", "--name", chatty, "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' x", *FAST,
        "busybox", "sleep", "1000")
    h = wait_status(daemon, slow, "unhealthy")
    assert h["Log"][0]["ExitCode"] == -1
    assert h["Log"][0]["Output"] == "Health check exceeded timeout (300ms): partial\n"
    h = wait_status(daemon, chatty, "healthy")
    assert h["Log"][0]["Output"] == "x" * 4096 + "..."


def test_health_start_period_and_start_interval(daemon, cli, container_cleanup):
    quick, grace = name(), name()
    container_cleanup.extend([quick, grace])
    # probes every 200ms while starting within the start period, although the interval is an hour
    cli("run", "-d", "--name", quick, "--health-cmd", "true", "--health-interval", "1h",
        "--health-start-period", "30s", "--health-start-interval", "200ms", "busybox", "sleep", "1000")
    wait_status(daemon, quick, "healthy", timeout=10)
    # failures within the start period do not count
    cli("run", "-d", "--name", grace, "--health-cmd", "false", "--health-interval", "200ms",
        "--health-start-period", "2s", "--health-start-interval", "200ms", "--health-retries", "1",
        "busybox", "sleep", "1000")
    time.sleep(1.2)
    h = health(daemon, grace)
    assert h["Status"] == "starting" and h["FailingStreak"] == 0 and h["Log"]
    wait_status(daemon, grace, "unhealthy", timeout=10)


def test_health_from_the_image_and_no_healthcheck(daemon, cli, container_cleanup):
    image = f"healthy-{uuid.uuid4().hex[:8]}"
    cli("import", "--change", 'HEALTHCHECK --interval=200ms --retries=1 CMD ["sh", "-c", "exit 0"]',
        "--change", 'CMD ["sleep", "1000"]', "-", image, input=rootfs_tar_bytes())
    try:
        from_image, overridden, disabled, plain = name(), name(), name(), name()
        container_cleanup.extend([from_image, overridden, disabled, plain])
        cli("run", "-d", "--name", from_image, image)
        cli("run", "-d", "--name", overridden, "--health-cmd", "exit 1", image)  # image's interval and retries
        cli("run", "-d", "--name", disabled, "--no-healthcheck", image)
        cli("run", "-d", "--name", plain, "busybox", "sleep", "1000")
        wait_status(daemon, from_image, "healthy")
        wait_status(daemon, overridden, "unhealthy", timeout=10)
        cfg = inspect(daemon, overridden)["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD-SHELL", "exit 1"] and cfg["Interval"] == 200_000_000 and cfg["Retries"] == 1
        assert inspect(daemon, disabled)["Config"]["Healthcheck"]["Test"] == ["NONE"]
        assert health(daemon, disabled) is None and health(daemon, plain) is None
        none = ps_health(cli, "none")
        assert disabled in none and plain in none and from_image not in none
        assert not ps_status(cli, disabled).endswith(")")
    finally:
        cli("rm", "-f", from_image, overridden, disabled, plain, check=False)
        cli("rmi", image, check=False)


def test_health_stops_and_restarts_with_the_container_and_the_daemon(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "--health-cmd", "true", *FAST, "busybox", "sleep", "1000")
    wait_status(daemon, n, "healthy")
    cli("stop", "-t", "0", n)
    stopped = health(daemon, n)
    assert stopped["Status"] == "unhealthy"  # as moby leaves it when the monitor stops
    assert ps_status(cli, n).startswith("Exited")
    time.sleep(0.8)
    assert health(daemon, n)["Log"] == stopped["Log"]  # no probes while stopped
    cli("start", n)
    assert health(daemon, n)["Status"] == "starting"
    wait_status(daemon, n, "healthy")
    # a daemon restart: the monitor starts again for the running container
    daemon.kill_hard()
    daemon.start()
    before = health(daemon, n)["Log"][-1]["Start"]
    wait_status(daemon, n, "healthy")
    deadline = time.monotonic() + 10
    while health(daemon, n)["Log"][-1]["Start"] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health(daemon, n)["Log"][-1]["Start"] > before


def test_health_bad_values(client, cli):
    from docker.errors import APIError
    from docker.types import Healthcheck

    for fields, message in (({"interval": 500}, "Interval in Healthcheck cannot be less than 1ms"),
                            ({"timeout": 999_999}, "Timeout in Healthcheck cannot be less than 1ms"),
                            ({"retries": -1}, "Retries in Healthcheck cannot be negative"),
                            ({"start_period": 10}, "StartPeriod in Healthcheck cannot be less than 1ms")):
        with pytest.raises(APIError) as e:
            client.api.create_container("busybox", "true", healthcheck=Healthcheck(test=["CMD", "true"], **fields))
        assert e.value.status_code == 400 and e.value.explanation == message
    r = client.api._post_json(f"{client.api.base_url}/containers/create",
                              data={"Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5}})
    assert r.status_code == 400 and r.json()["message"] == "StartInterval in Healthcheck cannot be less than 1ms"
    # StartInterval came with API 1.44: an older client's value is dropped, not checked
    r = client.api._post_json(f"{client.api.base_url}/v1.43/containers/create",
                              data={"Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5}})
    assert r.status_code == 201, r.text
    created = r.json()["Id"]
    assert "StartInterval" not in client.api.inspect_container(created)["Config"]["Healthcheck"]
    client.api.remove_container(created)
    bad = cli("ps", "--filter", "health=sick", check=False)
    assert bad.returncode == 1 and "Unrecognised filter value for health: sick" in bad.stderr


COMPOSE_HEALTHY = """
services:
  db:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
  app:
    image: busybox
    network_mode: bridge
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_healthy
"""


def test_compose_waits_for_a_healthy_service(daemon, tmp_path):
    (tmp_path / "compose.yaml").write_text(COMPOSE_HEALTHY)
    project = "hp" + uuid.uuid4().hex[:8]
    compose = compose_runner(daemon, tmp_path, project)

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        assert "Healthy" in up.stderr
        assert inspect(daemon, f"{project}-db-1")["State"]["Health"]["Status"] == "healthy"
        assert inspect(daemon, f"{project}-app-1")["State"]["Running"] is True
    finally:
        compose("down", "--timeout", "0")
