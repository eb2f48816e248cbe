"""Bad input gets Docker's 4xx and message, never a 500, and stored state stays intact."""

import json
import uuid

import pytest

from .conftest import inspect
from .test_system import raw_request


def post_json(daemon, path: str, body) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, out = raw_request(daemon, "POST", path, raw, {"Content-Type": "application/json"})
    return status, (json.loads(out) if out.strip() else {})


@pytest.mark.parametrize("body, fragment", [
    ({"Image": "busybox", "Cmd": "true", "Env": "A=1"}, "cannot unmarshal string"),
    ({"Image": "busybox", "Tty": "yes"}, "cannot unmarshal string"),
    ({"Image": "busybox", "HostConfig": {"Memory": 1}}, "Minimum memory limit allowed is 6MB"),
    ({"Image": "busybox", "HostConfig": {"CapAdd": ["CAP_NOPE"]}}, "unknown capability"),
    ({"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "abc"}]}}}, "invalid"),
    ({"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, "restart policy"),
    ({}, "config cannot be empty"),
])
def test_create_rejects_with_400(daemon, body, fragment):
    status, out = post_json(daemon, "/v1.47/containers/create", body)
    assert status == 400, out
    assert fragment.lower() in out["message"].lower()


def test_unknown_container_is_404_everywhere(daemon):
    for method, path in [("GET", "/containers/nosuch/json"), ("POST", "/containers/nosuch/start"),
                         ("POST", "/containers/nosuch/stop"), ("POST", "/containers/nosuch/kill"),
                         ("DELETE", "/containers/nosuch"), ("GET", "/containers/nosuch/logs?stdout=1"),
                         ("POST", "/containers/nosuch/wait")]:
        status, _, body = raw_request(daemon, method, "/v1.47" + path)
        assert status == 404, (method, path, body)
        prefix = "Cannot kill container: nosuch: " if path.endswith("/kill") else ""  # moby's kill route wraps
        assert json.loads(body)["message"] == prefix + "No such container: nosuch"


def test_bad_name_and_bad_signal(daemon, cli, container_cleanup):
    status, out = post_json(daemon, "/v1.47/containers/create?name=bad%20name", {"Image": "busybox"})
    assert status == 400 and "Invalid container name" in out["message"]
    n = "b" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{n}/kill?signal=SIGFOO")
    assert status == 400 and json.loads(body)["message"] == "Invalid signal: SIGFOO"
    assert inspect(daemon, n)["State"]["Running"] is True


def test_start_running_is_304_and_stop_stopped_is_304(daemon, cli, container_cleanup):
    n = "b" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    assert raw_request(daemon, "POST", f"/v1.47/containers/{n}/start")[0] == 304
    cli("kill", n)
    cli("wait", n)
    assert raw_request(daemon, "POST", f"/v1.47/containers/{n}/stop")[0] == 304


def test_failed_create_leaves_nothing(daemon, cli):
    before = cli("ps", "-aq").stdout.split()
    n = "b" + uuid.uuid4().hex[:8]
    status, _ = post_json(daemon, f"/v1.47/containers/create?name={n}", {"Image": "busybox", "HostConfig": {"Memory": 1}})
    assert status == 400
    assert cli("ps", "-aq").stdout.split() == before
    cli("create", "--name", n, "busybox", "true")  # the name was not reserved by the failed create
    cli("rm", n)


def test_wait_with_bad_condition_is_400(daemon, cli, container_cleanup):
    n = "b" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{n}/wait?condition=whenever")
    assert status == 400 and "invalid condition" in json.loads(body)["message"]


def test_status_lines_carry_gos_texts(client):
    """docker-py puts the reason phrase in its errors: Go writes "404 Not Found", not werkzeug's capitals."""
    import docker

    with pytest.raises(docker.errors.NotFound) as missing:
        client.containers.get("no-such-container-" + uuid.uuid4().hex[:6])
    assert ": Not Found (" in str(missing.value)
    with pytest.raises(docker.errors.APIError) as bad:
        client.api.create_container("busybox", environment=["=bad"])
    assert ": Bad Request (\"invalid environment variable: =bad\")" in str(bad.value)
