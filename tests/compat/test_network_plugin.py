"""Remote network and IPAM plugins (Docker's legacy plugin protocol) through the docker CLI and docker-py.

A daemon of this module's own looks for plugins in a temporary directory
(DOCKERD_PY_PLUGIN_SOCKETS / _SPECS); the plugin is tests/compat/network_plugin_server.py,
served from this process: it makes a bridge per network and a veth pair per Join.
The calls it records are compared with what Docker's dockerd sends (observed with
contrib/reference-dockerd.sh, Engine 20.10, and the same server).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid

import docker as docker_sdk
import pytest

from .conftest import docker, private_daemon
from .network_plugin_server import STATIC_ROUTE, NetworkPlugin
from .test_networks_user import sh

@pytest.fixture(scope="module")
def ndaemon():
    """A daemon that looks for plugins in a directory of its own only."""
    plugins = tempfile.mkdtemp(prefix="np", dir="/tmp")
    env = {"DOCKERD_PY_PLUGIN_SOCKETS": f"{plugins}/run", "DOCKERD_PY_PLUGIN_SPECS": f"{plugins}/etc",
           "DOCKERD_PY_PLUGIN_RETRY_SECONDS": "4"}  # gives up after 1 + 2 s (Docker: 15 s)
    try:
        with private_daemon("n", env=env) as d:
            d.extra["plugins"] = plugins
            yield d
    finally:
        shutil.rmtree(plugins, ignore_errors=True)


@pytest.fixture
def ncli(ndaemon):
    return lambda *args, **kw: docker(ndaemon, *args, **kw)


@pytest.fixture
def plugin(ndaemon, ncli):
    """A NetworkDriver + IpamDriver plugin at <plugins>/run/<name>.sock; its links are tagged."""
    name = "np" + uuid.uuid4().hex[:6]
    tag = "t" + name[2:5]
    p = NetworkPlugin(f"{ndaemon.extra['plugins']}/run/{name}.sock", tag).start()
    p.name = name
    yield p
    for line in ncli("network", "ls", "--filter", f"driver={name}", "-q", check=False).stdout.split():
        ncli("network", "rm", line, check=False)
    p.stop()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f": {tag}" not in links  # the plugin's bridges and veths are gone


def _net_calls(p: NetworkPlugin) -> list[str]:
    return [m for m in p.names() if m.startswith(("NetworkDriver.", "IpamDriver.", "Plugin."))]


def test_network_through_a_remote_driver_in_dockers_order(ncli, plugin):
    net, ctr = "rn" + uuid.uuid4().hex[:8], "rc" + uuid.uuid4().hex[:8]
    ncli("network", "create", "-d", plugin.name, "--subnet", "10.77.41.0/24", "-o", "foo=bar", net)
    assert _net_calls(plugin) == ["Plugin.Activate", "NetworkDriver.GetCapabilities", "IpamDriver.GetCapabilities",
                                  "IpamDriver.GetDefaultAddressSpaces", "NetworkDriver.CreateNetwork"]
    assert [body for _, body in plugin.raw_bodies[:4]] == [b""] * 4   # calls without arguments: no body
    nid = json.loads(ncli("network", "inspect", net).stdout)[0]["Id"]
    assert plugin.calls[-1][1] == {  # as Docker's dockerd sends it
        "NetworkID": nid, "Options": {"com.docker.network.enable_ipv6": False,
                                      "com.docker.network.generic": {"foo": "bar"}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": "10.77.41.1/24", "Pool": "10.77.41.0/24"}],
        "IPv6Data": []}

    plugin.calls.clear()
    try:
        ncli("run", "-d", "--name", ctr, "--network", net, "busybox", "sleep", "300")
        assert _net_calls(plugin) == ["NetworkDriver.CreateEndpoint", "NetworkDriver.Join",
                                      "NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.EndpointOperInfo"]
        create_ep, join = plugin.calls[0][1], plugin.calls[1][1]
        assert create_ep["Interface"] == {"Address": "10.77.41.2/24", "AddressIPv6": "", "MacAddress": ""}
        assert create_ep["Options"] == {"com.docker.network.endpoint.exposedports": [],  # no ports: empty lists
                                        "com.docker.network.portmap": []}
        assert join["SandboxKey"].startswith("/") and join["EndpointID"] == create_ep["EndpointID"]
        # the plugin's veth end is the container's eth0, with its address, the gateway and static route
        addr = sh(ncli, ctr, "ip -o -4 addr show eth0").stdout
        assert "inet 10.77.41.2/24" in addr
        routes = sh(ncli, ctr, "ip route").stdout
        assert "default via 10.77.41.1 dev eth0" in routes and f"{STATIC_ROUTE} dev eth0" in routes
        assert sh(ncli, ctr, "ping -c 1 -W 2 10.77.41.1").returncode == 0
        info = json.loads(ncli("inspect", ctr).stdout)[0]["NetworkSettings"]["Networks"][net]
        assert (info["IPAddress"], info["Gateway"], info["IPPrefixLen"]) == ("10.77.41.2", "10.77.41.1", 24)
        assert info["EndpointID"] == create_ep["EndpointID"]

        plugin.calls.clear()
        ncli("network", "disconnect", net, ctr)
        assert _net_calls(plugin) == ["NetworkDriver.RevokeExternalConnectivity", "NetworkDriver.Leave",
                                      "NetworkDriver.DeleteEndpoint"]
        assert "eth0" not in sh(ncli, ctr, "ip -o link").stdout
    finally:
        ncli("rm", "-f", ctr, check=False)
    plugin.calls.clear()
    ncli("network", "rm", net)
    assert _net_calls(plugin) == ["NetworkDriver.DeleteNetwork"]
    assert not plugin.networks


def test_remote_driver_gets_the_containers_ports(ncli, plugin):
    """As Docker's dockerd: the ports go to the plugin (CreateEndpoint, Join and
    ProgramExternalConnectivity), which publishes them or not; the daemon binds nothing."""
    net, ctr = "rn" + uuid.uuid4().hex[:8], "rc" + uuid.uuid4().hex[:8]
    ncli("network", "create", "-d", plugin.name, net)
    plugin.calls.clear()
    try:
        ncli("run", "-d", "--name", ctr, "--network", net, "-p", "127.0.0.1:9090:90/udp", "-p", "8000-8010:81",
             "-p", "80", "--expose", "7000", "busybox", "sleep", "300")
        sent = {m: b["Options"] for m, b in plugin.calls if m in (
            "NetworkDriver.CreateEndpoint", "NetworkDriver.Join", "NetworkDriver.ProgramExternalConnectivity")}
        assert len(sent) == 3
        for options in sent.values():  # Docker's JSON (libnetwork's TransportPort / PortBinding); order is Go's map's
            assert sorted(options) == ["com.docker.network.endpoint.exposedports", "com.docker.network.portmap"]
            assert sorted(options["com.docker.network.endpoint.exposedports"], key=json.dumps) == sorted([
                {"Proto": 6, "Port": 7000}, {"Proto": 17, "Port": 90}, {"Proto": 6, "Port": 81},
                {"Proto": 6, "Port": 80}], key=json.dumps)
            assert sorted(options["com.docker.network.portmap"], key=json.dumps) == sorted([
                {"Proto": 17, "IP": "", "Port": 90, "HostIP": "127.0.0.1", "HostPort": 9090, "HostPortEnd": 9090},
                {"Proto": 6, "IP": "", "Port": 81, "HostIP": "", "HostPort": 8000, "HostPortEnd": 8010},
                {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 0, "HostPortEnd": 0}], key=json.dumps)
        assert json.loads(ncli("inspect", ctr).stdout)[0]["NetworkSettings"]["Ports"] == {}
        assert ncli("port", ctr).stdout == ""
    finally:
        ncli("rm", "-f", ctr, check=False)
        ncli("network", "rm", net, check=False)


def test_remote_ipam_driver(ndaemon, plugin):
    client = docker_sdk.DockerClient(base_url=f"unix://{ndaemon.socket_path}")
    name = "ri" + uuid.uuid4().hex[:8]
    net = client.networks.create(name, driver=plugin.name, ipam=docker_sdk.types.IPAMConfig(driver=plugin.name))
    ctr = None
    try:
        assert _net_calls(plugin)[-3:] == ["IpamDriver.RequestPool", "IpamDriver.RequestAddress",
                                           "NetworkDriver.CreateNetwork"]
        assert plugin.calls[-3][1] == {"AddressSpace": "np-local", "Pool": "", "SubPool": "", "Options": {},
                                       "V6": False}
        assert plugin.calls[-2][1]["Options"] == {"RequestAddressType": "com.docker.network.gateway"}
        assert plugin.calls[-1][1]["IPv4Data"] == [
            {"AddressSpace": "np-local", "Gateway": "10.123.45.1/24", "Pool": "10.123.45.0/24"}]
        net.reload()
        assert net.attrs["IPAM"]["Driver"] == plugin.name
        assert net.attrs["IPAM"]["Config"] == [{"Subnet": "10.123.45.0/24", "Gateway": "10.123.45.1"}]
        plugin.calls.clear()
        ctr = client.containers.run("busybox", ["sleep", "300"], detach=True, network=name)
        assert _net_calls(plugin)[:2] == ["IpamDriver.RequestAddress", "NetworkDriver.CreateEndpoint"]
        ctr.reload()
        assert ctr.attrs["NetworkSettings"]["Networks"][name]["IPAddress"] == "10.123.45.2"
        plugin.calls.clear()
        ctr.remove(force=True)
        ctr = None
        assert _net_calls(plugin)[-1] == "IpamDriver.ReleaseAddress"
        assert plugin.calls[-1][1] == {"PoolID": "np-10.123.45.0/24", "Address": "10.123.45.2"}
    finally:
        if ctr is not None:
            ctr.remove(force=True)
        plugin.calls.clear()
        net.remove()
        client.close()
    assert _net_calls(plugin) == ["IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool",
                                  "NetworkDriver.DeleteNetwork"]
    assert plugin.calls[0][1] == {"PoolID": "np-10.123.45.0/24", "Address": "10.123.45.1"}


def test_aux_addresses_reach_the_plugin(ncli, plugin):
    """As Docker's dockerd (observed, Engine 20.10): CreateNetwork's IPv4Data carries the --aux-address
    entries in CIDR form; a remote IPAM reserves each (RequestAddress without options, after the
    gateway) and gets them back at network rm, after the gateway and before the pool."""
    net, ipam_net = "ra" + uuid.uuid4().hex[:8], "rb" + uuid.uuid4().hex[:8]
    ncli("network", "create", "-d", plugin.name, "--subnet", "10.77.43.0/24", "--aux-address", "a=10.77.43.5",
         "--aux-address", "bb=10.77.43.6", net)
    assert plugin.calls[-1][0] == "NetworkDriver.CreateNetwork"
    assert plugin.calls[-1][1]["IPv4Data"] == [
        {"AddressSpace": "LocalDefault", "AuxAddresses": {"a": "10.77.43.5/24", "bb": "10.77.43.6/24"},
         "Gateway": "10.77.43.1/24", "Pool": "10.77.43.0/24"}]
    ncli("network", "rm", net)

    plugin.calls.clear()
    ncli("network", "create", "-d", plugin.name, "--ipam-driver", plugin.name, "--subnet", "10.123.45.0/24",
         "--aux-address", "a=10.123.45.7", ipam_net)
    try:
        assert _net_calls(plugin) == ["IpamDriver.RequestPool", "IpamDriver.RequestAddress",
                                      "IpamDriver.RequestAddress", "NetworkDriver.CreateNetwork"]
        assert plugin.calls[2][1] == {"PoolID": "np-10.123.45.0/24", "Address": "10.123.45.7", "Options": None}
        assert plugin.calls[3][1]["IPv4Data"] == [
            {"AddressSpace": "np-local", "AuxAddresses": {"a": "10.123.45.7/24"}, "Gateway": "10.123.45.1/24",
             "Pool": "10.123.45.0/24"}]
        assert plugin.addresses == {"10.123.45.1", "10.123.45.7"}
    finally:
        plugin.calls.clear()
        ncli("network", "rm", ipam_net)
    assert [(m, b.get("Address")) for m, b in plugin.calls] == [
        ("IpamDriver.ReleaseAddress", "10.123.45.1"), ("IpamDriver.ReleaseAddress", "10.123.45.7"),
        ("IpamDriver.ReleasePool", None), ("NetworkDriver.DeleteNetwork", None)]
    assert not plugin.addresses


def test_unknown_plugin_and_failing_plugin(ncli, plugin):
    name = "rb" + uuid.uuid4().hex[:8]
    start = time.monotonic()
    out = ncli("network", "create", "-d", "nosuch" + name, name, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == f'Error response from daemon: plugin "nosuch{name}" not found'
    assert time.monotonic() - start < 10  # retried for DOCKERD_PY_PLUGIN_RETRY_SECONDS, as Docker for 15 s
    out = ncli("network", "create", "--ipam-driver", "nosuch" + name, name, check=False)
    assert out.stderr.strip() == f'Error response from daemon: plugin "nosuch{name}" not found'

    plugin.fail["NetworkDriver.CreateNetwork"] = "no room"
    out = ncli("network", "create", "-d", plugin.name, name, check=False)
    assert out.returncode == 1 and "NetworkDriver.CreateNetwork: no room" in out.stderr
    assert ncli("network", "ls", "-q", "--filter", f"name={name}").stdout.strip() == ""
    assert not plugin.networks


def test_remote_network_survives_a_daemon_restart(ndaemon, ncli, plugin):
    net, old, new = ("rs" + uuid.uuid4().hex[:8] for _ in range(3))
    ncli("network", "create", "-d", plugin.name, "--subnet", "10.77.42.0/24", net)
    ncli("run", "-d", "--name", old, "--network", net, "busybox", "sleep", "300")
    before = len(plugin.calls)
    ndaemon.stop()
    ndaemon.start()
    assert plugin.calls[before:] == []  # nothing is sent to the plugin at stop or start, as Docker
    plugin.calls.clear()
    try:
        # a container joined by the previous process leaves: its interface is found by its mark
        ncli("network", "disconnect", net, old)
        assert _net_calls(plugin) == ["Plugin.Activate", "NetworkDriver.GetCapabilities",
                                      "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces",
                                      "NetworkDriver.RevokeExternalConnectivity", "NetworkDriver.Leave",
                                      "NetworkDriver.DeleteEndpoint"]
        assert "eth0" not in sh(ncli, old, "ip -o link").stdout
        ncli("run", "-d", "--name", new, "--network", net, "busybox", "sleep", "300")
        assert "NetworkDriver.CreateNetwork" not in _net_calls(plugin)  # the network lives in the plugin
        assert "inet 10.77.42.2/24" in sh(ncli, new, "ip -o -4 addr show eth0").stdout
    finally:
        ncli("rm", "-f", old, new, check=False)
    ncli("network", "rm", net)
    assert _net_calls(plugin)[-1] == "NetworkDriver.DeleteNetwork" and not plugin.networks


def test_macvlan_endpoint_leaves_after_a_daemon_restart(ndaemon, ncli):
    parent, net, ctr = "dpyt" + uuid.uuid4().hex[:6], "mr" + uuid.uuid4().hex[:8], "mr" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p"], check=True)
    try:
        ncli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", "10.77.43.0/24", net)
        ncli("run", "-d", "--name", ctr, "busybox", "sleep", "300")
        ncli("network", "connect", net, ctr)
        assert "eth1" in sh(ncli, ctr, "ip -o link").stdout
        ndaemon.stop()
        ndaemon.start()
        ncli("network", "disconnect", net, ctr)
        assert "eth1" not in sh(ncli, ctr, "ip -o link").stdout
        ncli("rm", "-f", ctr)
        ncli("network", "rm", net)
    finally:
        ncli("rm", "-f", ctr, check=False)
        ncli("network", "rm", net, check=False)
        subprocess.run(["ip", "link", "del", parent], capture_output=True)
