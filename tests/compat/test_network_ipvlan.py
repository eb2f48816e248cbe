"""ipvlan, VLAN sub-interface parents and dummy parents through the docker CLI, as Docker.

The tests marked `needs_links` need the kernel's ipvlan, 8021q and dummy link types; this
project's hosts lack them, so they run in the qemu guest of tests/vm (selected by NEEDS_LINKS).
The others run anywhere.
"""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import uid
from .test_network_macvlan import ip, links, netns_ip, parent, run  # noqa: F401 (fixtures)
from .test_networks_user import sh


def _missing_link_types() -> list[str]:
    """Which of dummy, ipvlan, vlan this kernel cannot make (tried on a dummy link, then removed)."""
    name = "dpytk" + uuid.uuid4().hex[:6]
    if ip("link", "add", name, "type", "dummy", check=False).returncode != 0:
        return ["dummy", "ipvlan", "vlan"]
    try:
        return [kind for kind, args in (("ipvlan", ["link", name, "name", name + "i", "type", "ipvlan"]),
                                        ("vlan", ["link", name, "name", name + ".7", "type", "vlan", "id", "7"]))
                if ip("link", "add", *args, check=False).returncode != 0]
    finally:
        ip("link", "del", name, check=False)  # its ipvlan and vlan children go with it


MISSING = _missing_link_types()
needs_links = pytest.mark.skipif(bool(MISSING), reason=f"this kernel cannot make {', '.join(MISSING)} links "
                                                       "(tests/vm runs these in a qemu guest)")
# what tests/vm runs in its guest (the rest runs anywhere)
NEEDS_LINKS = "reach_each_other or vlan_parent or dummy_parent or one_ipvlan_network"


def net_id(cli, net: str) -> str:
    return json.loads(cli("network", "inspect", net).stdout)[0]["Id"]


def fails(cli, *args: str) -> str:
    out = cli("network", "create", *args, check=False)
    assert out.returncode == 1, out.stdout
    return out.stderr.strip()


@needs_links
@pytest.mark.parametrize("mode", ["l2", "l3"])
def test_ipvlan_containers_reach_each_other(cli, container_cleanup, networks, parent, mode):
    net = uid("iv")
    networks.append(net)
    cli("network", "create", "-d", "ipvlan", "--subnet", "10.232.7.0/24", "--gateway", "10.232.7.254",
        "-o", f"parent={parent}", "-o", f"ipvlan_mode={mode}", net)
    info = json.loads(cli("network", "inspect", net).stdout)[0]
    assert info["Driver"] == "ipvlan" and info["Options"] == {"parent": parent, "ipvlan_mode": mode}
    a = run(cli, container_cleanup, "--network", net, "--ip", "10.232.7.10")
    b = run(cli, container_cleanup, "--network", net, "--ip", "10.232.7.11")
    assert f"ipvlan  mode {mode}" in netns_ip(cli, a, "-d", "link", "show", "eth0")
    assert "inet 10.232.7.10/24" in sh(cli, a, "ip -o -4 addr show eth0").stdout
    reach = sh(cli, a, "ping -c 1 -W 2 10.232.7.11")
    assert reach.returncode == 0, reach.stdout + reach.stderr
    # and a TCP echo, b serving on 7777
    sh(cli, b, "nc -l -p 7777 -e cat >/dev/null 2>&1 &")
    echo = sh(cli, a, "for i in 1 2 3 4 5; do r=$(echo hi | nc -w 2 10.232.7.11 7777) && [ -n \"$r\" ] && "
                      "echo $r && break; sleep 0.2; done")
    assert echo.stdout.strip() == "hi", echo.stderr
    cli("rm", "-f", a, b)
    cli("network", "rm", net)
    assert parent in links()  # a parent the user gave stays


@needs_links
@pytest.mark.parametrize("driver", ["macvlan", "ipvlan"])
def test_vlan_parent_is_made_and_removed_with_the_network(cli, container_cleanup, networks, parent, driver):
    net = uid("vl")
    networks.append(net)
    cli("network", "create", "-d", driver, "-o", f"parent={parent}.20", "--subnet", "10.232.8.0/24", net)
    link = ip("-d", "link", "show", f"{parent}.20").stdout
    assert f"{parent}.20@{parent}" in link and "vlan protocol 802.1Q id 20" in link
    c = run(cli, container_cleanup, "--network", net)
    assert driver in netns_ip(cli, c, "-d", "link", "show", "eth0")
    cli("rm", "-f", c)
    cli("network", "rm", net)
    assert f"{parent}.20@" not in links()
    # a VLAN link that was there before is the user's: network rm leaves it
    ip("link", "add", "link", parent, "name", f"{parent}.21", "type", "vlan", "id", "21")
    cli("network", "create", "-d", driver, "-o", f"parent={parent}.21", "--subnet", "10.232.9.0/24", net)
    cli("network", "rm", net)
    assert f"{parent}.21@" in links()


@needs_links
def test_a_vlan_parent_shared_by_two_macvlan_networks_goes_with_the_last(cli, networks, parent):
    a, b = uid("vl"), uid("vl")
    networks += [a, b]
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}.30", "--subnet", "10.232.10.0/24", a)
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}.30", "--subnet", "10.232.11.0/24", b)
    cli("network", "rm", a)
    assert f"{parent}.30@" in links()
    cli("network", "rm", b)
    assert f"{parent}.30@" not in links()


@needs_links
@pytest.mark.parametrize("driver,prefix", [("macvlan", "dm-"), ("ipvlan", "di-")])
def test_no_parent_means_docker_dummy_parent_and_internal(cli, container_cleanup, networks, driver, prefix):
    net = uid("dm")
    networks.append(net)
    cli("network", "create", "-d", driver, "--subnet", "10.232.12.0/24", net)
    dummy = f"{prefix}{net_id(cli, net)[:12]}"
    assert "dummy" in ip("-d", "link", "show", dummy).stdout
    a = run(cli, container_cleanup, "--network", net, "--ip", "10.232.12.20")
    b = run(cli, container_cleanup, "--network", net, "--ip", "10.232.12.21")
    assert "default" not in sh(cli, a, "ip route").stdout  # Docker: without a parent the network is internal
    reach = sh(cli, a, "ping -c 1 -W 2 10.232.12.21")
    assert reach.returncode == 0, reach.stdout + reach.stderr
    cli("rm", "-f", a, b)
    cli("network", "rm", net)
    assert dummy not in links()


@needs_links
def test_one_ipvlan_network_per_parent(cli, networks, parent):
    a, b = uid("iv"), uid("iv")
    networks += [a, b]
    cli("network", "create", "-d", "ipvlan", "-o", f"parent={parent}", "--subnet", "10.232.13.0/24", a)
    assert fails(cli, "-d", "ipvlan", "-o", f"parent={parent}", "--subnet", "10.232.14.0/24", b) == \
        f"Error response from daemon: network di-{net_id(cli, a)[:12]} is already using parent interface {parent}"
    assert cli("network", "ls", "-q", "--filter", f"name={b}").stdout.strip() == ""


@pytest.mark.parametrize("driver", ["macvlan", "ipvlan"])
def test_loopback_is_no_parent(cli, networks, driver):
    net = uid("lo")
    networks.append(net)
    assert fails(cli, "-d", driver, "-o", "parent=lo", net) == \
        f"Error response from daemon: loopback interface is not a valid {driver} parent link"
    assert cli("network", "ls", "-q", "--filter", f"name={net}").stdout.strip() == ""


def test_macvlan_passthru_keeps_its_parent_to_itself(cli, networks, parent):
    a, b, c = uid("pt"), uid("pt"), uid("pt")
    networks += [a, b, c]
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.232.15.0/24", a)
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.232.16.0/24", b)  # shared
    assert fails(cli, "-d", "macvlan", "-o", f"parent={parent}", "-o", "macvlan_mode=passthru", c) == \
        f"Error response from daemon: cannot use mode passthru, macvlan network {net_id(cli, a)} is already " \
        f"using parent interface {parent}"
    cli("network", "rm", a, b)
    cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "-o", "macvlan_mode=passthru", c)
    assert fails(cli, "-d", "macvlan", "-o", f"parent={parent}", a) == \
        f"Error response from daemon: macvlan network {net_id(cli, c)} is already using parent interface " \
        f"{parent} in mode passthru"
    cli("network", "rm", c)


def test_macvlan_without_parent_is_internal(cli, container_cleanup, networks):
    """Here too where the kernel has no dummy (the parent is then a veth pair)."""
    net = uid("mv")
    networks.append(net)
    cli("network", "create", "-d", "macvlan", "--subnet", "10.232.17.0/24", net)
    dummy = f"dm-{net_id(cli, net)[:12]}"
    assert dummy in links()
    c = run(cli, container_cleanup, "--network", net)
    routes = sh(cli, c, "ip route").stdout
    assert "10.232.17.0/24 dev eth0" in routes and "default" not in routes
    cli("rm", "-f", c)
    cli("network", "rm", net)
    assert dummy not in links()
