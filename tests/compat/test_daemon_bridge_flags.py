"""dockerd's daemon-wide default-bridge flags, as a user observes them: --icc, --ip, --mtu,
--fixed-cidr, --default-gateway, --ip-masq, --iptables, --ip-forward (and their daemon.json keys).

Each group runs its own dockerd-py (`private_daemon`: removed with its bridge, rules and
containers at the end); the session daemon (no flags) shows Docker's defaults.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from .conftest import free_subnet_prefix, docker, make_daemon, private_daemon, removed_after, uid
from .test_system import raw_request


def nft_table(name: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", name], capture_output=True, text=True).stdout


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def run(d, *args: str) -> str:
    """`docker run -d` of a busybox on `d` (extra run options and the command in args)."""
    name = uid()
    docker(d, "run", "-d", "--name", name, *args)
    return name


def ip_of(d, name: str) -> str:
    return docker(d, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()


def masquerade_rule(d) -> str:
    return f'oifname != "{d.bridge}" ip saddr {d.subnet_prefix}.0/24 masquerade'


@pytest.fixture(scope="module")
def flagged():
    """--icc=false --mtu 1400 --ip 127.0.0.1 --ip-masq=false, and --fixed-cidr and --default-gateway
    in the subnet of its -b bridge."""
    prefix = free_subnet_prefix()
    with private_daemon("b", args=("--fixed-cidr", f"{prefix}.128/25", "--icc=false", "--mtu", "1400",
                                   "--ip", "127.0.0.1", "--ip-masq=false", "--default-gateway", f"{prefix}.254"),
                        subnet_prefix=prefix) as d:
        yield d
    assert f"dockerd-py-{d.bridge}" not in nft_tables()  # ICC off's bridge table too: nothing left


def icc_rules(d) -> str:
    """ICC off's table (`bridge` family): the ports under it and the links' exceptions."""
    return subprocess.run(["nft", "list", "table", "bridge", f"dockerd-py-{d.bridge}"], capture_output=True,
                          text=True).stdout


@pytest.fixture
def made(flagged):
    with removed_after(flagged) as names:
        yield names


def test_inspect_bridge_shows_the_flags(flagged):
    net = json.loads(docker(flagged, "network", "inspect", "bridge").stdout)[0]
    p = flagged.subnet_prefix
    assert net["IPAM"]["Config"] == [{"Subnet": f"{p}.0/24", "IPRange": f"{p}.128/25", "Gateway": f"{p}.1",
                                      "AuxiliaryAddresses": {"DefaultGatewayIPv4": f"{p}.254"}}]
    opts = net["Options"]
    assert opts["com.docker.network.bridge.enable_icc"] == "false"
    assert opts["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert opts["com.docker.network.bridge.host_binding_ipv4"] == "127.0.0.1"
    assert opts["com.docker.network.driver.mtu"] == "1400"


def test_defaults_of_the_session_daemon(daemon):
    opts = json.loads(docker(daemon, "network", "inspect", "bridge").stdout)[0]["Options"]
    assert (opts["com.docker.network.bridge.enable_icc"], opts["com.docker.network.bridge.enable_ip_masquerade"],
            opts["com.docker.network.bridge.host_binding_ipv4"], opts["com.docker.network.driver.mtu"]) == \
        ("true", "true", "0.0.0.0", "1500")
    assert masquerade_rule(daemon) in nft_table(f"dockerd-py-{daemon.bridge}")


def test_icc_false_containers_cannot_reach_each_other(flagged, made, daemon, container_cleanup):
    made += [run(flagged, "busybox", "sleep", "300") for _ in range(2)]
    out = docker(flagged, "exec", made[0], "ping", "-c", "1", "-W", "1", ip_of(flagged, made[1]), check=False)
    assert out.returncode != 0, out.stdout
    gateway = f"{flagged.subnet_prefix}.1"  # the host stays reachable
    assert docker(flagged, "exec", made[0], "ping", "-c", "1", "-W", "2", gateway, check=False).returncode == 0
    # without --icc=false (the session daemon) the same ping works
    container_cleanup += [run(daemon, "busybox", "sleep", "300") for _ in range(2)]
    out = docker(daemon, "exec", container_cleanup[0], "ping", "-c", "1", "-W", "2",
                 ip_of(daemon, container_cleanup[1]), check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def nc(d, name: str, address: str, port: int) -> str:
    """What a TCP connection from container `name` to address:port reads (nothing: no connection)."""
    return docker(d, "exec", name, "nc", "-w", "2", address, str(port), check=False).stdout.strip()


def test_icc_false_links_reach_the_exposed_ports_only(flagged, made):
    """As libnetwork: with ICC off a --link parent reaches its child's EXPOSEd ports (and gets the
    replies); other ports, other traffic and unlinked containers stay blocked."""
    serve = "while true; do echo {0} | nc -l -p {0}; done"
    made.append(run(flagged, "--expose", "7000", "busybox", "sh", "-c", f"{serve.format(7001)} & {serve.format(7000)}"))
    srv, srv_ip = made[0], ip_of(flagged, made[0])
    made.append(run(flagged, "--link", f"{srv}:srv", "busybox", "sleep", "300"))
    made.append(run(flagged, "busybox", "sleep", "300"))
    client, other = made[1], made[2]
    for restarted in (False, True):  # the running containers keep it all over a daemon restart
        if restarted:
            flagged.stop()
            flagged.start()
        assert nc(flagged, client, "srv", 7000) == "7000"
        assert nc(flagged, client, srv_ip, 7001) == ""  # not exposed
        assert nc(flagged, other, srv_ip, 7000) == ""   # not linked
    assert docker(flagged, "exec", client, "ping", "-c", "1", "-W", "1", srv_ip, check=False).returncode != 0
    assert f"ip saddr {ip_of(flagged, client)} ip daddr {srv_ip} tcp dport 7000 accept" in icc_rules(flagged)
    docker(flagged, "stop", "-t", "0", srv)  # the link's rules go with either end
    rules = icc_rules(flagged)
    assert "ip saddr" not in rules and rules.count('"vdpy') == 2, rules  # srv left the set
    docker(flagged, "rm", "-f", client, other)
    assert '"vdpy' not in icc_rules(flagged)  # their ports left the set


def test_mtu_and_fixed_cidr_in_the_container(flagged, made):
    made += [run(flagged, "busybox", "sleep", "300") for _ in range(2)]
    p = flagged.subnet_prefix
    assert [ip_of(flagged, n) for n in made] == [f"{p}.128", f"{p}.129"]  # the fixed-cidr's first addresses
    link = docker(flagged, "exec", made[0], "ip", "-o", "link", "show", "eth0").stdout
    assert " mtu 1400 " in link
    addr = docker(flagged, "exec", made[0], "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert f"inet {p}.128/24 " in addr  # the subnet is the -b bridge's


def test_default_gateway_is_the_containers_route(flagged, made):
    made.append(run(flagged, "busybox", "sleep", "300"))
    p = flagged.subnet_prefix
    assert docker(flagged, "exec", made[0], "ip", "route").stdout.startswith(f"default via {p}.254 dev eth0")
    assert docker(flagged, "inspect", "-f", "{{.NetworkSettings.Gateway}}", made[0]).stdout.strip() == f"{p}.254"


def test_ip_is_the_host_address_of_published_ports(flagged, made):
    made.append(run(flagged, "-p", "8080", "-p", "0.0.0.0::8081", "busybox", "sleep", "300"))
    ports = json.loads(docker(flagged, "inspect", "-f", "{{json .NetworkSettings.Ports}}", made[0]).stdout)
    assert [b["HostIp"] for b in ports["8080/tcp"]] == ["127.0.0.1"]  # no [::] binding either
    assert [b["HostIp"] for b in ports["8081/tcp"]] == ["0.0.0.0"]   # an explicit address wins
    port = ports["8080/tcp"][0]["HostPort"]
    rules = nft_table(f"dockerd-py-{flagged.bridge}")
    assert f"ip daddr 127.0.0.1 tcp dport {port} dnat to {ip_of(flagged, made[0])}:8080" in rules


def test_ip_masq_false_has_no_masquerade_rule(flagged):
    rules = nft_table(f"dockerd-py-{flagged.bridge}")
    assert "masquerade" in rules and masquerade_rule(flagged) not in rules


def test_iptables_false_makes_no_netfilter_state_and_relays_ports():
    with private_daemon("b", daemon_json={"iptables": False, "ip-forward": False}) as d:
        tables = nft_tables()
        assert f"dockerd-py-{d.bridge}" not in tables and f"dockerd-py-user-{d.bridge}" not in tables
        opts = json.loads(docker(d, "network", "inspect", "bridge").stdout)[0]["Options"]
        assert opts["com.docker.network.bridge.enable_ip_masquerade"] == "false"  # as dockerd: no masquerade
        with open(f"/proc/sys/net/ipv4/conf/{d.bridge}/route_localnet") as f:
            assert f.read().strip() == "0"
        name = run(d, "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
        port = docker(d, "port", name, "80/tcp").stdout.split(":")[-1].strip()
        # no DNAT rule anywhere: the daemon relays the port, as Docker's docker-proxy does
        assert f"dport {port} " not in subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                                       text=True).stdout
        deadline, body = time.monotonic() + 10, b""
        while time.monotonic() < deadline and not body:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=5).read()
            except OSError:
                time.sleep(0.2)
        assert body.strip().decode() == docker(d, "inspect", "-f", "{{.Config.Hostname}}", name).stdout.strip()
        net_id = docker(d, "network", "create", uid("n")).stdout.strip()  # user networks: no table either
        try:
            assert f"dockerd-py-br-{net_id[:12]}" not in nft_tables()
        finally:
            docker(d, "network", "rm", net_id)


def link_mtu(name: str) -> int:
    with open(f"/sys/class/net/{name}/mtu") as f:
        return int(f.read())


def test_mtu_of_an_existing_bridge_follows_a_restart():
    """As Docker 26+ (moby's setupMTU, every start): the bridge the last run made takes the new --mtu,
    and so does a new container's eth0."""
    with private_daemon("b", args=("--mtu", "1400")) as d:
        assert link_mtu(d.bridge) == 1400
        d.stop()
        d.args[d.args.index("1400")] = "1300"
        d.start()
        assert link_mtu(d.bridge) == 1300
        name = run(d, "busybox", "sleep", "300")
        assert " mtu 1300 " in docker(d, "exec", name, "ip", "-o", "link", "show", "eth0").stdout
        assert link_mtu(d.bridge) == 1300


BR_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def test_info_warns_when_ip_forwarding_is_off(daemon):
    """dockerd's `docker info` warning when net.ipv4.ip_forward is 0. The host's stays as it is: the daemon
    runs in a network namespace of its own, forwarding turned off there, with --ip-forward=false."""
    tmp = tempfile.mkdtemp(prefix="b", dir="/tmp")
    d = make_daemon(tmp, os.path.basename(tmp)[:7].lower().replace("_", "x"))
    tcp = d.args.index("-H", 1)
    args = [*d.args[:tcp], *d.args[tcp + 2:], "--ip-forward=false"]  # the unix socket only: it crosses netns
    # a new namespace inherits the host's forwarding; br_netfilter's switches (if loaded) are per namespace too
    in_netns = ["unshare", "--net", "sh", "-c", 'echo 0 > /proc/sys/net/ipv4/ip_forward && '
                f'{{ [ ! -e {BR_NF} ] || echo 0 > {BR_NF}; }} && exec "$@"', "-", sys.executable, "-m", "dockerd_py.cli"]
    with open(d.log_path, "ab") as log:
        proc = subprocess.Popen([*in_netns, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while docker(d, "version", check=False).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, d.log_tail()
            time.sleep(0.1)
        out = docker(d, "info")
        assert "WARNING: IPv4 forwarding is disabled" in out.stderr
        assert docker(d, "info", "--format", "{{.IPv4Forwarding}}").stdout.strip() == "false"
        info = json.loads(raw_request(d, "GET", "/v1.47/info")[2])  # (the CLI 28 no longer shows BridgeNf*)
        assert info["BridgeNfIptables"] is False  # switched off in its namespace, or no br_netfilter at all
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            if f.read().strip() == "1":  # the host's (the session daemon's): no warning
                assert "IPv4 forwarding" not in docker(daemon, "info").stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        subprocess.run([*in_netns, "--cleanup", *args], capture_output=True)  # its namespace is gone: a new one
        shutil.rmtree(tmp, ignore_errors=True)


def start_error(*args: str, daemon_json: dict | None = None) -> subprocess.CompletedProcess:
    """Start a dockerd-py that must refuse to start: its exit and output."""
    with tempfile.TemporaryDirectory(prefix="b", dir="/tmp") as tmp:
        with open(f"{tmp}/daemon.json", "w") as f:
            json.dump(daemon_json or {}, f)
        out = subprocess.run([sys.executable, "-m", "dockerd_py.cli", "-H", f"unix://{tmp}/d.sock",
                              "--data-root", f"{tmp}/data", "--exec-root", f"{tmp}/x", "--pidfile", f"{tmp}/p",
                              "--config-file", f"{tmp}/daemon.json",
                              *(() if "--bip" in args else ("-b", "dpytbad0")), *args],
                             capture_output=True, text=True, timeout=60)
        assert not os.path.exists(f"{tmp}/data"), "refused only after it began to start"
    assert "Traceback" not in out.stderr, out.stderr
    return out


@pytest.mark.parametrize("args, daemon_json, message", [
    (("--mtu", "-1"), None, "invalid default MTU: -1"),
    (("--mtu", "70000"), None, 'Error creating default "bridge" network: invalid argument'),
    (("--mtu", "abc"), None, 'invalid argument "abc" for "--mtu" flag: strconv.ParseInt: parsing "abc": invalid syntax'),
    (("--icc=maybe",), None, 'invalid argument "maybe" for "--icc" flag: strconv.ParseBool: parsing "maybe"'),
    (("--ip", "garbage"), None, 'invalid argument "garbage" for "--ip" flag: garbage is not an ip address'),
    (("--fixed-cidr", "garbage"), None, "invalid CIDR address: garbage"),
    (("--bip", "garbage"), None, "invalid CIDR address: garbage"),
    (("--bip", "172.31.99.0/24"), None, "failed to allocate gateway (172.31.99.0): Address already in use"),
    (("--bip", "172.31.99.1/24", "--default-gateway", "10.1.1.1"), None, 'Error creating default "bridge" network: '
     "auxiliary address: (DefaultGatewayIPv4:10.1.1.1) must belong to the master pool: 172.31.99.0/24"),
    (("--icc=false", "--iptables=false"), None, "You specified --iptables=false with --icc=false. ICC=false uses "
                                                "iptables to function. Please set --icc or --iptables to true"),
    ((), {"icc": False, "iptables": False}, "You specified --iptables=false with --icc=false"),
    ((), {"mtu": "1400"}, "json: cannot unmarshal string into Go struct field Config.mtu of type int"),
    ((), {"icc": "no"}, "json: cannot unmarshal string into Go struct field Config.icc of type bool"),
    (("--mtu", "1400"), {"mtu": 1400}, "specified both as a flag and in the configuration file: mtu"),
    (("-b", "dpytbad0", "--bip", "172.31.99.1/24"), None,
     "You specified -b & --bip, mutually exclusive options. Please specify only one"),
    (("--bip", "172.31.99.1/24"), {"bridge": "dpytbad0"}, "You specified -b & --bip, mutually exclusive options"),
])
def test_bad_values_are_refused_at_start(args, daemon_json, message):
    out = start_error(*args, daemon_json=daemon_json)
    flag_error = '" flag: ' in message  # pflag's: dockerd exits 125 for a bad flag, 1 for a bad setting
    assert out.returncode == (125 if flag_error else 1) and message in out.stderr, out.stderr
