"""macvlan and ipvlan networks through the docker CLI and docker-py.

The parent is a veth pair the test makes (``dpyt<tag>a``/``b``) and removes; this
host's kernel may lack the dummy, vlan and ipvlan link types (then the driver uses
a veth pair as the dummy parent, and ipvlan is refused at create).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from .conftest import uid
from .test_networks_user import sh


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def netns_ip(cli, container: str, *args: str) -> str:
    """The host's ip(8) in the container's network namespace (busybox's has no -d)."""
    pid = json.loads(cli("inspect", container).stdout)[0]["State"]["Pid"]
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", *args], capture_output=True, text=True,
                          check=True).stdout


def links() -> str:
    return ip("-o", "link").stdout


@pytest.fixture
def parent():
    name = "dpyt" + uuid.uuid4().hex[:6]
    ip("link", "add", name + "a", "type", "veth", "peer", "name", name + "b")
    for end in "ab":
        ip("link", "set", name + end, "up")
    yield name + "a"
    ip("link", "del", name + "a", check=False)


def run(cli, container_cleanup, *args: str) -> str:
    name = uid("c")
    container_cleanup.append(name)
    cli("run", "-d", "--name", name, *args, "busybox", "sleep", "300")
    return name


@pytest.mark.parametrize("mode", ["", "bridge", "private", "vepa"])
def test_macvlan_network_on_a_parent(cli, container_cleanup, networks, parent, mode):
    net = uid("mv")
    networks.append(net)
    opts = ["-o", f"parent={parent}"] + (["-o", f"macvlan_mode={mode}"] if mode else [])
    cli("network", "create", "-d", "macvlan", "--subnet", "10.231.7.0/24", "--gateway", "10.231.7.254", *opts, net)
    info = json.loads(cli("network", "inspect", net).stdout)[0]
    assert info["Driver"] == "macvlan" and info["Options"]["parent"] == parent
    assert info["IPAM"]["Config"] == [{"Subnet": "10.231.7.0/24", "Gateway": "10.231.7.254"}]
    a = run(cli, container_cleanup, "--network", net)
    b = run(cli, container_cleanup, "--network", net, "--ip", "10.231.7.77")
    link = netns_ip(cli, a, "-d", "link", "show", "eth0")
    assert f"macvlan mode {mode or 'bridge'}" in link and "link/ether 02:42:0a:e7:07:01" in link
    assert "inet 10.231.7.1/24" in sh(cli, a, "ip -o -4 addr show eth0").stdout
    assert "default via 10.231.7.254 dev eth0" in sh(cli, a, "ip route").stdout
    s = json.loads(cli("inspect", b).stdout)[0]["NetworkSettings"]["Networks"][net]
    assert (s["IPAddress"], s["Gateway"], s["MacAddress"]) == ("10.231.7.77", "10.231.7.254", "02:42:0a:e7:07:4d")
    reach = sh(cli, a, "ping -c 1 -W 2 10.231.7.77")
    if mode in ("", "bridge"):
        assert reach.returncode == 0, reach.stdout + reach.stderr   # bridge mode: they see each other
    else:
        assert reach.returncode != 0  # private: never; vepa: only through an external switch that reflects
    cli("network", "disconnect", net, b)
    assert "eth0" not in sh(cli, b, "ip -o link").stdout
    cli("rm", "-f", a, b)
    cli("network", "rm", net)
    assert parent in links()


def test_macvlan_without_parent_and_internal(cli, container_cleanup, networks):
    net = uid("mv")
    networks.append(net)
    cli("network", "create", "-d", "macvlan", "--internal", "--subnet", "10.231.8.0/24", net)
    nid = json.loads(cli("network", "inspect", net).stdout)[0]["Id"]
    assert f"dm-{nid[:12]}" in links()  # Docker's dummy parent
    a = run(cli, container_cleanup, "--network", net)
    b = run(cli, container_cleanup, "--network", net)
    assert "default" not in sh(cli, a, "ip route").stdout  # internal: no way out
    assert sh(cli, a, "ping -c 1 -W 2 10.231.8.3").returncode == 0
    out = sh(cli, a, "nslookup " + b + " 127.0.0.11").stdout  # the embedded DNS serves macvlan networks
    assert "10.231.8.3" in out
    cli("rm", "-f", a, b)
    cli("network", "rm", net)
    assert f"dm-{nid[:12]}" not in links()


def test_default_route_moves_to_macvlan_gateway(cli, container_cleanup, networks, parent):
    mv, br = uid("mv"), uid("br")
    networks += [mv, br]
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.231.11.0/24", mv)
    cli("network", "create", br)
    c = run(cli, container_cleanup, "--network", br)
    cli("network", "connect", mv, c)
    assert "default via 10.231.11.1" not in sh(cli, c, "ip route").stdout
    cli("network", "disconnect", br, c)
    assert "default via 10.231.11.1 dev eth1" in sh(cli, c, "ip route").stdout
    cli("rm", "-f", c)


def test_ipvlan(cli, container_cleanup, networks, parent):
    net = uid("iv")
    networks.append(net)
    out = cli("network", "create", "-d", "ipvlan", "--subnet", "10.231.9.0/24", "-o", f"parent={parent}",
              "-o", "ipvlan_mode=l2", net, check=False)
    if out.returncode != 0:  # this kernel has no ipvlan: a clear 400, nothing left
        assert out.stderr.strip() == "Error response from daemon: ipvlan is not supported by this host's kernel"
        assert cli("network", "ls", "-q", "--filter", f"name={net}").stdout.strip() == ""
        assert "dpyprobe" not in links()
        return
    a = run(cli, container_cleanup, "--network", net)
    assert "ipvlan" in netns_ip(cli, a, "-d", "link", "show", "eth0")
    assert json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"][net]["MacAddress"] == ""
    cli("rm", "-f", a)
    cli("network", "rm", net)


def test_bad_input_leaves_nothing(cli, networks, parent):
    net = uid("mv")
    networks.append(net)

    def fails(*args: str) -> str:
        out = cli("network", "create", *args, net, check=False)
        assert out.returncode == 1
        assert cli("network", "ls", "-q", "--filter", f"name={net}").stdout.strip() == ""
        return out.stderr.strip()

    before = links()
    assert fails("-d", "macvlan", "-o", "parent=dpytnosuch0") == \
        "Error response from daemon: invalid subinterface vlan name dpytnosuch0, example formatting is eth0.10"
    assert fails("-d", "macvlan", "-o", f"parent={parent}", "-o", "macvlan_mode=foo") == \
        "Error response from daemon: requested macvlan mode 'foo' is not valid, 'bridge' mode is the macvlan " \
        "driver default"
    assert fails("-d", "ipvlan", "-o", f"parent={parent}", "-o", "ipvlan_mode=foo") == \
        "Error response from daemon: requested ipvlan mode 'foo' is not valid, 'l2' mode is the ipvlan driver default"
    vlan = uid("mv")
    networks.append(vlan)
    out = cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}.10", vlan, check=False)
    if out.returncode == 0:  # the VLAN sub-interface is made, and removed with the network
        assert f"{parent}.10@{parent}" in links()
        cli("network", "rm", vlan)
        assert f"{parent}.10@" not in links()
    else:
        assert out.stderr.strip() == "Error response from daemon: vlan is not supported by this host's kernel"
    other = uid("mv")
    networks.append(other)
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.231.10.0/24", other)
    assert fails("-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.231.10.128/25") == \
        "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space"
    cli("network", "rm", other)
    assert links().count("dm-") == before.count("dm-")
