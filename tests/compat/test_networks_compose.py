"""`docker compose` with user-defined networks: services find each other by name,
networks isolate, an internal network has no way out, published ports answer on the host."""

import socket
import subprocess
import uuid

import pytest

from .conftest import DOCKER, compose_runner, retry

COMPOSE = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www"]
    networks: [front]
    ports: ["127.0.0.1::80"]
  api:
    image: busybox
    command: ["sh", "-c", "while true; do echo api-says-hi | nc -l -p 9000; done"]
    networks:
      back:
        aliases: [backend]
      front: {}
  db:
    image: busybox
    command: ["sleep", "300"]
    networks: [back]
  sidecar:
    image: busybox
    command: ["sleep", "300"]
    network_mode: "service:api"
networks:
  front: {}
  back:
    internal: true
"""


@pytest.fixture
def project(daemon, tmp_path):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    name = "p" + uuid.uuid4().hex[:8]
    compose = compose_runner(daemon, tmp_path, name)

    def in_service(service: str, script: str) -> subprocess.CompletedProcess:
        cid = compose("ps", "-q", service).stdout.strip()
        pid = subprocess.run([DOCKER, "inspect", "-f", "{{.State.Pid}}", cid], env=daemon.env,
                             capture_output=True, text=True).stdout.strip()
        return subprocess.run(["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "sh", "-c", script],
                              capture_output=True, text=True, timeout=60)

    yield name, compose, in_service
    compose("down", "--timeout", "1")


def test_three_services_talk_by_name_and_networks_isolate(project, daemon):
    name, compose, in_service = project
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    # api reaches web by service name over HTTP; db reaches api by its alias on the internal network
    # (busybox-static's wget crashes on this host: HTTP by hand through nc)
    got = retry(lambda: in_service("api", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80"))
    assert got.stdout.startswith("HTTP/1.1 200 OK") and got.stdout.endswith("\nhello-from-web\n"), got.stderr
    got = retry(lambda: in_service("db", "nc -w 3 backend 9000 </dev/null"))
    assert got.stdout == "api-says-hi\n", got.stderr
    got = retry(lambda: in_service("db", f"nc -w 3 {name}-api-1 9000 </dev/null"))
    assert got.stdout == "api-says-hi\n", got.stderr
    # db and web share no network: no name, no route
    assert in_service("db", "ping -c 1 -W 1 web").returncode != 0
    web_ip = in_service("web", "ip -o -4 addr show eth0").stdout.split()[3].split("/")[0]
    assert in_service("db", f"nc -w 2 {web_ip} 80 </dev/null").returncode != 0
    # network_mode service:api shares api's network namespace
    assert in_service("sidecar", "ip -o -4 addr").stdout == in_service("api", "ip -o -4 addr").stdout
    got = retry(lambda: in_service("sidecar", "nc -w 3 127.0.0.1 9000 </dev/null"))
    assert got.stdout == "api-says-hi\n", got.stderr
    # the internal network has no way out: no default route on db
    assert "default" not in in_service("db", "ip route").stdout
    # the published port answers on the host
    port = compose("port", "web", "80").stdout.strip().rsplit(":", 1)[1]
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.endswith(b"hello-from-web\n")
    nets = subprocess.run([DOCKER, "network", "ls", "--filter", f"label=com.docker.compose.project={name}",
                           "--format", "{{.Name}}"], env=daemon.env, capture_output=True, text=True).stdout.split()
    assert sorted(nets) == [f"{name}_back", f"{name}_front"]
    again = compose("up", "-d")  # the project's networks are found and reused
    assert again.returncode == 0, again.stderr
    down = compose("down", "--timeout", "1")
    assert down.returncode == 0, down.stderr
    nets = subprocess.run([DOCKER, "network", "ls", "--filter", f"label=com.docker.compose.project={name}",
                           "-q"], env=daemon.env, capture_output=True, text=True).stdout.split()
    assert nets == []
