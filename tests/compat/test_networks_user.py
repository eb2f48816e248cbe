"""User-defined networks through the docker CLI and docker-py: create/inspect/ls/rm/prune,
containers on several networks, connect/disconnect, isolation, internal networks, bad input.

Every network made here is removed by the `networks` fixture; the kernel is checked
(`ip link`, `nft list tables`) for what a network leaves behind.
"""

import ipaddress
import json
import socket
import subprocess
import uuid

import docker
import pytest

from .conftest import inspect


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def user_bridges() -> set[str]:
    """Generated bridges of user networks (other helpers' daemons make other links meanwhile)."""
    out = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    return {line.split(": ")[1] for line in out.splitlines() if ": br-" in line}


def user_bridge_tables() -> set[str]:
    return {line.split()[-1] for line in nft_tables().splitlines() if "-br-" in line}


def uid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


@pytest.fixture
def networks(cli):
    """Networks registered here are removed after the test (containers first, by container_cleanup)."""
    made: list[str] = []
    yield made
    for name in made:
        cli("network", "rm", name, check=False)


def net_inspect(cli, name: str) -> dict:
    return json.loads(cli("network", "inspect", name).stdout)[0]


def run_sleeper(cli, container_cleanup, *args: str) -> str:
    name = uid("c")
    container_cleanup.append(name)
    cli("run", "-d", "--name", name, *args, "busybox", "sleep", "300")
    return name


def sh(cli, container: str, script: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run a shell script in the container's namespaces (as `docker exec` would; not built here yet)."""
    pid = json.loads(cli("inspect", container).stdout)[0]["State"]["Pid"]
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "sh", "-c", script],
                          capture_output=True, text=True, check=check, timeout=60)


def test_create_inspect_list_remove(daemon, cli, networks):
    name = uid("n")
    networks.append(name)
    net_id = cli("network", "create", "--label", "team=blue", name).stdout.strip()
    assert len(net_id) == 64
    net = net_inspect(cli, name)
    assert (net["Name"], net["Id"], net["Driver"], net["Scope"]) == (name, net_id, "bridge", "local")
    assert (net["Internal"], net["Attachable"], net["EnableIPv6"], net["EnableIPv4"]) == (False, False, False, True)
    assert net["Labels"] == {"team": "blue"} and net["Containers"] == {}
    cfg = net["IPAM"]["Config"][0]
    subnet = ipaddress.ip_network(cfg["Subnet"])
    pool = next(a.split("=", 1)[1].split(",")[0] for a in daemon.args if a.startswith("base="))
    assert subnet.subnet_of(ipaddress.ip_network(pool)) and subnet.prefixlen == 24
    assert cfg["Gateway"] == str(subnet.network_address + 1)
    bridge = f"br-{net_id[:12]}"
    assert link_exists(bridge)
    assert f"dockerd-py-{bridge}" in nft_tables()
    # a second network gets the next subnet
    other = uid("n")
    networks.append(other)
    cli("network", "create", other)
    assert not ipaddress.ip_network(net_inspect(cli, other)["IPAM"]["Config"][0]["Subnet"]).overlaps(subnet)
    listed = cli("network", "ls", "--filter", "label=team=blue", "--format", "{{.Name}}").stdout.split()
    assert listed == [name]
    assert name in cli("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}").stdout.split()
    assert name in cli("network", "ls", "--filter", "dangling=true", "--format", "{{.Name}}").stdout.split()
    assert cli("network", "ls", "-q", "--filter", f"id={net_id[:12]}").stdout.split() == [net_id[:12]]
    cli("network", "rm", name)
    assert not link_exists(bridge) and f"dockerd-py-{bridge}" not in nft_tables()
    out = cli("network", "inspect", name, check=False)
    assert out.returncode == 1 and f"network {name} not found" in out.stderr


def test_create_with_ipam_and_options(cli, networks, container_cleanup):
    name, bridge = uid("n"), uid("dpyu")
    networks.append(name)
    base = _free_subnet()
    cli("network", "create", "--subnet", str(base), "--gateway", str(base.network_address + 254),
        "--ip-range", str(list(base.subnets(new_prefix=base.prefixlen + 1))[1]),
        "--aux-address", f"reserved={base.network_address + 129}",
        "-o", f"com.docker.network.bridge.name={bridge}", "-o", "com.docker.network.driver.mtu=1400", name)
    net = net_inspect(cli, name)
    upper_half = str(list(base.subnets(new_prefix=base.prefixlen + 1))[1])
    assert net["IPAM"]["Config"] == [{"Subnet": str(base), "IPRange": upper_half,
                                      "Gateway": str(base.network_address + 254),
                                      "AuxiliaryAddresses": {"reserved": str(base.network_address + 129)}}]
    assert net["Options"]["com.docker.network.bridge.name"] == bridge
    assert "mtu 1400" in subprocess.run(["ip", "link", "show", bridge], capture_output=True, text=True).stdout
    c = run_sleeper(cli, container_cleanup, "--network", name)
    ep = inspect_ep(cli, c, name)
    # the ip-range's first address, as Docker's (the auxiliary address .129 is reserved)
    assert ep["IPAddress"] == str(base.network_address + 128) and ep["Gateway"] == str(base.network_address + 254)
    assert "mtu 1400" in sh(cli, c, "ip link show eth0").stdout
    rules = subprocess.run(["nft", "list", "table", "ip", f"dockerd-py-{bridge}"], capture_output=True,
                           text=True).stdout
    assert f'oifname != "{bridge}" ip saddr {base} masquerade' in rules
    quiet = uid("n")
    networks.append(quiet)
    quiet_id = cli("network", "create", "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
                   quiet).stdout.strip()
    rules = subprocess.run(["nft", "list", "table", "ip", f"dockerd-py-br-{quiet_id[:12]}"], capture_output=True,
                           text=True).stdout
    assert "ct status dnat masquerade" in rules and f'oifname != "br-{quiet_id[:12]}"' not in rules


def inspect_ep(cli, container: str, network: str) -> dict:
    return json.loads(cli("inspect", container).stdout)[0]["NetworkSettings"]["Networks"][network]


def _free_subnet() -> ipaddress.IPv4Network:
    import random

    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        net = ipaddress.ip_network(f"10.{random.randint(30, 99)}.{random.randint(0, 255)}.0/24")
        if f"10.{str(net).split('.')[1]}." not in routes:
            return net
    pytest.skip("no free subnet")


def test_bad_input_gives_dockers_errors_and_leaves_nothing(cli, client, networks):
    name = uid("n")
    networks.append(name)
    base = _free_subnet()
    cli("network", "create", "--subnet", str(base), name)
    tables, links = user_bridge_tables(), user_bridges()

    def fails(*args):
        out = cli("network", "create", *args, check=False)
        assert out.returncode != 0
        return out.stderr.strip()

    assert fails("--subnet", str(base), uid("n")) == \
        "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space"
    other = _free_subnet()
    with pytest.raises(docker.errors.APIError) as info:  # the CLI checks this itself
        client.api.create_network(uid("n"), ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=str(other), gateway="192.0.2.77")]))
    assert info.value.status_code == 400
    assert info.value.explanation == ("invalid network config:\ninvalid gateway 192.0.2.77: "
                                      f"parent subnet {other} doesn't contain this address")
    assert fails(name) == f"Error response from daemon: network with name {name} already exists"
    assert fails("--subnet", "10.1.2.3/24", uid("n")).endswith("invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24")
    assert fails("-o", "com.docker.network.driver.mtu=abc", uid("n")) == (
        "Error response from daemon: failed to parse com.docker.network.driver.mtu value: abc "
        '(strconv.Atoi: parsing "abc": invalid syntax)')
    out = cli("network", "ls", "--filter", "dangling=maybe", check=False)
    assert out.returncode != 0 and "invalid value for filter 'dangling'" in out.stderr
    assert fails("bridge") == "Error response from daemon: operation is not permitted on predefined bridge network"
    assert user_bridge_tables() == tables and user_bridges() == links
    # outside the snapshot above: Docker looks for a plugin of that name for 15 s first
    assert fails("-d", "nosuchdriver", uid("n")) == 'Error response from daemon: plugin "nosuchdriver" not found'
    out = cli("network", "rm", "bridge", check=False)
    assert "bridge is a pre-defined network and cannot be removed" in out.stderr


def test_docker_py_create_status_codes(client, networks):
    name = uid("n")
    networks.append(name)
    net = client.networks.create(name, driver="bridge", labels={"k": "v"}, internal=True, attachable=True)
    assert net.attrs["Internal"] and net.attrs["Attachable"] and net.attrs["Labels"] == {"k": "v"}
    with pytest.raises(docker.errors.APIError) as info:
        client.networks.create(name)
    assert info.value.status_code == 409
    with pytest.raises(docker.errors.NotFound):
        client.networks.create(uid("n"), driver="nosuch")
    v6 = uid("n")
    networks.append(v6)
    assert client.networks.create(v6, enable_ipv6=True).attrs["EnableIPv6"] is True  # see test_network_ipv6.py


def test_containers_on_a_user_network_and_remove_while_in_use(daemon, cli, networks, container_cleanup):
    name = uid("n")
    networks.append(name)
    cli("network", "create", name)
    a = run_sleeper(cli, container_cleanup, "--network", name, "--network-alias", "web", "--hostname", "ahost")
    b = run_sleeper(cli, container_cleanup, "--network", name)
    ep = inspect_ep(cli, a, name)
    a_id = inspect(daemon, a)["Id"]
    assert ep["Aliases"] == ["web"]
    assert ep["DNSNames"] == [a, "web", a_id[:12], "ahost"]
    assert ep["NetworkID"] == net_inspect(cli, name)["Id"]
    assert sh(cli, b, f"ping -c 1 -W 2 {ep['IPAddress']}").returncode == 0
    assert sh(cli, a, "cat /etc/hostname").stdout.strip() == "ahost"
    hosts = cli("run", "--rm", "--network", name, "--add-host", "gw:host-gateway", "--add-host", "x.example:192.0.2.5",
                "busybox", "cat", "/etc/hosts").stdout.splitlines()
    assert f"{daemon.subnet_prefix}.1\tgw" in hosts and "192.0.2.5\tx.example" in hosts
    dns = cli("run", "--rm", "--network", name, "--dns-search", "corp.example", "--dns-option", "timeout:2",
              "busybox", "cat", "/etc/resolv.conf").stdout.splitlines()
    assert dns[4:7] == ["nameserver 127.0.0.11", "search corp.example", "options timeout:2 ndots:0"]
    assert dns[9:] == ["# ExtServers: [127.0.0.1]", "# Overrides: [nameservers search options]",
                       "# Option ndots from: internal"]  # the daemon's --dns (conftest) is the upstream
    resolv = sh(cli, a, "cat /etc/resolv.conf").stdout
    assert "nameserver 127.0.0.11" in resolv and "ndots:0" in resolv
    containers = net_inspect(cli, name)["Containers"]
    assert containers[a_id]["Name"] == a and containers[a_id]["IPv4Address"] == ep["IPAddress"] + "/24"
    out = cli("network", "rm", name, check=False)
    assert out.returncode != 0
    assert f"error while removing network: network {name} has active endpoints (" in out.stderr
    assert f'name:"{a}" id:"{a_id[:12]}"' in out.stderr
    cli("rm", "-f", a, b)
    cli("network", "rm", name)
    networks.remove(name)


def test_static_ip_mac_and_errors(cli, client, networks, container_cleanup):
    name = uid("n")
    networks.append(name)
    base = _free_subnet()
    cli("network", "create", "--subnet", str(base), name)
    ip = str(base.network_address + 77)
    a = run_sleeper(cli, container_cleanup, "--network", name, "--ip", ip, "--mac-address", "02:42:aa:bb:cc:dd")
    ep = inspect_ep(cli, a, name)
    assert net_inspect(cli, name)["IPAM"]["Config"] == [{"Subnet": str(base)}]  # as given, as Docker shows it
    assert ep["Gateway"] == str(base.network_address + 1)
    assert (ep["IPAddress"], ep["MacAddress"]) == (ip, "02:42:aa:bb:cc:dd")
    assert ep["IPAMConfig"] == {"IPv4Address": ip}
    assert "02:42:aa:bb:cc:dd" in sh(cli, a, "ip link show eth0").stdout
    cli("restart", "-t", "0", a)  # the MAC asked for is kept, not the one shown while stopped
    assert inspect_ep(cli, a, name)["MacAddress"] == "02:42:aa:bb:cc:dd"
    assert "DesiredMacAddress" not in cli("inspect", a).stdout
    taken = cli("run", "--rm", "--network", name, "--ip", ip, "busybox", "true", check=False)
    assert taken.returncode != 0 and "Address already in use" in taken.stderr
    outside = cli("run", "--rm", "--network", name, "--ip", "192.0.2.9", "busybox", "true", check=False)
    assert "no configured subnet or ip-range contain the IP address 192.0.2.9" in outside.stderr
    default = cli("run", "--rm", "--ip", ip, "busybox", "true", check=False)
    assert "user specified IP address is supported on user defined networks only" in default.stderr
    with pytest.raises(docker.errors.APIError) as info:  # the CLI checks this one itself
        client.api.create_container("busybox", "true", networking_config=client.api.create_networking_config(
            {"bridge": client.api.create_endpoint_config(aliases=["x"])}))
    assert info.value.status_code == 400 and info.value.explanation == (
        "invalid endpoint settings:\nnetwork-scoped alias is supported only for containers in user defined networks")
    missing = cli("run", "--rm", "--network", "nonet" + uuid.uuid4().hex[:6], "busybox", "true", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_isolation_between_networks_and_internal(cli, networks, container_cleanup):
    one, two, internal = uid("n"), uid("n"), uid("n")
    networks.extend([one, two, internal])
    for n in (one, two):
        cli("network", "create", n)
    cli("network", "create", "--internal", internal)
    a = run_sleeper(cli, container_cleanup, "--network", one)
    b = run_sleeper(cli, container_cleanup, "--network", two)
    i1 = run_sleeper(cli, container_cleanup, "--network", internal)
    i2 = run_sleeper(cli, container_cleanup, "--network", internal)
    b_ip = inspect_ep(cli, b, two)["IPAddress"]
    gw_one = inspect_ep(cli, a, one)["Gateway"]
    assert sh(cli, a, f"ping -c 1 -W 1 {gw_one}").returncode == 0
    assert sh(cli, a, f"ping -c 1 -W 1 {b_ip}").returncode != 0, "networks must be isolated"
    # internal: the members reach each other, nothing else; no default route
    i2_ip = inspect_ep(cli, i2, internal)["IPAddress"]
    assert sh(cli, i1, f"ping -c 1 -W 1 {i2_ip}").returncode == 0
    assert "default" not in sh(cli, i1, "ip route").stdout
    assert inspect_ep(cli, i1, internal)["Gateway"] == ""
    assert sh(cli, i1, f"ping -c 1 -W 1 {b_ip}").returncode != 0
    assert sh(cli, a, f"ping -c 1 -W 1 {i2_ip}").returncode != 0


def test_icc_off(cli, networks, container_cleanup):
    name = uid("n")
    networks.append(name)
    cli("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", name)
    a = run_sleeper(cli, container_cleanup, "--network", name)
    b = run_sleeper(cli, container_cleanup, "--network", name)
    ep = inspect_ep(cli, b, name)
    assert sh(cli, a, f"ping -c 1 -W 1 {ep['Gateway']}").returncode == 0
    assert sh(cli, a, f"ping -c 1 -W 1 {ep['IPAddress']}").returncode != 0


def test_connect_and_disconnect_running_and_stopped(cli, networks, container_cleanup):
    one, two = uid("n"), uid("n")
    networks.extend([one, two])
    cli("network", "create", one)
    cli("network", "create", two)
    a = run_sleeper(cli, container_cleanup, "--network", one)
    peer = run_sleeper(cli, container_cleanup, "--network", two)
    peer_ip = inspect_ep(cli, peer, two)["IPAddress"]
    assert sh(cli, a, f"ping -c 1 -W 1 {peer_ip}").returncode != 0
    cli("network", "connect", "--alias", "extra", two, a)
    assert "eth1" in sh(cli, a, "ip -o link").stdout
    assert sh(cli, a, f"ping -c 1 -W 2 {peer_ip}").returncode == 0
    settings = json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]
    assert set(settings) == {one, two} and settings[two]["Aliases"] == ["extra"]
    again = cli("network", "connect", two, a, check=False)
    assert f"endpoint with name {a} already exists in network {two}" in again.stderr
    cli("network", "disconnect", two, a)
    assert "eth1" not in sh(cli, a, "ip -o link").stdout
    assert set(json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]) == {one}
    # a stopped container: connect is remembered and made at the next start
    cli("stop", "-t", "0", a)
    cli("network", "connect", "--ip", "", two, a)
    cli("start", a)
    settings = json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]
    assert set(settings) == {one, two} and settings[two]["IPAddress"]
    assert sh(cli, a, f"ping -c 1 -W 2 {peer_ip}").returncode == 0
    assert "default via " + settings[one]["Gateway"] in sh(cli, a, "ip route").stdout
    cli("network", "disconnect", one, a)
    assert "default via " + settings[two]["Gateway"] in sh(cli, a, "ip route").stdout  # the way out moved
    cli("stop", "-t", "0", a)
    cli("network", "rm", one)  # no endpoint left on it
    networks.remove(one)
    cli("start", a)
    assert set(json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]) == {two}


def test_several_networks_at_create_with_docker_py(client, cli, networks, container_cleanup):
    one, two = uid("n"), uid("n")
    networks.extend([one, two])
    client.networks.create(one)
    client.networks.create(two)
    name = uid("c")
    container_cleanup.append(name)
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=name, network=one,
                              networking_config={one: client.api.create_endpoint_config(aliases=["a1"]),
                                                 two: client.api.create_endpoint_config(aliases=["a2"])})
    c.reload()
    nets = c.attrs["NetworkSettings"]["Networks"]
    assert set(nets) == {one, two}
    assert nets[one]["Aliases"] == ["a1"] and nets[two]["Aliases"] == ["a2"]
    links = sh(cli, name, "ip -o -4 addr").stdout
    assert nets[one]["IPAddress"] in links and nets[two]["IPAddress"] in links
    assert "default via " + nets[one]["Gateway"] in sh(cli, name, "ip route").stdout


def test_network_mode_container(cli, networks, container_cleanup):
    name = uid("n")
    networks.append(name)
    cli("network", "create", name)
    a = run_sleeper(cli, container_cleanup, "--network", name)
    ip = inspect_ep(cli, a, name)["IPAddress"]
    out = cli("run", "--rm", "--network", f"container:{a}", "busybox", "ip", "-o", "-4", "addr").stdout
    assert ip in out
    stopped = uid("c")
    container_cleanup.append(stopped)
    cli("create", "--name", stopped, "busybox", "true")
    bad = cli("run", "--rm", "--network", f"container:{stopped}", "busybox", "true", check=False)
    assert bad.returncode != 0 and "non running container" in bad.stderr


def test_legacy_links_on_the_default_bridge(cli, container_cleanup):
    target = run_sleeper(cli, container_cleanup, "--expose", "5432")
    ip = json.loads(cli("inspect", target).stdout)[0]["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    me = uid("c")
    out = cli("run", "--rm", "--name", me, "--link", f"{target}:db", "busybox", "sh", "-c",
              "cat /etc/hosts; env | sort").stdout
    assert any(line.startswith(ip + "\t") and "db" in line.split() and target in line.split()
               for line in out.splitlines()), out
    for var in (f"DB_NAME=/{me}/db", f"DB_PORT=tcp://{ip}:5432", f"DB_PORT_5432_TCP=tcp://{ip}:5432",
                f"DB_PORT_5432_TCP_ADDR={ip}", "DB_PORT_5432_TCP_PORT=5432", "DB_PORT_5432_TCP_PROTO=tcp"):
        assert var in out.splitlines(), var


def test_prune_removes_only_unused_user_networks(cli, networks, container_cleanup):
    used, unused = uid("n"), uid("n")
    networks.extend([used, unused])
    cli("network", "create", used)
    cli("network", "create", "--label", "prune=me", unused)
    run_sleeper(cli, container_cleanup, "--network", used)
    out = cli("network", "prune", "-f", "--filter", "label=prune=me").stdout
    assert unused in out and used not in out
    names = cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert used in names and unused not in names and "bridge" in names


def resolve(cli, container: str, name: str) -> set[str]:
    """A records of `name` as the container's resolver (127.0.0.11) gives them."""
    out = sh(cli, container, f"nslookup {name} 127.0.0.11").stdout
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return {w for line in answer.splitlines() if line.startswith("Address") for w in line.split()[1:]
            if w.count(".") == 3}


def test_embedded_dns_names_aliases_and_isolation(cli, networks, container_cleanup):
    net, other = uid("n"), uid("n")
    networks.extend([net, other])
    cli("network", "create", net)
    cli("network", "create", other)
    a = run_sleeper(cli, container_cleanup, "--network", net, "--network-alias", "svc")
    b = run_sleeper(cli, container_cleanup, "--network", net, "--network-alias", "svc")
    outsider = run_sleeper(cli, container_cleanup, "--network", other)
    a_ip, b_ip = inspect_ep(cli, a, net)["IPAddress"], inspect_ep(cli, b, net)["IPAddress"]
    a_id = json.loads(cli("inspect", a).stdout)[0]["Id"]
    assert resolve(cli, b, a) == {a_ip}
    assert resolve(cli, b, a_id[:12]) == {a_ip}
    assert resolve(cli, b, f"{a}.{net}") == {a_ip}
    assert resolve(cli, a, "svc") == {a_ip, b_ip}  # one alias, both containers
    assert resolve(cli, outsider, a) == set()  # not on a shared network
    ptr = sh(cli, b, f"nslookup {a_ip} 127.0.0.11").stdout
    assert f"{a}.{net}" in ptr
    # a container on the default bridge keeps the host's resolvers
    plain = cli("run", "--rm", "busybox", "cat", "/etc/resolv.conf").stdout
    assert "127.0.0.11" not in plain
    # --link on a user network: an alias for the linking container only
    c = uid("c")
    container_cleanup.append(c)
    cli("run", "-d", "--name", c, "--network", net, "--link", f"{a}:mydb", "busybox", "sleep", "300")
    assert resolve(cli, c, "mydb") == {a_ip} and resolve(cli, b, "mydb") == set()
    renamed = uid("r")
    cli("rename", a, renamed)
    container_cleanup.append(renamed)
    assert resolve(cli, b, renamed) == {a_ip} and resolve(cli, b, a) == set()
    cli("rm", "-f", renamed)
    assert resolve(cli, b, renamed) == set()
    assert resolve(cli, b, "svc") == {b_ip}


def test_embedded_dns_after_connect_and_daemon_restart(daemon, cli, networks, container_cleanup):
    net = uid("n")
    networks.append(net)
    cli("network", "create", net)
    a = run_sleeper(cli, container_cleanup, "--network", net, "-p", "127.0.0.1::80")
    b = run_sleeper(cli, container_cleanup)  # default bridge first
    cli("network", "connect", net, b)
    port = int(json.loads(cli("inspect", a).stdout)[0]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
    a_ip = inspect_ep(cli, a, net)["IPAddress"]
    assert resolve(cli, b, a) == {a_ip}
    daemon.kill_hard()
    daemon.start()
    assert resolve(cli, b, a) == {a_ip}
    assert net in cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    bridge = "br-" + net_inspect(cli, net)["Id"][:12]
    assert link_exists(bridge) and f"dockerd-py-{bridge}" in nft_tables()
    assert sh(cli, b, f"ping -c 1 -W 2 {a_ip}").returncode == 0
    with socket.socket() as other, pytest.raises(OSError):  # the restarted daemon holds the port again
        other.bind(("127.0.0.1", port))


def test_user_rules_survive_and_cleanup_removes_everything(tmp_path):
    """A daemon of its own: the user's nft table keeps its rules across a restart; --cleanup
    removes the user networks' bridges and tables, the user table and the default bridge."""
    import shutil
    import tempfile

    from .conftest import cleanup, docker, make_daemon
    from ..rootfs import rootfs_tar_bytes

    tmp = tempfile.mkdtemp(prefix="d", dir="/tmp")
    d = make_daemon(tmp, uuid.uuid4().hex[:6])
    user_table = f"dockerd-py-user-{d.bridge}"
    try:
        d.start()
        docker(d, "import", "-", "busybox:latest", input=rootfs_tar_bytes())
        net_id = docker(d, "network", "create", "-o", "com.docker.network.bridge.name=" + d.bridge[:10] + "u",
                        uid("n")).stdout.strip()
        docker(d, "network", "create", uid("n"))
        bridges = {d.bridge[:10] + "u"} | {"br-" + i[:12] for i in docker(d, "network", "ls", "-q", "--no-trunc",
                                                                       "--filter", "type=custom").stdout.split()
                                          if i != net_id}
        docker(d, "run", "-d", "--network", net_id, "busybox", "sleep", "300")
        subprocess.run(["nft", "add", "rule", "ip", user_table, "forward", "ip", "saddr", "192.0.2.99", "drop"],
                       check=True)
        d.stop()
        d.start()
        assert "192.0.2.99" in subprocess.run(["nft", "list", "table", "ip", user_table], capture_output=True,
                                              text=True).stdout
        assert all(link_exists(b) for b in bridges)
        docker(d, "rm", "-f", *docker(d, "ps", "-aq").stdout.split())
        d.stop()
        cleanup(d)
        tables = nft_tables()
        assert user_table not in tables and not any(f"dockerd-py-{b}" in tables for b in bridges)
        assert not any(link_exists(b) for b in bridges | {d.bridge})
    finally:
        d.stop()
        cleanup(d)
        shutil.rmtree(tmp, ignore_errors=True)


def test_docker_py_connect_disconnect_and_events(client, networks, container_cleanup):
    name = uid("n")
    networks.append(name)
    base = _free_subnet()
    net = client.networks.create(name, ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet=str(base))]))
    since = int(__import__("time").time())
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=uid("c"))
    container_cleanup.append(c.name)
    net.connect(c, aliases=["pyalias"], ipv4_address=str(base.network_address + 9))
    c.reload()
    ep = c.attrs["NetworkSettings"]["Networks"][name]
    assert ep["IPAddress"] == str(base.network_address + 9) and ep["Aliases"] == ["pyalias"]
    net.reload()
    assert [x.id for x in net.containers] == [c.id]
    assert [n.name for n in client.networks.list(names=[name])] == [name]
    net.disconnect(c, force=True)
    c.reload()
    assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    with pytest.raises(docker.errors.APIError) as info:
        net.disconnect(c)
    assert info.value.status_code == 500 and "is not connected to network" in info.value.explanation
    events = client.events(since=since, until=int(__import__("time").time()) + 1, decode=True,
                           filters={"type": "network", "network": net.id})
    actions = [e["Action"] for e in events]
    assert actions.count("connect") >= 1 and actions.count("disconnect") >= 1


def test_parallel_starts_get_distinct_addresses(cli, networks, container_cleanup):
    import concurrent.futures

    name = uid("n")
    networks.append(name)
    cli("network", "create", name)
    names = [uid("c") for _ in range(8)]
    container_cleanup.extend(names)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: cli("run", "-d", "--name", n, "--network", name, "--network-alias", "many",
                                    "busybox", "sleep", "300"), names))
    ips = [inspect_ep(cli, n, name)["IPAddress"] for n in names]
    assert len(set(ips)) == 8 and all(ips)
    assert len(net_inspect(cli, name)["Containers"]) == 8
    assert resolve(cli, names[0], "many") == set(ips)
