"""docker commit through the CLI and docker-py: layers, config changes, history, pause."""

import json
import time

from .test_system import raw_request


def test_commit_with_changes_then_run(daemon, cli, container_cleanup):
    script = "echo hello > /made && rm /etc/group && echo ready && sleep 60"
    cid = cli("run", "-d", "busybox", "sh", "-c", script).stdout.strip()
    container_cleanup.append(cid)
    deadline = time.monotonic() + 20
    while "ready" not in cli("logs", cid).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    since = str(int(time.time()) - 1)
    image_id = cli("commit", "-a", "me <me@x>", "-m", "a message", "--change", "ENV FOO=bar",
                   "--change", 'CMD ["cat", "/made"]', "--change", "EXPOSE 8080", cid, "committed:1").stdout.strip()
    try:
        assert image_id.startswith("sha256:")
        img = inspect_image(cli, "committed:1")
        assert img["Id"] == image_id
        assert img["Author"] == "me <me@x>" and img["Comment"] == "a message"
        assert "FOO=bar" in img["Config"]["Env"]
        assert img["Config"]["Cmd"] == ["cat", "/made"]
        assert "8080/tcp" in img["Config"]["ExposedPorts"]
        assert len(img["RootFS"]["Layers"]) == 2
        assert cli("run", "--rm", "committed:1").stdout == "hello\n"
        # the deletion travelled as a whiteout
        assert cli("run", "--rm", "committed:1", "sh", "-c", "test -e /etc/group; echo $?").stdout == "1\n"
        events = cli("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", f"container={cid}",
                     "--format", "{{.Action}} {{index .Actor.Attributes \"imageRef\"}}").stdout.split("\n")
        events = [e for e in events if e.split(" ")[0] in ("pause", "unpause", "commit")]
        assert events == ["pause ", "commit committed:1", "unpause "]   # --pause is the default
        state = json.loads(cli("inspect", "-f", "{{json .State}}", cid).stdout)
        assert state["Running"] and not state["Paused"], state  # paused during the commit, resumed after
        history = json.loads(cli("history", "--format", "{{json .}}", "--no-trunc", "committed:1").stdout.splitlines()[0])
        assert history["Comment"] == "a message"
        assert history["CreatedBy"] == "sh -c " + script
        assert "ContainerConfig" not in img                                  # API 1.45+ dropped it
        status, _, body = raw_request(daemon, "GET", "/v1.44/images/committed:1/json")
        old = json.loads(body)
        assert status == 200 and old["Container"] == cid                     # older clients still get both
        assert old["ContainerConfig"]["Cmd"] == ["sh", "-c", script] and list(old)[6:8] == ["Container",
                                                                                            "ContainerConfig"]
    finally:
        cli("rmi", "committed:1", check=False)


def inspect_image(cli, ref: str) -> dict:
    return json.loads(cli("image", "inspect", ref).stdout)[0]


def test_commit_without_changes_adds_an_empty_layer_entry(cli, container_cleanup):
    cid = cli("create", "busybox", "true").stdout.strip()
    container_cleanup.append(cid)
    image_id = cli("commit", cid).stdout.strip()
    try:
        img = inspect_image(cli, image_id)
        base = inspect_image(cli, "busybox")
        assert img["RootFS"]["Layers"] == base["RootFS"]["Layers"]
        assert img["Parent"] == base["Id"]
        assert img["Config"]["Cmd"] == ["true"]
    finally:
        cli("rmi", image_id, check=False)


def test_commit_sdk_and_opaque_dir(client, container_cleanup):
    c = client.containers.run("busybox", ["sh", "-c", "rm -rf /sbin && mkdir /sbin && echo new > /sbin/only"],
                              detach=True)
    container_cleanup.append(c.id)
    assert c.wait()["StatusCode"] == 0
    image = c.commit(repository="sdkcommit", tag="v1", changes=["LABEL a=b"], conf={"Env": ["X=1"]})
    try:
        assert image.labels == {"a": "b"}
        assert "X=1" in image.attrs["Config"]["Env"]
        out = client.containers.run(image.id, ["ls", "/sbin"], remove=True)
        assert out == b"only\n"
    finally:
        client.images.remove(image.id, force=True)


def test_commit_unknown_container(cli):
    proc = cli("commit", "nosuchcontainer", check=False)
    assert proc.returncode != 0
    assert "No such container: nosuchcontainer" in proc.stderr


def test_commit_bad_change(cli, container_cleanup):
    cid = cli("create", "busybox", "true").stdout.strip()
    container_cleanup.append(cid)
    proc = cli("commit", "--change", "FROM busybox", cid, check=False)
    assert proc.returncode != 0
    assert "from is not a valid change command" in proc.stderr
