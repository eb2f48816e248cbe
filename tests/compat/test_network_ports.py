"""Published ports, complete: ranges, UDP, host IP, ephemeral, -P, `docker port`, hairpin
from other containers through the host's address, and a taken port (Docker's error, nothing left)."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from .test_network import _free_port, _read_from, host_addresses

SERVE = "while true; do echo hello-$0 | nc -l -p 80; done"
UDP_ECHO = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\n"
            "while True:\n    data, peer = s.recvfrom(100)\n    s.sendto(b'echo:' + data, peer)\n")


def uid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def free_ports(n: int) -> int:
    """The first of n consecutive free TCP and UDP ports."""
    for _ in range(50):
        first = _free_port()
        if first + n >= 65535:
            continue
        ok = True
        for p in range(first, first + n):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    try:
                        s.bind(("0.0.0.0", p))
                    except OSError:
                        ok = False
        if ok:
            return first
    pytest.skip("no free port range")


def both(port: int) -> list[dict]:
    """A binding without HostIp on a network without IPv6: 0.0.0.0 and [::], as Docker's userland proxy."""
    return [{"HostIp": "0.0.0.0", "HostPort": str(port)}, {"HostIp": "::", "HostPort": str(port)}]


def ports_of(cli, name: str) -> dict:
    return json.loads(cli("inspect", name).stdout)[0]["NetworkSettings"]["Ports"]


def test_range_udp_host_ip_ephemeral_and_docker_port(cli, container_cleanup):
    name = uid("p")
    container_cleanup.append(name)
    base = free_ports(4)
    cli("run", "-d", "--name", name, "-p", f"{base}-{base + 1}:80-81", "-p", f"127.0.0.1:{base + 2}:82",
        "-p", f"{base + 3}:5353/udp", "-p", "83", "busybox", "sh", "-c",
        f"({SERVE}) & (while true; do echo hello-81 | nc -l -p 81; done) & "
        f"(while true; do echo hello-82 | nc -l -p 82; done) & "
        "wait", "80")
    ports = ports_of(cli, name)
    assert ports["80/tcp"] == both(base)
    assert ports["81/tcp"] == both(base + 1)
    assert ports["82/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(base + 2)}]
    assert ports["5353/udp"] == both(base + 3)
    ephemeral = int(ports["83/tcp"][0]["HostPort"])
    assert ephemeral not in range(base, base + 4) and ephemeral > 1024
    assert ports["83/tcp"] == both(ephemeral)  # one ephemeral port for both families, as Docker
    port_lines = set(cli("port", name).stdout.splitlines())
    assert {f"80/tcp -> 0.0.0.0:{base}", f"80/tcp -> [::]:{base}", f"82/tcp -> 127.0.0.1:{base + 2}",
            f"5353/udp -> 0.0.0.0:{base + 3}", f"5353/udp -> [::]:{base + 3}",
            f"83/tcp -> 0.0.0.0:{ephemeral}", f"83/tcp -> [::]:{ephemeral}"} <= port_lines
    assert not any(line.startswith("82/tcp -> [") for line in port_lines)  # 127.0.0.1: IPv4 only
    assert cli("port", name, "82").stdout.strip() == f"127.0.0.1:{base + 2}"
    with socket.socket() as other:  # the daemon holds published ports, as Docker's port mapper does
        with pytest.raises(OSError):
            other.bind(("0.0.0.0", base))
    assert _read_from("127.0.0.1", base) == b"hello-80\n"
    assert _read_from("127.0.0.1", base + 1) == b"hello-81\n"
    assert _read_from("127.0.0.1", base + 2) == b"hello-82\n"
    assert _read_from("::1", base) == b"hello-80\n"  # the daemon relays [::] to the container's IPv4 address
    addr = host_addresses()[0]
    assert _read_from(addr, base) == b"hello-80\n"
    with socket.socket() as s:  # bound to 127.0.0.1 only
        s.settimeout(2)
        assert s.connect_ex((addr, base + 2)) != 0
    # busybox has no UDP server: a Python echo server in the container's network namespace
    pid = json.loads(cli("inspect", name).stdout)[0]["State"]["Pid"]
    echo = subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", UDP_ECHO])
    try:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):  # DNAT; the relay
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(0.5)
                deadline, got = time.monotonic() + 15, b""
                while not got and time.monotonic() < deadline:
                    s.sendto(b"ping-udp", (host, base + 3))
                    try:
                        got = s.recv(100)
                    except OSError:
                        pass
            assert got == b"echo:ping-udp", host
    finally:
        echo.kill()
        echo.wait()


def test_publish_all_and_hairpin_from_other_containers(cli, container_cleanup):
    name, net = uid("p"), uid("n")
    container_cleanup.append(name)
    cli("network", "create", net)
    try:
        cli("run", "-d", "--name", name, "--network", net, "--expose", "80", "--expose", "7000/udp", "-P",
            "busybox", "sh", "-c", SERVE, "P")
        ports = ports_of(cli, name)
        assert set(ports) == {"80/tcp", "7000/udp"} and all(ports[k][0]["HostPort"] for k in ports)
        port = ports["80/tcp"][0]["HostPort"]
        assert ports["80/tcp"][0]["HostIp"] == "0.0.0.0"
        assert _read_from("127.0.0.1", int(port)) == b"hello-P\n"
        addr = host_addresses()[0]
        for args in ([], ["--network", net]):  # the default bridge, and the container's own network
            out = cli("run", "--rm", *args, "busybox", "sh", "-c", f"nc -w 3 {addr} {port} </dev/null")
            assert out.stdout == "hello-P\n", args
    finally:
        cli("rm", "-f", name, check=False)
        cli("network", "rm", net, check=False)


def dnat_rules() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


def test_taken_port_gives_dockers_error_and_leaves_nothing(daemon, cli, container_cleanup):
    owner, second, third = uid("p"), uid("p"), uid("p")
    container_cleanup.extend([owner, second, third])
    port = free_ports(1)
    cli("run", "-d", "--name", owner, "-p", f"{port}:80", "busybox", "sleep", "300")
    out = cli("run", "-d", "--name", second, "-p", f"{port}:80", "busybox", "sleep", "300", check=False)
    second_id = json.loads(cli("inspect", second).stdout)[0]["Id"]
    assert out.returncode == 125
    assert f"driver failed programming external connectivity on endpoint {second} (" in out.stderr
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in out.stderr
    assert json.loads(cli("inspect", second).stdout)[0]["State"]["Status"] == "created"
    assert dnat_rules().count(f"dport {port} dnat") == 1
    assert not any(second_id in line for line in open("/proc/self/mountinfo"))  # no netns (and its veth) left
    assert not os.path.exists(os.path.join(daemon.root, "x", "netns", second_id))
    # a port some other program holds on the host
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen(1)
        held = holder.getsockname()[1]
        out = cli("run", "-d", "--name", third, "-p", f"{held}:80", "busybox", "sleep", "300", check=False)
    assert out.returncode == 125
    assert f"Error starting userland proxy: listen tcp4 0.0.0.0:{held}: bind: address already in use" in out.stderr
    cli("rm", "-f", owner)
    with socket.socket() as s, socket.socket(socket.AF_INET6) as s6:  # both released with the container
        s.bind(("0.0.0.0", port))
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s6.bind(("::", port))


def test_published_ports_rebuilt_after_a_restart(daemon, cli, container_cleanup):
    """The daemon rebuilds the netfilter state of running containers at start."""
    name = uid("p")
    container_cleanup.append(name)
    cli("run", "-d", "--name", name, "-p", "127.0.0.1::80", "busybox", "sh", "-c", SERVE, "again")
    port = int(ports_of(cli, name)["80/tcp"][0]["HostPort"])
    assert _read_from("127.0.0.1", port) == b"hello-again\n"
    daemon.kill_hard()
    subprocess.run(["nft", "delete", "table", "ip", f"dockerd-py-{daemon.bridge}"], check=True)
    daemon.start()
    assert _read_from("127.0.0.1", port) == b"hello-again\n"


def test_network_default_host_binding_ip(cli, container_cleanup):
    name, net = uid("p"), uid("n")
    container_cleanup.append(name)
    cli("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", net)
    try:
        cli("run", "-d", "--name", name, "--network", net, "-p", "80", "busybox", "sh", "-c", SERVE, "lo")
        binding = ports_of(cli, name)["80/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1"
        assert _read_from("127.0.0.1", int(binding["HostPort"])) == b"hello-lo\n"
    finally:
        cli("rm", "-f", name, check=False)
        cli("network", "rm", net, check=False)


def test_ipv6_bindings_of_an_ipv4_network_are_relayed_and_survive_a_restart(daemon, cli, client,
                                                                            container_cleanup):
    """On a network without IPv6, [::] and an explicit [::1] reach the container's IPv4 address
    through the daemon (Docker's userland proxy), after a daemon restart too."""
    name = uid("p")
    container_cleanup.append(name)
    base = free_ports(2)
    cli("run", "-d", "--name", name, "-p", f"{base}:80", "-p", f"[::1]:{base + 1}:80",
        "busybox", "sh", "-c", SERVE, "six")
    ports = client.containers.get(name).ports  # docker-py
    assert {"HostIp": "0.0.0.0", "HostPort": str(base)} in ports["80/tcp"]
    assert {"HostIp": "::", "HostPort": str(base)} in ports["80/tcp"]
    assert {"HostIp": "::1", "HostPort": str(base + 1)} in ports["80/tcp"] and len(ports["80/tcp"]) == 3
    assert _read_from("::1", base + 1) == b"hello-six\n"
    daemon.kill_hard()
    daemon.start()
    for host, port in (("::1", base), ("::1", base + 1), ("127.0.0.1", base)):
        assert _read_from(host, port) == b"hello-six\n", (host, port)
    cli("rm", "-f", name)
    for port in (base, base + 1):
        with socket.socket(socket.AF_INET6) as s:
            s.settimeout(2)
            assert s.connect_ex(("::1", port)) != 0
