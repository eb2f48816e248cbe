"""Networking: hookspecs, PluginHost routing, the bridge/host/null drivers and
NetworkService. Needs root, nft and busybox; every test removes what it made in
the kernel (bridge, veths, netns mounts, its own nft table) even on failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import resource
import secrets
import socket
import subprocess
import sys
import threading
import time

import pytest

from dockerd_py import errors
from dockerd_py.hookspecs import hookimpl
from dockerd_py.pluginhost import PluginHost
from dockerd_py.services import etc_files
from dockerd_py.services.networks import NetworkService, parse_ports

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not ROOT or not os.path.exists("/usr/sbin/nft"), reason="needs root and nft")

SERVER = (  # replies "hello" to every TCP connection on port 80
    "import socket\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 80)); s.listen(8)\n"
    "while True:\n"
    "    c,_=s.accept(); c.sendall(b'hello\\n'); c.close()\n"
)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def in_ns(netns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh("nsenter", f"--net={netns}", *cmd, check=check)


def link_exists(name: str) -> bool:
    return sh("ip", "link", "show", "dev", name, check=False).returncode == 0


def nft_tables() -> str:
    return sh("nft", "list", "tables").stdout


def host_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in sh("ip", "-4", "-o", "addr").stdout.splitlines():
        nets.append(ipaddress.ip_interface(line.split()[3]).network)
    for line in sh("ip", "-4", "route").stdout.splitlines():
        dst = line.split()[0]
        if dst != "default":
            nets.append(ipaddress.ip_network(dst, strict=False))
    return nets


def free_subnet() -> ipaddress.IPv4Network:
    used = host_networks()
    for _ in range(200):
        net = ipaddress.ip_network(f"172.30.{random.randint(1, 254)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    pytest.skip("no free 172.30.x.0/24 subnet")


def host_address() -> str | None:
    """A non-loopback IPv4 address of the host (not on a test bridge)."""
    for line in sh("ip", "-4", "-o", "addr").stdout.splitlines():
        words = line.split()
        if words[1] != "lo" and not words[1].startswith(("dpyt", "docker")):
            return str(ipaddress.ip_interface(words[3]).ip)
    return None


def fetch(host: str, port: int) -> bytes:
    deadline = time.time() + 5
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                return s.recv(100)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def ns_fetch(netns: str, host: str, port: str) -> str:
    """Connect from inside a netns (busybox nc), retrying while the server starts."""
    deadline = time.time() + 5
    while True:
        out = in_ns(netns, "busybox", "nc", "-w", "2", host, str(port), check=False).stdout
        if out or time.time() > deadline:
            return out
        time.sleep(0.2)


class Env:
    """One NetworkService on temp dirs with its own bridge and subnet."""

    def __init__(self, tmp_path) -> None:
        self.bridge = "dpyt" + secrets.token_hex(4)
        self.subnet = free_subnet()
        self.gateway = str(next(self.subnet.hosts()))
        self.data = str(tmp_path / "data")
        self.exec = str(tmp_path / "exec")
        self.table = f"dockerd-py-{self.bridge}"
        self.events: list[dict] = []
        self.procs: list[subprocess.Popen] = []
        self.services: list[NetworkService] = []

    def service(self) -> NetworkService:
        svc = NetworkService(self.data, self.exec, self.bridge,
                             f"{self.gateway}/{self.subnet.prefixlen}",
                             on_event=lambda **kw: self.events.append(kw))
        self.services.append(svc)
        return svc

    def serve(self, netns: str) -> None:
        proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c", SERVER])
        self.procs.append(proc)

    def teardown(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        for svc in self.services[-1:]:
            try:
                svc.cleanup()
            except Exception:  # fall through to the safety net below
                pass
        # Safety net: only names this test made.
        netns_dir = os.path.join(self.exec, "netns")
        if os.path.isdir(netns_dir):
            for name in os.listdir(netns_dir):
                path = os.path.join(netns_dir, name)
                subprocess.run(["umount", "-l", path], capture_output=True)
                os.unlink(path)
        if os.path.isdir(os.path.join(self.data, "network", "endpoints")):
            for name in os.listdir(os.path.join(self.data, "network", "endpoints")):
                rec = json.load(open(os.path.join(self.data, "network", "endpoints", name)))
                veth = "vdpy" + rec["endpoint_id"][:11]
                if link_exists(veth):
                    sh("ip", "link", "del", veth, check=False)
        if link_exists(self.bridge):
            sh("ip", "link", "del", self.bridge, check=False)
        if self.table in nft_tables():
            sh("nft", "delete", "table", "ip", self.table, check=False)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.teardown()


CID1, CID2 = "a" * 64, "b" * 64


# --------------------------------------------------------------------------
# PluginHost routing (no kernel state)
# --------------------------------------------------------------------------


class FakeDriver:
    def __init__(self, tag: str) -> None:
        self.tag, self.calls = tag, []

    @hookimpl
    def network_create(self, driver, network_id):
        self.calls.append(("create", driver, network_id))
        return self.tag

    @hookimpl
    def network_delete(self, network_id):
        raise KeyError(network_id)


def test_pluginhost_loads_builtin_drivers_from_entry_points():
    host = PluginHost()
    assert host.drivers("network") == ["bridge", "host", "ipvlan", "macvlan", "null"]
    caps = host.driver("network", "host").call("network_driver_capabilities")
    assert caps["needs_sandbox"] is False


def test_third_party_driver_is_routed_by_name():
    host = PluginHost()
    a, b = FakeDriver("a"), FakeDriver("b")
    host.register("network.fakea", a)
    host.register("network.fakeb", b)
    assert host.driver("network", "fakeb").call("network_create", network_id="n1", name="x",
                                                ipv4=[], ipv6=[], options={}) == "b"
    assert host.driver("network", "fakea").call("network_create", network_id="n2", name="x",
                                                ipv4=[], ipv6=[], options={}) == "a"
    assert a.calls == [("create", "fakea", "n2")] and b.calls == [("create", "fakeb", "n1")]
    # the built-in drivers were not reached either
    assert host.driver("network", "null").call("network_create", network_id="n3", name="x",
                                               ipv4=[], ipv6=[], options={}) is True
    with pytest.raises(errors.NotImplementedErr):
        host.driver("network", "fakea").call("network_join", network_id="n", endpoint_id="e",
                                             sandbox_key="", ifname="eth0", default_route=True)
    assert host.driver("network", "fakea").call("network_revoke_external", default=True,
                                                network_id="n", endpoint_id="e") is True
    with pytest.raises(errors.SystemErr, match="network driver fakea"):
        host.driver("network", "fakea").call("network_delete", network_id="n")


def test_unknown_driver_is_not_found():
    host = PluginHost(load_entrypoints=False)
    with pytest.raises(errors.NotFound, match='plugin "nope" not found'):
        host.driver("network", "nope")


def test_wrappers_wrap_and_plain_non_driver_impls_are_refused():
    host = PluginHost(load_entrypoints=False)
    host.register("network.fake", FakeDriver("x"))
    seen = []

    class Tracer:
        @hookimpl(wrapper=True)
        def network_create(self, driver):
            seen.append(driver)
            return (yield)

    class Hijacker:
        @hookimpl
        def network_create(self):
            return "hijacked"

    host.register("tracer", Tracer())
    assert host.driver("network", "fake").call("network_create", network_id="n", name="n",
                                               ipv4=[], ipv6=[], options={}) == "x"
    assert seen == ["fake"]
    with pytest.raises(errors.InvalidParameter, match="wrapper=True"):
        host.register("hijacker", Hijacker())
    assert host.pm.get_plugin("hijacker") is None


def test_check_pending_catches_misspelled_hooks():
    class Typo:
        @hookimpl
        def network_craete(self):
            return True

    host = PluginHost(load_entrypoints=False)
    host.register("network.typo", Typo())
    with pytest.raises(errors.SystemErr, match="network_craete"):
        host.check_pending()


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------


def test_parse_ports_validation():
    reqs, keys = parse_ports({"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                              "53/udp": [{"HostPort": ""}]}, {"443/tcp": {}, "9000": {}})
    assert set(keys) == {"80/tcp", "53/udp", "443/tcp", "9000/tcp"}
    assert {"proto": "tcp", "container_port": 80, "host_ip": "0.0.0.0",
            "range": (8080, 8080)} in reqs
    for bad in ({"abc/tcp": None}, {"80/xyz": None}, {"0/tcp": None},
                {"80/tcp": [{"HostPort": "abc"}]}, {"80/tcp": [{"HostPort": "70000"}]},
                {"80/tcp": [{"HostIp": "nohost", "HostPort": "1"}]}):
        with pytest.raises(errors.InvalidParameter):
            parse_ports(bad, None)


@needs_root
@pytest.mark.parametrize("setup, hosts", [
    ("ip link set lo up", ["0.0.0.0", "::"]),
    ("sysctl -qw net.ipv6.conf.lo.disable_ipv6=1; ip link set lo up", ["0.0.0.0"]),
])
def test_ipv4_network_binds_ipv6_only_where_the_host_listens_on_it(setup, hosts):
    """Docker binds [::] beside 0.0.0.0 on an IPv4-only network unless the host cannot listen on IPv6
    (checked in a private netns, where disable_ipv6 stays private)."""
    code = ("from dockerd_py.services.netports import parse_ports\n"
            "print(*[r['host_ip'] for r in parse_ports({'80/tcp': [{}], '81/tcp': [{'HostIp': '127.0.0.1'}]}, None)[0]])")
    out = subprocess.run(["unshare", "-n", "sh", "-c", f'{setup} && exec "$0" -c "$1"', sys.executable, code],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [*hosts, "127.0.0.1"]


def test_etc_files(tmp_path):
    files = etc_files.write_etc_files(str(tmp_path / "c"), "myhost", "", ["172.17.0.2"],
                                      extra_hosts=["db:10.1.1.1"])
    assert set(files) == {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
    hosts = open(files["/etc/hosts"]).read()
    assert hosts.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert hosts.endswith("10.1.1.1\tdb\n172.17.0.2\tmyhost\n")
    assert open(files["/etc/hostname"]).read() == "myhost\n"
    resolv = open(files["/etc/resolv.conf"]).read()
    assert resolv.startswith("# Generated by Docker Engine.\n") and "(legacy)\n" in resolv
    assert open(files["/etc/resolv.conf"] + ".hash").read().startswith("sha256:")


# --------------------------------------------------------------------------
# NetworkService with the real kernel
# --------------------------------------------------------------------------


@needs_root
def test_predefined_networks(env):
    svc = env.service()
    nets = {n["Name"]: n for n in svc.list()}
    assert set(nets) == {"bridge", "host", "none"}
    br = nets["bridge"]
    assert len(br["Id"]) == 64 and br["Driver"] == "bridge" and br["Scope"] == "local"
    assert br["IPAM"] == {"Driver": "default", "Options": None,
                          "Config": [{"Subnet": str(env.subnet), "Gateway": env.gateway}]}
    assert br["Options"]["com.docker.network.bridge.name"] == env.bridge
    assert nets["none"]["Driver"] == "null" and nets["host"]["IPAM"]["Config"] == []
    assert svc.inspect(br["Id"][:12])["Name"] == "bridge"
    with pytest.raises(errors.NotFound, match="network nope not found"):
        svc.inspect("nope")
    # ids survive a restart
    assert env.service().inspect("bridge")["Id"] == br["Id"]
    # the bridge exists with the gateway address, ip_forward is on
    assert f"{env.gateway}/{env.subnet.prefixlen}" in sh("ip", "-4", "addr", "show", env.bridge).stdout
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"


@needs_root
def test_attach_bridge_connectivity_and_ports(env):
    svc = env.service()
    port = free_tcp_port()
    sb = svc.attach(CID1, "bridge", {"80/tcp": [{"HostIp": "", "HostPort": "0"},
                                                {"HostIp": "", "HostPort": str(port)}]},
                    {"80/tcp": {}, "81/tcp": {}}, "web", {"name": "/web"})
    ip = str(list(env.subnet.hosts())[1])
    assert sb.netns_path == os.path.join(env.exec, "netns", CID1)
    ep = sb.networks["bridge"]
    assert ep["IPAddress"] == ip and ep["Gateway"] == env.gateway
    assert ep["IPPrefixLen"] == env.subnet.prefixlen
    assert ep["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert len(ep["EndpointID"]) == 64
    assert sb.ports["81/tcp"] is None
    host_ports = [int(b["HostPort"]) for b in sb.ports["80/tcp"]]  # each also on [::] (relayed), same port
    assert host_ports[2] == port and host_ports[0] != port and host_ports[::2] == host_ports[1::2]
    assert [b["HostIp"] for b in sb.ports["80/tcp"]] == ["0.0.0.0", "::"] * 2

    addr = in_ns(sb.netns_path, "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
    assert f"{ip}/{env.subnet.prefixlen}" in addr
    assert f"default via {env.gateway} dev eth0" in in_ns(sb.netns_path, "ip", "route").stdout
    assert "state UP" in in_ns(sb.netns_path, "ip", "link", "show", "lo").stdout or \
        "UNKNOWN" in in_ns(sb.netns_path, "ip", "link", "show", "lo").stdout
    in_ns(sb.netns_path, "busybox", "ping", "-c", "1", "-W", "2", env.gateway)

    table = sh("nft", "list", "table", "ip", env.table).stdout
    assert f'oifname != "{env.bridge}" ip saddr {env.subnet} masquerade' in table
    assert f"dnat to {ip}:80" in table

    env.serve(sb.netns_path)
    for hp in host_ports:
        assert fetch("127.0.0.1", hp) == b"hello\n"
        addr = host_address()
        if addr:
            assert fetch(addr, hp) == b"hello\n"

    info = svc.inspect("bridge")["Containers"][CID1]
    assert info["Name"] == "/web" and info["IPv4Address"] == f"{ip}/{env.subnet.prefixlen}"
    assert [e["action"] for e in env.events] == ["connect"]
    assert env.events[0]["attrs"] == {"container": CID1, "name": "bridge", "type": "bridge"}

    # port already allocated
    with pytest.raises(errors.SystemErr, match="port is already allocated"):
        svc.attach(CID2, "bridge", {"8080/tcp": [{"HostPort": str(port)}]}, None, "x")
    assert CID2 not in svc.inspect("bridge")["Containers"]

    veth = "vdpy" + ep["EndpointID"][:11]
    assert link_exists(veth)
    svc.detach(CID1)
    svc.detach(CID1)  # idempotent
    assert not link_exists(veth)
    assert not os.path.exists(sb.netns_path)
    table = sh("nft", "list", "table", "ip", env.table).stdout
    assert "dnat to" not in table and ep["EndpointID"] not in table
    assert svc.inspect("bridge")["Containers"] == {}
    assert [e["action"] for e in env.events] == ["connect", "disconnect"]
    # the address was released
    again = svc.attach(CID2, "default", None, None, "x")
    assert again.networks["bridge"]["IPAddress"] == ip


@needs_root
def test_loopback_only_binding(env):
    svc = env.service()
    sb = svc.attach(CID1, "bridge", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}, None, "x")
    hp = int(sb.ports["80/tcp"][0]["HostPort"])
    assert sb.ports["80/tcp"][0]["HostIp"] == "127.0.0.1"
    env.serve(sb.netns_path)
    assert fetch("127.0.0.1", hp) == b"hello\n"
    assert f"ip daddr 127.0.0.1 tcp dport {hp}" in sh("nft", "list", "table", "ip", env.table).stdout


@needs_root
def test_none_and_host_modes(env):
    svc = env.service()
    sb = svc.attach(CID1, "none", {"80/tcp": [{"HostPort": "8080"}]}, None, "x")
    links = in_ns(sb.netns_path, "ip", "-o", "link").stdout.splitlines()
    assert len(links) == 1 and ": lo:" in links[0]
    assert "127.0.0.1/8" in in_ns(sb.netns_path, "ip", "-4", "addr").stdout
    assert set(sb.networks) == {"none"} and sb.networks["none"]["IPAddress"] == ""
    assert sb.ports == {}
    hs = svc.attach(CID2, "host", {"80/tcp": [{"HostPort": "8080"}]}, None, "x")
    assert hs.netns_path is None and set(hs.networks) == {"host"} and hs.ports == {}
    assert hs.networks["host"]["NetworkID"] == svc.inspect("host")["Id"]
    assert [(e["action"], e["attrs"]["type"]) for e in env.events] == [
        ("connect", "null"), ("connect", "host")]
    path = sb.netns_path
    svc.detach(CID1)
    svc.detach(CID2)
    assert not os.path.exists(path)


@needs_root
def test_bad_modes(env):
    svc = env.service()
    with pytest.raises(errors.NotFound, match="network foo not found"):
        svc.attach(CID1, "foo", None, None, "x")
    with pytest.raises(errors.Conflict, match="non running container"):
        svc.attach(CID1, "container:" + CID2, None, None, "x")
    with pytest.raises(errors.InvalidParameter, match="invalid port specification"):
        svc.attach(CID1, "bridge", {"http/tcp": None}, None, "x")
    with pytest.raises(errors.InvalidParameter, match="invalid MAC address"):
        svc.attach(CID1, "bridge", None, None, "x", {"mac_address": "zz"})
    with pytest.raises(errors.InvalidParameter, match="user defined networks only"):
        svc.attach(CID1, "bridge", None, None, "x", {"ipv4_address": "10.0.0.5"})
    sb = svc.attach(CID1, "bridge", None, None, "x", {"mac_address": "02:00:00:00:00:99"})
    assert sb.networks["bridge"]["MacAddress"] == "02:00:00:00:00:99"
    assert "02:00:00:00:00:99" in in_ns(sb.netns_path, "ip", "link", "show", "eth0").stdout
    svc.detach(CID1)
    assert svc.inspect("bridge")["Containers"] == {}
    assert os.listdir(os.path.join(env.exec, "netns")) == [] if os.path.isdir(
        os.path.join(env.exec, "netns")) else True


@needs_root
def test_restart_keeps_running_containers(env):
    svc = env.service()
    one = svc.attach(CID1, "bridge", {"80/tcp": [{"HostPort": ""}]}, None, "one")
    two = svc.attach(CID2, "bridge", None, None, "two")
    # a new daemon process on the same roots; only CID1 is still running
    svc2 = env.service()
    svc2.restore([CID1])
    assert svc2.sandbox(CID1).networks == one.networks
    assert svc2.sandbox(CID2) is None
    assert not os.path.exists(two.netns_path)
    assert not link_exists("vdpy" + two.networks["bridge"]["EndpointID"][:11])
    in_ns(one.netns_path, "busybox", "ping", "-c", "1", "-W", "2", env.gateway)
    env.serve(one.netns_path)
    assert fetch("127.0.0.1", int(one.ports["80/tcp"][0]["HostPort"])) == b"hello\n"
    three = svc2.attach("c" * 64, "bridge", None, None, "three")
    assert three.networks["bridge"]["IPAddress"] == two.networks["bridge"]["IPAddress"]
    svc2.detach(CID1)
    assert "dnat to" not in sh("nft", "list", "table", "ip", env.table).stdout


@needs_root
def test_cleanup_removes_bridge_and_netfilter(env):
    svc = env.service()
    sb = svc.attach(CID1, "bridge", {"80/tcp": [{"HostPort": ""}]}, None, "x")
    assert link_exists(env.bridge) and env.table in nft_tables()
    svc.cleanup()
    assert not link_exists(env.bridge)
    assert env.table not in nft_tables()
    assert env.table not in sh("nft", "list", "ruleset").stdout
    assert env.bridge not in sh("iptables-save").stdout
    assert not os.path.exists(sb.netns_path)
    assert not link_exists("vdpy" + sb.networks["bridge"]["EndpointID"][:11])


@needs_root
def test_existing_bridge_is_not_deleted(env):
    """A bridge the daemon did not create (-b to an existing one) survives cleanup."""
    sh("ip", "link", "add", env.bridge, "type", "bridge")
    svc = env.service()
    svc.cleanup()
    assert link_exists(env.bridge)
    assert env.table not in nft_tables()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


@needs_root
def test_hairpin_and_publish_all(env):
    """Containers reach published ports through the host's address, their own too."""
    svc = env.service()
    a = svc.attach(CID1, "bridge", None, ["80/tcp", "81/udp"], "a", {"publish_all": True})
    b = svc.attach(CID2, "bridge", None, None, "b")
    assert set(a.ports) == {"80/tcp", "81/udp"}
    assert all(v and v[0]["HostPort"].isdigit() for v in a.ports.values())
    hp = a.ports["80/tcp"][0]["HostPort"]
    env.serve(a.netns_path)
    targets = [env.gateway] + ([host_address()] if host_address() else [])
    for ns in (b.netns_path, a.netns_path):
        for target in targets:
            assert ns_fetch(ns, target, hp) == "hello\n", (ns, target)
    # no IPv6 on the default bridge: eth0 has no link-local address
    assert "inet6" not in in_ns(a.netns_path, "ip", "addr", "show", "dev", "eth0").stdout


def live_children() -> set[str]:
    """Pids of this process's children that have not been reaped yet."""
    pids: set[str] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.update(f.read().split())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return pids


def reaped_children_usage() -> tuple[int, float]:
    """Page faults and CPU time of every child reaped so far: a process that
    ran at all adds to them, however it was started (fork, spawn, clone)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_minflt + ru.ru_majflt, ru.ru_utime + ru.ru_stime


@needs_root
def test_attach_and_detach_start_no_process(env, monkeypatch):
    """Sandboxes and veths are made from threads of this process, never a child;
    and the caller's thread stays in the host's network namespace."""
    svc = env.service()  # network_create runs nft: before the count starts
    forks: list[int] = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    host_ns = os.readlink("/proc/thread-self/ns/net")
    children, usage = live_children(), reaped_children_usage()

    sb = svc.attach(CID1, "bridge", None, ["80/tcp"], "x")
    none = svc.attach(CID2, "none", None, None, "y")
    svc.detach(CID2)

    assert forks == []
    assert live_children() <= children
    assert reaped_children_usage() == usage
    assert os.readlink("/proc/thread-self/ns/net") == host_ns
    monkeypatch.undo()
    # and the sandboxes were really made
    assert sb.netns_path != none.netns_path and not os.path.exists(none.netns_path)
    addr = in_ns(sb.netns_path, "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
    assert sb.networks["bridge"]["IPAddress"] in addr
    svc.detach(CID1)
    assert not os.path.exists(sb.netns_path)


@needs_root
def test_failed_join_is_rolled_back(env):
    """The kernel refuses a multicast MAC: attach fails and leaves nothing behind."""
    svc = env.service()
    with pytest.raises(errors.SystemErr, match="network driver bridge"):
        svc.attach(CID1, "bridge", None, None, "x", {"mac_address": "01:00:5e:00:00:01"})
    assert svc.sandbox(CID1) is None and svc.inspect("bridge")["Containers"] == {}
    assert sh("ip", "-o", "link", "show", "master", env.bridge).stdout == ""
    assert os.listdir(os.path.join(env.exec, "netns")) == []
    assert os.listdir(os.path.join(env.data, "network", "endpoints")) == []
    sb = svc.attach(CID1, "bridge", None, None, "x")  # the address was released
    assert sb.networks["bridge"]["IPAddress"] == str(list(env.subnet.hosts())[1])


def netlink_sockets() -> int:
    """Open NETLINK sockets of this process."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/self/net/netlink") as f:
        return sum(1 for line in f.readlines()[1:] if line.split()[-1] in inodes)


@needs_root
def test_attach_from_many_threads_leaves_no_socket_behind(env):
    """The host's netlink requests go through one socket, whichever thread
    asks; the sandbox's is closed with the thread that opened it."""
    svc = env.service()  # network_create has already used the host's socket
    before = netlink_sockets()
    errors_seen: list[BaseException] = []

    def cycle(cid: str) -> None:
        try:
            svc.attach(cid, "bridge", None, None, "x")
            svc.detach(cid)
        except BaseException as exc:  # reported below
            errors_seen.append(exc)

    for n in range(4):
        thread = threading.Thread(target=cycle, args=(f"{n:064x}",))
        thread.start()
        thread.join()
    assert errors_seen == []
    assert netlink_sockets() == before
    assert "pyroute2" in sys.modules


@needs_root
def test_join_replaces_a_leftover_veth(env, tmp_path):
    """A host-side veth left by a crashed attach is replaced, not an error."""
    from dockerd_plugins.network import _netlink
    from dockerd_py.services.networks import create_netns, remove_netns

    env.service()  # the bridge
    veth = "vdpy" + secrets.token_hex(6)[:11]
    ns1, ns2 = str(tmp_path / "ns" / "one"), str(tmp_path / "ns" / "two")
    address = f"{list(env.subnet.hosts())[1]}/{env.subnet.prefixlen}"
    try:
        for ns in (ns1, ns2):
            create_netns(ns)
            _netlink.create_veth(veth, env.bridge, 1500, ns, "eth0", "02:42:00:00:00:09",
                                 address, env.gateway)
        assert "eth0" not in in_ns(ns1, "ip", "-o", "link").stdout
        assert address in in_ns(ns2, "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
        assert f"default via {env.gateway} dev eth0" in in_ns(ns2, "ip", "route").stdout
        link = sh("ip", "-d", "link", "show", "dev", veth).stdout
        assert f"master {env.bridge}" in link and "hairpin on" in link and "state UP" in link
    finally:
        _netlink.delete_link(veth)
        remove_netns(ns1)
        remove_netns(ns2)
    assert not link_exists(veth)
