"""`docker compose` v2 over the foundation: services on the default bridge (user networks come later)."""

import subprocess
import uuid

import pytest

from .conftest import DOCKER, compose_runner

COMPOSE = """
services:
  web:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "echo web $$GREETING; sleep 300"]
    environment:
      GREETING: hello
    labels:
      suite: compose
  job:
    image: busybox
    network_mode: bridge
    command: ["sh", "-c", "echo job done"]
"""


@pytest.fixture
def project(daemon, tmp_path):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    name = "p" + uuid.uuid4().hex[:8]
    compose = compose_runner(daemon, tmp_path, name)
    yield name, compose, daemon.env
    compose("down", "--timeout", "1")


def test_compose_up_ps_logs_down(project):
    name, compose, env = project
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    ps = compose("ps", "--format", "{{.Service}} {{.State}}")
    assert ps.returncode == 0 and "web running" in ps.stdout, ps.stdout + ps.stderr
    logs = compose("logs", "--no-log-prefix")
    assert "web hello" in logs.stdout and "job done" in logs.stdout
    down = compose("down", "--timeout", "1")
    assert down.returncode == 0, down.stderr
    left = subprocess.run([DOCKER, "ps", "-a", "--filter", f"label=com.docker.compose.project={name}", "-q"],
                          env=env, capture_output=True, text=True)
    assert left.returncode == 0 and left.stdout.strip() == ""
