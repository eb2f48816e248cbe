"""Legacy links of the default bridge as Docker's graph keeps them: link names
(``/parent/alias``) that resolve to the child, `docker rm --link`, renames, a removed
or stopped child, and the create-time 400s. Texts and codes checked against Docker's
dockerd (20.10 and moby's ContainerRm/rmLink/registerLinks)."""

import json

import docker
import pytest

from .conftest import inspect, sleeper, uid


def test_rm_link_removes_the_link_and_keeps_the_child(daemon, cli, client, container_cleanup):
    db = sleeper(cli, container_cleanup)
    web = sleeper(cli, container_cleanup, "--link", f"{db}:mydb")
    assert inspect(daemon, web)["HostConfig"]["Links"] == [f"/{db}:/{web}/mydb"]
    assert inspect(daemon, f"{web}/mydb")["Name"] == f"/{db}"  # the link name is a name of the child
    names = {c["Id"]: c["Names"] for c in client.api.containers()}
    assert names[inspect(daemon, db)["Id"]] == [f"/{db}", f"/{web}/mydb"]
    assert "\tmydb " in cli("exec", web, "cat", "/etc/hosts").stdout
    assert f"MYDB_NAME=/{web}/mydb" in cli("exec", web, "env").stdout  # an exec gets the links' variables too

    assert cli("rm", "--link", f"{web}/mydb").stdout.strip() == f"{web}/mydb"
    assert inspect(daemon, db)["State"]["Running"]  # the child is not removed
    assert inspect(daemon, web)["HostConfig"]["Links"] is None
    hosts = cli("exec", web, "cat", "/etc/hosts").stdout
    assert "mydb" not in hosts and hosts.endswith("\n")  # the running parent's entry is gone at once
    assert "MYDB_" not in cli("exec", web, "env").stdout  # an exec's are computed now, as Docker's
    assert f"MYDB_NAME=/{web}/mydb" in cli("exec", web, "cat", "/proc/1/environ").stdout  # the process keeps its
    cli("restart", "-t", "0", web)
    assert "MYDB_" not in cli("exec", web, "cat", "/proc/1/environ").stdout
    again = cli("rm", "--link", f"{web}/mydb", check=False)
    assert again.returncode == 1 and f"No such container: {web}/mydb" in again.stderr


def test_rm_link_errors_as_docker(cli, client, container_cleanup):
    db = sleeper(cli, container_cleanup)
    web = sleeper(cli, container_cleanup, "--link", db)
    for ref, status, text in ((db, 500, "Conflict, cannot remove the default link name of the container"),
                              (f"/{db}", 500, "Conflict, cannot remove the default link name of the container"),
                              (f"{web}/nope", 404, f"No such container: {web}/nope"),
                              (f"nope/{db}", 404, f"No such container: nope/{db}")):
        with pytest.raises(docker.errors.APIError) as e:
            client.api.remove_container(ref, link=True)
        assert (e.value.status_code, e.value.explanation) == (status, text), ref
    assert cli("ps", "-q", "--filter", f"name={db}").stdout.strip()  # still there
    client.api.remove_container(f"{web}/{db}", link=True)  # docker-py's link=True
    assert client.api.inspect_container(web)["HostConfig"]["Links"] is None


def test_links_follow_renames_and_a_stopped_or_removed_child_stops_the_start(daemon, cli, container_cleanup):
    db = sleeper(cli, container_cleanup)
    web = sleeper(cli, container_cleanup, "--link", db)
    db2, web2 = uid(), uid()
    container_cleanup += [db2, web2]
    cli("rename", db, db2)
    cli("rename", web, web2)
    assert inspect(daemon, web2)["HostConfig"]["Links"] == [f"/{db2}:/{web2}/{db}"]
    assert inspect(daemon, f"{web2}/{db}")["Name"] == f"/{db2}"
    cli("restart", "-t", "0", web2)
    assert f"\t{db} " in cli("exec", web2, "cat", "/etc/hosts").stdout

    # a link survives a daemon restart
    daemon.stop()
    daemon.start()
    assert inspect(daemon, f"{web2}/{db}")["Name"] == f"/{db2}"

    cli("stop", "-t", "0", db2)
    bad = cli("restart", "-t", "0", web2, check=False)
    assert bad.returncode == 1
    message = f"Cannot link to a non running container: /{db2} AS /{web2}/{db}"
    assert f"Error response from daemon: Cannot restart container {web2}: {message}" in bad.stderr
    state = inspect(daemon, web2)["State"]
    assert (state["Running"], state["Error"]) == (False, message)
    cli("rm", db2)
    assert inspect(daemon, web2)["HostConfig"]["Links"] == [f"/{db2}:/{web2}/{db}"]  # as Docker: the link stays
    bad = cli("start", web2, check=False)
    assert bad.returncode == 1 and message in bad.stderr


def test_create_refuses_links_docker_refuses(cli, client, container_cleanup):
    target = sleeper(cli, container_cleanup)
    on_host = sleeper(cli, container_cleanup, "--network", "host")
    host_text = "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
    cases = (({"links": {"nope": "x"}}, "could not get container for nope: No such container: nope"),
             ({"links": {on_host: "x"}}, host_text),
             ({"links": {target: "x"}, "network_mode": "host"}, host_text),
             ({"links": {target: "x"}, "network_mode": f"container:{target}"},
              "conflicting options: container type network can't be used with links. This would result in undefined behavior"))
    for kwargs, text in cases:
        with pytest.raises(docker.errors.APIError) as e:
            client.api.create_container("busybox", host_config=client.api.create_host_config(**kwargs))
        assert (e.value.status_code, e.value.explanation) == (400, text)
    # a child sharing another's network stands for that one
    shared = sleeper(cli, container_cleanup, "--network", f"container:{target}")
    parent = uid()
    container_cleanup.append(parent)
    cli("create", "--name", parent, "--link", f"{shared}:x", "busybox")
    assert json.loads(cli("inspect", parent).stdout)[0]["HostConfig"]["Links"] == [f"/{target}:/{parent}/x"]


def test_links_on_a_user_network_are_endpoint_aliases_only(cli, container_cleanup):
    net = uid("n")
    cli("network", "create", net)
    try:
        a = sleeper(cli, container_cleanup, "--network", net)
        b = sleeper(cli, container_cleanup, "--network", net, "--link", f"{a}:al")
        info = json.loads(cli("inspect", b).stdout)[0]
        assert info["HostConfig"]["Links"] is None  # as Docker: no legacy link there
        assert info["NetworkSettings"]["Networks"][net]["Links"] == [f"{a}:al"]
        gone = cli("rm", "--link", f"{b}/al", check=False)
        assert gone.returncode == 1 and f"No such container: {b}/al" in gone.stderr
    finally:
        cli("rm", "-f", *container_cleanup, check=False)
        cli("network", "rm", net)


def test_a_child_off_the_default_bridge_stops_a_parent_on_it(cli, container_cleanup):
    isolated = sleeper(cli, container_cleanup, "--network", "none")
    parent = uid()
    container_cleanup.append(parent)
    out = cli("run", "-d", "--name", parent, "--link", f"{isolated}:x", "busybox", "sleep", "300", check=False)
    assert out.returncode == 125
    assert f"Error response from daemon: Cannot link to /{isolated}, as it does not belong to the default network" \
        in out.stderr
    # a parent that is not on the default bridge has no legacy links to set up
    cli("run", "--rm", "--network", "none", "--link", f"{isolated}:x", "busybox", "true")


def test_removing_the_parent_removes_its_link_names(cli, container_cleanup):
    db = sleeper(cli, container_cleanup)
    web = sleeper(cli, container_cleanup, "--link", f"{db}:x")
    assert cli("inspect", "--format", "{{.Name}}", f"{web}/x").stdout.strip() == f"/{db}"
    cli("rm", "-f", web)
    gone = cli("inspect", f"{web}/x", check=False)
    assert gone.returncode == 1 and f"No such object: {web}/x" in gone.stderr
    # the name is free again, with links of its own
    cli("run", "-d", "--name", web, "--link", f"{db}:y", "busybox", "sleep", "300")
    assert cli("inspect", "--format", "{{json .HostConfig.Links}}", web).stdout.strip() == f'["/{db}:/{web}/y"]'
