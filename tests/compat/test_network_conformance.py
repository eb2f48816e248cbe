"""Network behaviours found different from Docker's dockerd in an audit of issue 4 (the same
docker CLI commands against both daemons): texts and codes of create's refusals, the
connect/disconnect conflict rules (by the networks a container is on now, not its mode),
and a running container's /etc/hosts across connect and disconnect."""

import json
import subprocess
import uuid

import docker
import pytest

from .conftest import sleeper, uid


def test_same_bridge_name_is_docker_403_and_leaves_nothing(cli, client, networks):
    first, second, bridge = uid("n"), uid("n"), uid("br")
    networks.append(first)
    first_id = cli("network", "create", "-o", f"com.docker.network.bridge.name={bridge}", first).stdout.strip()
    with pytest.raises(docker.errors.APIError) as e:
        client.api.create_network(second, options={"com.docker.network.bridge.name": bridge})
    assert e.value.status_code == 403
    text = e.value.explanation
    assert text.startswith("cannot create network ") and text.endswith(
        f" ({bridge}): conflicts with network {first_id} ({bridge}): networks have same bridge name")
    assert second not in cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    assert links.count(f": {bridge}:") == 1


def test_scopes_and_drivers_of_a_swarm(client):
    for kwargs, status, text in (
            ({"scope": "swarm"}, 403, "cannot create a swarm scoped network when swarm is not active"),
            ({"scope": "global"}, 500, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                                       "to connect this node to swarm and try again."),
            ({"driver": "overlay"}, 500, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                                         'join" to connect this node to swarm and try again.')):
        with pytest.raises(docker.errors.APIError) as e:
            client.api.create_network(uid("n"), **kwargs)
        assert (e.value.status_code, e.value.explanation) == (status, text), kwargs


def test_connect_conflicts_follow_the_networks_a_container_is_on(cli, container_cleanup, networks):
    net = uid("n")
    networks.append(net)
    cli("network", "create", net)
    on_host = sleeper(cli, container_cleanup, "--network", "host")
    bad = cli("network", "connect", net, on_host, check=False)
    assert "container sharing network namespace with another container or host cannot be connected " \
           "to any other network" in bad.stderr
    plain = sleeper(cli, container_cleanup)
    bad = cli("network", "disconnect", "host", plain, check=False)  # not the host-network conflict: not on it
    assert bad.returncode == 1 and "is not connected to network host" in bad.stderr
    bad = cli("network", "connect", "--alias", "x", "bridge", plain, check=False)  # checked before "already exists"
    assert "network-scoped alias is supported only for containers in user defined networks" in bad.stderr
    bad = cli("network", "connect", "none", plain, check=False)
    assert "container cannot be connected to multiple networks with one of the networks in private (none) mode" \
        in bad.stderr

    isolated = sleeper(cli, container_cleanup, "--network", "none")
    bad = cli("network", "connect", net, isolated, check=False)
    assert "container cannot be connected to multiple networks" in bad.stderr
    cli("network", "disconnect", "none", isolated)
    cli("network", "connect", net, isolated)  # off none, it may join a network, as with Docker
    assert "eth0" in cli("exec", isolated, "ip", "-o", "-4", "addr").stdout


def test_hosts_follow_connect_and_disconnect(cli, container_cleanup, networks):
    one, two = uid("n"), uid("n")
    networks.extend([one, two])
    cli("network", "create", one)
    cli("network", "create", two)
    name = sleeper(cli, container_cleanup, "--network", one, "--hostname", "hx", "--domainname", "dom.ain")
    cli("network", "connect", two, name)
    nets = json.loads(cli("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
    ip1, ip2 = nets[one]["IPAddress"], nets[two]["IPAddress"]
    assert cli("exec", name, "tail", "-n", "2", "/etc/hosts").stdout.splitlines() == [
        f"{ip1}\thx.dom.ain hx", f"{ip2}\thx.dom.ain hx"]
    cli("network", "disconnect", one, name)
    hosts = cli("exec", name, "cat", "/etc/hosts").stdout
    assert f"{ip1}\t" not in hosts and hosts.endswith(f"{ip2}\thx.dom.ain hx\n")

    # a start on two networks: a line for each; a dotted hostname adds its first label
    cli("stop", "-t", "0", name)
    cli("network", "connect", one, name)
    cli("start", name)
    nets = json.loads(cli("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
    own = [ln for ln in cli("exec", name, "cat", "/etc/hosts").stdout.splitlines() if ln.endswith("hx")]
    assert sorted(own) == sorted(f"{n['IPAddress']}\thx.dom.ain hx" for n in nets.values())
    assert cli("run", "--rm", "--hostname", "a.b.c", "busybox", "tail", "-n", "1",
               "/etc/hosts").stdout.split("\t")[1] == "a.b.c a\n"


def test_until_that_is_no_time(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.api.prune_networks(filters={"until": "xyz"})
    assert (e.value.status_code, e.value.explanation) == (400, 'failed to parse value as time or duration: "xyz"')


def test_duplicate_name_is_checked_before_the_driver(cli, networks):
    name = uid("n")
    networks.append(name)
    cli("network", "create", name)
    out = cli("network", "create", "-d", "nosuchdriver", name, check=False)
    assert out.stderr.strip() == f"Error response from daemon: network with name {name} already exists"


def test_start_failures_of_networking_are_wrapped_as_docker_28(cli, client, container_cleanup):
    port = 48000 + int(uuid.uuid4().hex[:3], 16) % 1000
    sleeper(cli, container_cleanup, "-p", f"127.0.0.1:{port}:80")
    second = uid()
    container_cleanup.append(second)
    cli("create", "--name", second, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "300")
    with pytest.raises(docker.errors.APIError) as e:
        client.api.start(second)
    assert e.value.status_code == 500
    assert e.value.explanation.startswith("failed to set up container networking: driver failed programming "
                                          f"external connectivity on endpoint {second} (")
    assert e.value.explanation.endswith(f"): Bind for 127.0.0.1:{port} failed: port is already allocated")
    # a kernel error reads as Go's, not as a Python tuple
    bad_mac = uid()
    container_cleanup.append(bad_mac)
    cli("create", "--name", bad_mac, "--mac-address", "03:42:ac:11:00:99", "busybox", "true")
    with pytest.raises(docker.errors.APIError) as e:
        client.api.start(bad_mac)
    assert e.value.status_code == 500 and e.value.explanation.endswith(": cannot assign requested address")


def test_host_network_with_add_host_gets_dockers_default_hosts(cli):
    host_file = open("/etc/hosts").read()
    plain = cli("run", "--rm", "--network", "host", "busybox", "cat", "/etc/hosts").stdout
    assert plain == host_file
    extra = cli("run", "--rm", "--network", "host", "--add-host", "a:1.2.3.4", "busybox", "cat", "/etc/hosts").stdout
    assert extra.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert extra.endswith("ff02::2\tip6-allrouters\n1.2.3.4\ta\n")


def test_prune_until_and_label_not_and_list_by_id_and_scope(cli, networks):
    keep, old = uid("n"), uid("n")
    networks.extend([keep, old])
    keep_id = cli("network", "create", "--label", "a=1", keep).stdout.strip()
    cli("network", "create", old)
    names = lambda *f: set(cli("network", "ls", *f, "--format", "{{.Name}}").stdout.split())
    assert names("--filter", f"id={keep_id[:10]}") == {keep}
    assert {keep, old} <= names("--filter", "scope=local") and names("--filter", "scope=swarm") == set()
    assert cli("network", "prune", "-f", "--filter", "until=1h").stdout.strip() == ""  # both are newer
    out = cli("network", "prune", "-f", "--filter", "label!=a=1", "--filter", "until=2099-01-01").stdout
    assert old in out.split() and keep not in out.split()  # (the session's other unused networks go too)
    assert keep in names() and old not in names()


def test_a_bridge_container_connected_to_a_user_network_resolves_names_there(cli, container_cleanup, networks):
    net = uid("n")
    networks.append(net)
    cli("network", "create", net)
    target = sleeper(cli, container_cleanup, "--network", net)
    me = sleeper(cli, container_cleanup, "--dns-option", "attempts:2")
    assert "127.0.0.11" not in cli("exec", me, "cat", "/etc/resolv.conf").stdout
    cli("network", "connect", "--link", f"{target}:zz", net, me)
    # Docker rebuilds the sandbox's resolv.conf for its embedded DNS server
    assert cli("exec", me, "cat", "/etc/resolv.conf").stdout.split("\n")[4:] == [
        "nameserver 127.0.0.11", "options attempts:2 ndots:0", "",
        "# Based on host file: '/etc/resolv.conf' (internal resolver)", "# ExtServers: [127.0.0.1]",
        "# Overrides: [nameservers options]", "# Option ndots from: internal", ""]
    for name in (target, "zz"):
        assert cli("exec", me, "ping", "-c1", "-W2", name, check=False).returncode == 0, name


def test_container_network_mode_conflicts_and_shared_etc_files(cli, client, container_cleanup):
    donor = sleeper(cli, container_cleanup, "--add-host", "extra.example:192.0.2.7")
    mode = f"container:{donor}"
    for args, text in ((("--hostname", "h"), "conflicting options: hostname and the network mode"),
                       (("--dns", "192.0.2.1"), "conflicting options: dns and the network mode"),
                       (("--add-host", "a:192.0.2.2"),
                        "conflicting options: custom host-to-IP mapping and the network mode"),
                       (("-p", "80:80"), "conflicting options: port publishing and the container type network mode"),
                       (("-P",), "conflicting options: port publishing and the container type network mode"),
                       (("--expose", "80"), "conflicting options: port exposing and the container type network mode")):
        out = cli("create", "--network", mode, *args, "busybox", check=False)
        assert out.returncode == 1 and out.stderr.strip() == f"Error response from daemon: {text}", args
    with pytest.raises(docker.errors.APIError) as e:  # before the image is looked up, as Docker's
        client.api.create_container("nosuch:image", host_config=client.api.create_host_config(
            network_mode=mode, dns=["192.0.2.1"]))
    assert (e.value.status_code, e.value.explanation) == (400, "conflicting options: dns and the network mode")

    # the joiner takes the donor's hostname and its very /etc files; an --ip there is ignored
    joiner = sleeper(cli, container_cleanup, "--network", mode, "--ip", "192.0.2.9")
    donor_info = json.loads(cli("inspect", donor).stdout)[0]
    assert cli("exec", joiner, "hostname").stdout.strip() == donor_info["Config"]["Hostname"]
    assert json.loads(cli("inspect", joiner).stdout)[0]["Config"]["Hostname"] == donor_info["Config"]["Hostname"]
    assert cli("exec", joiner, "cat", "/etc/hosts").stdout == cli("exec", donor, "cat", "/etc/hosts").stdout
    assert "192.0.2.7\textra.example" in cli("exec", joiner, "cat", "/etc/hosts").stdout
