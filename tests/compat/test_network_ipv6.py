"""IPv6 on bridge networks: --ipv6 user networks, the default bridge with --ipv6 --fixed-cidr-v6,
dual-stack containers, the ip6 nftables table; through the docker CLI and docker-py."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid

import docker as docker_sdk
import pytest

from ..rootfs import rootfs_tar_bytes
from .conftest import cleanup, docker, make_daemon
from .test_networks_user import sh


def uid(p: str) -> str:
    return p + uuid.uuid4().hex[:8]


def ula() -> str:
    """A random /64 of fd00::/8 (no other test or helper picks the same)."""
    words = [random.randrange(0x10000) for _ in range(3)]
    return f"fd{words[0] & 0xff:02x}:{words[1]:x}:{words[2]:x}:1::/64"


def ip6_tables() -> str:
    return subprocess.run(["nft", "list", "tables", "ip6"], capture_output=True, text=True).stdout


def test_dual_stack_user_network(cli, container_cleanup, networks):
    net, subnet = uid("v6"), ula()
    prefix = subnet.split("::")[0]
    networks.append(net)
    cli("network", "create", "--ipv6", "--subnet", subnet, net)
    info = json.loads(cli("network", "inspect", net).stdout)[0]
    assert info["EnableIPv6"] is True
    assert info["IPAM"]["Config"][1] == {"Subnet": subnet}  # shown as given, beside the IPv4 pool's
    assert ":" not in info["IPAM"]["Config"][0]["Subnet"]
    table = f"dockerd-py-br-{info['Id'][:12]}"
    rules = subprocess.run(["nft", "list", "table", "ip6", table], capture_output=True, text=True).stdout
    assert f"ip6 saddr {subnet} masquerade" in rules and "drop" in rules

    a, b = uid("c"), uid("c")
    container_cleanup += [a, b]
    cli("run", "-d", "--name", a, "--network", net, "busybox", "sleep", "300")
    cli("run", "-d", "--name", b, "--network", net, "--ip6", f"{prefix}::77", "busybox", "sleep", "300")
    s = json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]
    ep = s["Networks"][net]
    assert (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]) == (f"{prefix}::2", 64,
                                                                                       f"{prefix}::1")
    assert ep["IPAddress"] and ep["Gateway"]  # dual stack
    containers = json.loads(cli("network", "inspect", net).stdout)[0]["Containers"]
    assert {c["IPv6Address"] for c in containers.values()} == {f"{prefix}::2/64", f"{prefix}::77/64"}
    addrs = sh(cli, a, "ip -6 addr show eth0; ip -6 route").stdout
    assert f"inet6 {prefix}::2/64" in addrs and f"default via {prefix}::1" in addrs
    assert sh(cli, a, f"ping -c 1 -W 2 {prefix}::77").returncode == 0      # container to container
    assert sh(cli, a, f"ping -c 1 -W 2 {prefix}::1").returncode == 0       # its gateway, the bridge
    out = sh(cli, b, f"nslookup -type=aaaa {a} 127.0.0.11").stdout  # the embedded DNS answers AAAA too
    assert f"{prefix}::2" in out
    cli("rm", "-f", a, b)
    cli("network", "rm", net)
    assert table not in ip6_tables()


def test_ipv6_subnet_without_enable_ipv6_is_kept_unused(cli, container_cleanup, networks):
    net, subnet = uid("v6"), ula()
    networks.append(net)
    cli("network", "create", "--subnet", subnet, net)  # Docker keeps it, EnableIPv6 stays off
    info = json.loads(cli("network", "inspect", net).stdout)[0]
    assert info["EnableIPv6"] is False and {"Subnet": subnet} in info["IPAM"]["Config"]
    assert f"dockerd-py-br-{info['Id'][:12]}" not in ip6_tables()
    c = uid("c")
    container_cleanup.append(c)
    cli("run", "-d", "--name", c, "--network", net, "busybox", "sleep", "60")
    assert json.loads(cli("inspect", c).stdout)[0]["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"] == ""
    cli("rm", "-f", c)


def test_ipv6_without_subnet_gets_a_ula_64(client, networks):
    name = uid("v6")
    networks.append(name)
    net = client.networks.create(name, enable_ipv6=True)
    configs = net.attrs["IPAM"]["Config"] if net.attrs.get("IPAM") else client.api.inspect_network(net.id)["IPAM"][
        "Config"]
    v6 = [c for c in configs if ":" in c["Subnet"]]
    assert len(v6) == 1 and v6[0]["Subnet"].startswith("fd") and v6[0]["Subnet"].endswith("::/64")
    assert v6[0]["Gateway"].endswith("::1")


def test_ipv6_bad_input(cli, networks, client):
    net, subnet = uid("v6"), ula()
    networks.append(net)
    cli("network", "create", "--ipv6", "--subnet", subnet, net)

    def fails(*args: str) -> str:
        name = uid("v6")
        out = cli("network", "create", *args, name, check=False)
        assert out.returncode == 1 and cli("network", "ls", "-q", "--filter", f"name={name}").stdout == ""
        return out.stderr.strip()

    assert fails("--ipv6", "--subnet", subnet) == \
        "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space"
    assert "this daemon supports one IPv6 subnet per network" in fails("--ipv6", "--subnet", ula(),
                                                                        "--subnet", ula())
    other = ula()
    with pytest.raises(docker_sdk.errors.APIError) as info:  # the CLI checks this itself
        client.api.create_network(uid("v6"), enable_ipv6=True, ipam=docker_sdk.types.IPAMConfig(
            pool_configs=[docker_sdk.types.IPAMPool(subnet=other, gateway="10.0.0.1")]))
    assert info.value.status_code == 400
    assert info.value.explanation == "invalid network config:\ninvalid gateway 10.0.0.1: parent subnet is an IPv6 block"
    with pytest.raises(docker_sdk.errors.APIError) as info:
        client.api.create_network(uid("v6"), driver="macvlan", enable_ipv6=True)
    assert info.value.status_code == 400
    out = cli("run", "--rm", "--network", net, "--ip6", "fd99::5", "busybox", "true", check=False)
    assert out.returncode != 0 and "no configured subnet or ip-range contain the IP address fd99::5" in out.stderr


def test_default_bridge_with_fixed_cidr_v6():
    tmp = tempfile.mkdtemp(prefix="6", dir="/tmp")
    d = make_daemon(tmp, "6" + os.path.basename(tmp)[1:6].lower().replace("_", "x"))
    subnet = ula()
    prefix = subnet.split("::")[0]
    d.args += ["--ipv6", "--fixed-cidr-v6", subnet]
    d.start()
    try:
        docker(d, "import", "--change", 'CMD ["sh"]', "-", "busybox:latest", input=rootfs_tar_bytes())
        info = json.loads(docker(d, "network", "inspect", "bridge").stdout)[0]
        assert info["EnableIPv6"] is True
        assert info["IPAM"]["Config"][1] == {"Subnet": subnet, "Gateway": f"{prefix}::1"}
        out = docker(d, "run", "--rm", "busybox", "sh", "-c", "ip -6 addr show eth0; ip -6 route").stdout
        assert f"inet6 {prefix}::2/64" in out and f"default via {prefix}::1" in out
        ctr = docker(d, "run", "-d", "busybox", "sleep", "60").stdout.strip()
        s = json.loads(docker(d, "inspect", ctr).stdout)[0]["NetworkSettings"]
        assert (s["GlobalIPv6Address"], s["IPv6Gateway"], s["GlobalIPv6PrefixLen"]) == (f"{prefix}::2",
                                                                                          f"{prefix}::1", 64)
        docker(d, "rm", "-f", ctr)
    finally:
        d.stop()
        cleanup(d)
        shutil.rmtree(tmp, ignore_errors=True)
    assert d.bridge not in ip6_tables()


def _fetch(host: str, port: int) -> str:
    """What a TCP server says first ("" when nothing answers)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=3) as s:
            return s.recv(100).decode().strip()
    except OSError:
        return ""


def _answer(host: str, port: int) -> str:
    """`_fetch`, again until something answers (the container's nc serves one client at a time)."""
    deadline = time.monotonic() + 10
    while not (got := _fetch(host, port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def _host_ipv6_address(exclude: str) -> str | None:
    out = subprocess.run(["ip", "-o", "-6", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith(exclude):
            return addr
    return None


def test_published_ports_on_ipv6(cli, container_cleanup, networks):
    net, subnet = uid("v6"), ula()
    networks.append(net)
    cli("network", "create", "--ipv6", "--subnet", subnet, net)
    name = uid("c")
    container_cleanup.append(name)
    serve = "for p in 80 81 82; do (while true; do echo hi$p | nc -l -p $p; done) & done; wait"
    cli("run", "-d", "--name", name, "--network", net, "-p", "80", "-p", "[::1]::81", "-p", "127.0.0.1::82",
        "busybox", "sh", "-c", serve)
    ports = json.loads(cli("inspect", name).stdout)[0]["NetworkSettings"]["Ports"]
    # a binding without host address: 0.0.0.0 and :: with one port, as Docker 27 on a dual-stack network
    assert [b["HostIp"] for b in ports["80/tcp"]] == ["0.0.0.0", "::"]
    p80 = int(ports["80/tcp"][0]["HostPort"])
    assert ports["80/tcp"][1]["HostPort"] == str(p80)
    assert [b["HostIp"] for b in ports["81/tcp"]] == ["::1"] and [b["HostIp"] for b in ports["82/tcp"]] == ["127.0.0.1"]
    p81 = int(ports["81/tcp"][0]["HostPort"])
    assert set(cli("port", name, "80").stdout.split()) == {f"0.0.0.0:{p80}", f"[::]:{p80}"}
    assert cli("port", name, "81").stdout.split() == [f"[::1]:{p81}"]

    assert _answer("127.0.0.1", p80) == "hi80"
    assert _answer("::1", p80) == "hi80"          # the daemon's relay (no DNAT to ::1 in IPv6)
    assert _answer("::1", p81) == "hi81"
    assert _fetch("127.0.0.1", p81) != "hi81"     # published on ::1 only (the port may serve 127.0.0.1::82)
    own = _host_ipv6_address(subnet.split("::")[0])
    if own:  # the host's own IPv6 address: ip6 DNAT
        assert _answer(own, p80) == "hi80"
        assert _fetch(own, p81) != "hi81"
    cli("rm", "-f", name)
    assert _fetch("::1", p81) != "hi81" and _fetch("::1", p80) != "hi80"


