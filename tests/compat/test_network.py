"""The default bridge: addresses, /etc files, outbound routing, published ports."""

import json
import socket
import subprocess
import time
import uuid

import pytest

from .conftest import inspect


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_container_gets_bridge_address_and_etc_files(daemon, cli, container_cleanup):
    n = "n" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    data = inspect(daemon, n)
    net = data["NetworkSettings"]["Networks"]["bridge"]
    assert net["IPAddress"].startswith(daemon.subnet_prefix + ".")
    assert net["Gateway"] == daemon.subnet_prefix + ".1"
    assert net["IPPrefixLen"] == 24
    assert data["NetworkSettings"]["IPAddress"] == net["IPAddress"]
    out = cli("run", "--rm", "--hostname", "box", "busybox", "sh", "-c",
              "ip -4 -o addr show eth0; ip route; cat /etc/hostname; grep box /etc/hosts; cat /etc/resolv.conf").stdout
    assert f"inet {daemon.subnet_prefix}." in out
    assert f"default via {daemon.subnet_prefix}.1" in out
    assert "box\n" in out
    assert "nameserver 127.0.0.1\n" in out  # the daemon's --dns (conftest), as no --dns was given
    own = cli("run", "--rm", "--dns", "10.1.2.3", "--dns-search", "x.test", "busybox", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.1.2.3" in own and "127.0.0.1" not in own and "search x.test" in own


def test_containers_on_the_bridge_reach_each_other_and_the_gateway(daemon, cli, container_cleanup):
    n = "n" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    ip = inspect(daemon, n)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    out = cli("run", "--rm", "busybox", "sh", "-c", f"ping -c 1 -W 2 {ip} && ping -c 1 -W 2 {daemon.subnet_prefix}.1",
              check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_published_port_reachable_from_host(daemon, cli, container_cleanup):
    n = "p" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    port = _free_port()
    cli("run", "-d", "--name", n, "-p", f"{port}:80", "busybox", "sh", "-c",
        "while true; do echo hello-from-container | nc -l -p 80; done")
    ports = inspect(daemon, n)["NetworkSettings"]["Ports"]
    # as Docker's userland proxy: [::] too, on a network without IPv6
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}, {"HostIp": "::", "HostPort": str(port)}]
    assert f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp" in cli(
        "ps", "--filter", f"name={n}", "--format", "{{.Ports}}").stdout
    for address in ["127.0.0.1", "::1", *host_addresses()[:1]]:
        assert _read_from(address, port) == b"hello-from-container\n", address


def test_network_none_and_host(cli):
    none = cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert "lo" in none and "eth0" not in none
    host = cli("run", "--rm", "--network", "host", "busybox", "hostname").stdout.strip()
    assert host == socket.gethostname()


def test_invalid_port_spec_is_400(cli):
    out = cli("run", "--rm", "-p", "99999:80", "busybox", "true", check=False)
    assert out.returncode != 0 and "invalid" in out.stderr.lower()


def test_predefined_networks_listed(cli):
    nets = {json.loads(line)["Name"]: json.loads(line) for line in
            cli("network", "ls", "--format", "{{json .}}").stdout.splitlines()}
    assert {"bridge", "host", "none"} <= set(nets)
    assert nets["bridge"]["Driver"] == "bridge" and nets["none"]["Driver"] == "null"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _read_from(address: str, port: int, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    last = b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=2) as s:
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                if data:
                    return data
        except OSError as e:
            last = str(e).encode()
        time.sleep(0.2)
    pytest.fail(f"no answer from {address}:{port}: {last!r}")


def test_network_list_filters(cli):
    names = lambda *f: set(cli("network", "ls", *f, "--format", "{{.Name}}").stdout.split())
    assert names("--filter", "driver=null") == {"none"}
    assert names("--filter", "type=builtin") >= {"bridge", "host", "none"}
    assert names("--filter", "type=custom") == set()
    assert names("--filter", "label=com.docker.compose.project=nothing") == set()
    assert names("--filter", "name=bri") == {"bridge"}
