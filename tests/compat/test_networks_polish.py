"""Smaller network behaviours checked against Docker's daemon: legacy links' environment,
``--network container:<ref>`` errors, endpoint aliases for old API versions."""

import json
import uuid

import docker


def uid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def run_sleeper(cli, container_cleanup, *args: str) -> str:
    name = uid("c")
    container_cleanup.append(name)
    cli("run", "-d", "--name", name, *args, "busybox", "sleep", "300")
    return name


def test_link_env_passes_the_linked_containers_environment_and_port_ranges(cli, container_cleanup):
    target = uid("c")
    container_cleanup.append(target)
    cli("run", "-d", "--name", target, "-e", "FOO=bar", "-e", "HOME=/x", "-e", "HOSTNAME=hh", "-e", "W=a=b",
        "-e", "PATH=/p", "--expose", "80-82", "--expose", "90/udp", "busybox", "/bin/sleep", "300")
    ip = json.loads(cli("inspect", target).stdout)[0]["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    me = uid("c")
    env = cli("run", "--rm", "--name", me, "--link", f"{target}:my-al", "busybox", "env").stdout.splitlines()
    link_env = [v for v in env if v.startswith("MY_AL_")]
    # Docker 20.10's output, variable for variable and in its order (HOME and PATH are not passed on)
    assert link_env[:-3] == [
        f"MY_AL_PORT=tcp://{ip}:80",
        f"MY_AL_PORT_80_TCP_START=tcp://{ip}:80", f"MY_AL_PORT_80_TCP_ADDR={ip}", "MY_AL_PORT_80_TCP_PROTO=tcp",
        "MY_AL_PORT_80_TCP_PORT_START=80", f"MY_AL_PORT_80_TCP_END=tcp://{ip}:82", "MY_AL_PORT_80_TCP_PORT_END=82",
        f"MY_AL_PORT_80_TCP=tcp://{ip}:80", "MY_AL_PORT_80_TCP_PORT=80",
        *[v for p in (81, 82) for v in (f"MY_AL_PORT_{p}_TCP=tcp://{ip}:{p}", f"MY_AL_PORT_{p}_TCP_ADDR={ip}",
                                         f"MY_AL_PORT_{p}_TCP_PORT={p}", f"MY_AL_PORT_{p}_TCP_PROTO=tcp")],
        f"MY_AL_PORT_90_UDP=udp://{ip}:90", f"MY_AL_PORT_90_UDP_ADDR={ip}", "MY_AL_PORT_90_UDP_PORT=90",
        "MY_AL_PORT_90_UDP_PROTO=udp",
        f"MY_AL_NAME=/{me}/my-al",
    ], env
    assert link_env.index(f"MY_AL_NAME=/{me}/my-al") == len(link_env) - 4  # then the ENV ones
    assert sorted(v for v in link_env if v.startswith("MY_AL_ENV_")) == [
        "MY_AL_ENV_FOO=bar", "MY_AL_ENV_HOSTNAME=hh", "MY_AL_ENV_W=a=b"]


def test_network_mode_of_a_missing_or_stopped_container(cli, client, container_cleanup):
    stopped = uid("c")
    container_cleanup.append(stopped)
    stopped_id = cli("create", "--name", stopped, "busybox", "true").stdout.strip()
    dep = uid("c")
    container_cleanup.append(dep)
    cli("create", "--name", dep, "--network", f"container:{stopped}", "busybox", "true")
    # stored by id, as Docker does, so a rename of the other container does not matter
    assert json.loads(cli("inspect", dep).stdout)[0]["HostConfig"]["NetworkMode"] == f"container:{stopped_id}"
    bad = cli("start", dep, check=False)
    assert bad.returncode != 0
    assert f"cannot join network of a non running container: {stopped_id}" in bad.stderr
    try:
        client.api.start(dep)
        raise AssertionError("started")
    except docker.errors.APIError as e:
        assert e.status_code == 409

    missing = uid("gone")
    orphan = uid("c")
    container_cleanup.append(orphan)
    cli("create", "--name", orphan, "--network", f"container:{missing}", "busybox", "true")  # Docker creates it
    try:
        client.api.start(orphan)
        raise AssertionError("started")
    except docker.errors.APIError as e:
        assert e.status_code == 404 and e.explanation == f"No such container: {missing}"
    run = cli("run", "--rm", "--network", f"container:{missing}", "busybox", "true", check=False, timeout=30)
    assert run.returncode == 125 and f"No such container: {missing}" in run.stderr


def test_old_api_versions_see_the_short_id_and_hostname_among_aliases(cli, daemon, container_cleanup):
    net = uid("n")
    cli("network", "create", net)
    try:
        name = run_sleeper(cli, container_cleanup, "--network", net, "--network-alias", "web", "--hostname", "h1")
        cid = json.loads(cli("inspect", name).stdout)[0]["Id"]
        old = docker.APIClient(base_url=daemon.host, version="1.44")
        new = docker.APIClient(base_url=daemon.host, version="1.45")
        try:
            old_eps, new_eps = (c.inspect_container(name)["NetworkSettings"]["Networks"] for c in (old, new))
        finally:
            old.close()
            new.close()
        assert old_eps[net]["Aliases"] == ["web", cid[:12], "h1"]
        assert new_eps[net]["Aliases"] == ["web"]
        assert new_eps[net]["DNSNames"] == old_eps[net]["DNSNames"]
        on_bridge = run_sleeper(cli, container_cleanup)  # the default bridge is not user-defined: nothing added
        old = docker.APIClient(base_url=daemon.host, version="1.44")
        try:
            assert old.inspect_container(on_bridge)["NetworkSettings"]["Networks"]["bridge"]["Aliases"] is None
        finally:
            old.close()
    finally:
        cli("rm", "-f", *container_cleanup, check=False)
        cli("network", "rm", net, check=False)
