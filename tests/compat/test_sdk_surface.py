"""The docker-py surface a Python user relies on: return values, types, exceptions and streams,
as Docker's dockerd gives them (checked side by side against dockerd 20.10 and moby's source)."""

import io
import shutil
import tarfile
import tempfile
import time

import docker as sdk
import pytest
from docker.types import IPAMConfig, IPAMPool, Mount, Ulimit

from .. import registry as registry_mod
from .conftest import uid


@pytest.fixture
def made(client):
    """Containers, networks and volumes a test made through the SDK: removed after it."""
    things: dict[str, list] = {"containers": [], "networks": [], "volumes": [], "images": []}
    yield things
    for c in things["containers"]:
        try:
            client.api.remove_container(c, force=True, v=True)
        except sdk.errors.NotFound:
            pass
    for n in things["networks"]:
        try:
            client.api.remove_network(n)
        except sdk.errors.NotFound:
            pass
    for v in things["volumes"]:
        try:
            client.api.remove_volume(v, force=True)
        except sdk.errors.NotFound:
            pass
    for i in things["images"]:
        try:
            client.api.remove_image(i, force=True)
        except sdk.errors.NotFound:
            pass


def _run(client, made, *args, **kwargs):
    kwargs.setdefault("detach", True)
    c = client.containers.run("busybox", *args, **kwargs)
    made["containers"].append(c.id)
    return c


# --- containers ----------------------------------------------------------------------------

def test_run_with_many_kwargs_lands_in_inspect(client, made):
    c = _run(client, made, ["sleep", "300"], environment={"A": "1", "B": "x=y"}, working_dir="/tmp", user="nobody",
             labels={"l": "v"}, ports={"80/tcp": None, "81/tcp": ("127.0.0.1", None), "82/udp": ("127.0.0.1",)},
             volumes={"/tmp": {"bind": "/h", "mode": "ro"}}, mounts=[Mount("/m", None, type="tmpfs")],
             restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, mem_limit="64m", cpu_shares=512,
             ulimits=[Ulimit(name="nofile", soft=1024, hard=2048)],
             healthcheck={"test": ["CMD", "true"], "interval": 1_000_000_000})
    c.reload()
    cfg, hc = c.attrs["Config"], c.attrs["HostConfig"]
    assert c.status == "running" and c.labels == {"l": "v"} and c.image.tags == ["busybox:latest"]
    assert "A=1" in cfg["Env"] and "B=x=y" in cfg["Env"] and cfg["User"] == "nobody" and cfg["WorkingDir"] == "/tmp"
    assert hc["Binds"] == ["/tmp:/h:ro"] and hc["Memory"] == 64 << 20
    # Go's omitempty structs: the nulls docker-py sends are not echoed back
    assert hc["Mounts"] == [{"Target": "/m", "Type": "tmpfs"}]
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1_000_000_000}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert set(c.ports) == {"80/tcp", "81/tcp", "82/udp"}
    assert c.ports["81/tcp"][0]["HostIp"] == "127.0.0.1" and int(c.ports["81/tcp"][0]["HostPort"]) > 0
    assert c.health in ("starting", "healthy")
    assert c.exec_run(["sh", "-c", "echo $B; id -u; pwd"]) == (0, b"x=y\n65534\n/tmp\n")


def test_volumes_list_form_with_an_anonymous_volume(client, made):
    """docker-py's volumes=[...] goes into HostConfig.Binds as given: a lone "/ctr" is an anonymous
    volume there (moby's parseMountRaw), the others binds or named volumes."""
    c = _run(client, made, ["sh", "-c", "echo hi > /anon/f && cat /anon/f && touch /h/x"], volumes=["/tmp:/h:ro", "/anon"])
    assert c.wait()["StatusCode"] == 1 and c.logs() == b"hi\ntouch: /h/x: Read-only file system\n"
    c.reload()
    assert c.attrs["HostConfig"]["Binds"] == ["/tmp:/h:ro", "/anon"]
    anon = [m for m in c.attrs["Mounts"] if m["Destination"] == "/anon"]
    assert [(m["Type"], m["Driver"], m["Mode"], m["RW"]) for m in anon] == [("volume", "local", "z", True)]
    made["volumes"].append(anon[0]["Name"])
    for binds, message in ((["anon"], "invalid volume specification: 'anon': invalid mount config for type \"volume\": "
                                      "invalid mount path: 'anon' mount path must be absolute"),
                           (["/anon:ro"], "invalid volume specification: '/anon:ro'")):
        with pytest.raises(sdk.errors.APIError) as e:
            client.api.create_container("busybox", "true", host_config=client.api.create_host_config(binds=binds))
        assert e.value.status_code == 400 and e.value.explanation == message


def test_run_foreground_forms(client):
    assert client.containers.run("busybox", "hello", entrypoint=["echo"], remove=True) == b"hello\n"
    assert list(client.containers.run("busybox", ["sh", "-c", "echo a; echo b"], stream=True, remove=True)) \
        == [b"a\n", b"b\n"]
    assert client.containers.run("busybox", ["echo", "t"], tty=True, remove=True) == b"t\r\n"
    with pytest.raises(sdk.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo o; echo e >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and e.value.stderr == b"e\n"
    with pytest.raises(sdk.errors.APIError) as e:
        client.containers.run("busybox", ["/nonexist"], remove=True)
    assert e.value.status_code == 400 and 'exec: "/nonexist": stat /nonexist: no such file or directory' \
        in e.value.explanation


def test_logs_forms(client, made):
    c = _run(client, made, ["sh", "-c", "echo l1; sleep 0.2; echo l2 >&2; sleep 0.2; echo l3; sleep 300"])
    deadline = time.monotonic() + 10
    while c.logs().count(b"\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.logs() == b"l1\nl2\nl3\n" and c.logs(stderr=False) == b"l1\nl3\n"
    assert c.logs(tail=1) == b"l3\n" and c.logs(tail=0) == b""
    assert c.logs(since=time.time() + 100) == b"" and c.logs(until=1) == b""
    assert all(line[:4].isdigit() and b"Z " in line for line in c.logs(timestamps=True).splitlines())
    follow = c.logs(stream=True, follow=True)
    assert [next(follow), next(follow)] == [b"l1\n", b"l2\n"]
    follow.close()


def test_exec_run_forms(client, made):
    c = _run(client, made, ["sleep", "300"])
    assert c.exec_run(["sh", "-c", "echo o; echo e >&2; exit 2"]) == (2, b"o\ne\n")
    assert c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True) == (0, (b"o\n", b"e\n"))
    r = c.exec_run(["sh", "-c", "echo a; echo b >&2"], stream=True, demux=True)
    assert r.exit_code is None and sorted(r.output, key=repr) == [(None, b"b\n"), (b"a\n", None)]
    assert c.exec_run("sh -c 'echo $F; pwd; id -u'", environment={"F": "v"}, workdir="/tmp", user="nobody") \
        == (0, b"v\n/tmp\n65534\n")
    assert c.exec_run(["echo", "t"], tty=True) == (0, b"t\r\n")
    code, out = c.exec_run(["/nonexist"])  # moby's translateContainerdStartErr: 127 for not found
    assert code == 127 and b'exec: "/nonexist": stat /nonexist: no such file or directory' in out
    with pytest.raises(sdk.errors.APIError) as e:
        c.exec_run(["true"], user="nosuchuser")  # moby resolves the user at exec create
    assert e.value.status_code == 400
    assert e.value.explanation == "unable to find user nosuchuser: no matching entries in passwd file"


def test_archive_roundtrip_and_stat(client, made):
    c = _run(client, made, ["sleep", "300"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("f.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    chunks, stat = c.get_archive("/tmp/f.txt")
    assert {k: stat[k] for k in ("name", "size", "linkTarget")} == {"name": "f.txt", "size": 3, "linkTarget": ""}
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert t.extractfile("f.txt").read() == b"abc"
    for call in (lambda: c.get_archive("/nonexist"), lambda: c.put_archive("/nonexist", b"")):
        with pytest.raises(sdk.errors.NotFound) as e:
            call()
        assert e.value.explanation == f"Could not find the file /nonexist in container {c.id}"


def test_stats_top_diff(client, made):
    c = _run(client, made, ["sleep", "300"])
    one = c.stats(stream=False)
    assert {"read", "cpu_stats", "memory_stats", "pids_stats", "networks"} <= set(one)
    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    stream.close()
    assert isinstance(first, dict) and isinstance(second, dict) and second["read"] > first["read"]
    assert isinstance(next(c.stats(stream=True)), bytes)
    top = c.top(ps_args="-o pid,comm")
    assert top["Titles"] == ["PID", "COMMAND"] and [p[1] for p in top["Processes"]] == ["sleep"]
    c.exec_run("touch /newfile")
    assert {"Kind": 1, "Path": "/newfile"} in c.diff()


def test_resize_without_tty_is_a_noop(client, made):
    """containerd resizes a process without a console as a no-op: Docker answers 200."""
    since = time.time()
    c = _run(client, made, ["sleep", "300"])
    assert c.resize(24, 80) is None
    events = client.events(since=since, until=time.time() + 0.5, decode=True,
                           filters={"type": "container", "event": "resize"})
    assert [e["Actor"]["Attributes"]["height"] for e in events] == ["24"]


def test_kill_errors_are_wrapped_as_dockers_route(client, made):
    c = _run(client, made, ["true"])
    c.wait()
    with pytest.raises(sdk.errors.APIError) as e:
        c.kill()
    assert e.value.status_code == 409
    assert e.value.explanation == f"cannot kill container: {c.id}: container {c.id} is not running"
    with pytest.raises(sdk.errors.NotFound) as e:
        client.api.kill("nosuchctr")
    assert e.value.explanation == "cannot kill container: nosuchctr: No such container: nosuchctr"
    sleeper = _run(client, made, ["sleep", "300"])
    with pytest.raises(sdk.errors.APIError) as e:
        sleeper.kill(signal="SIGNOPE")
    assert e.value.status_code == 400
    assert e.value.explanation == f"cannot kill container: {sleeper.id}: Invalid signal: SIGNOPE"


def test_rename_conflict_and_state_errors(client, made):
    a = _run(client, made, ["sleep", "300"], name=uid("sa"))
    b = _run(client, made, ["sleep", "300"])
    with pytest.raises(sdk.errors.APIError) as e:
        b.rename(a.name)
    assert e.value.status_code == 409 and e.value.explanation.startswith(
        f'Error when allocating new name: Conflict. The container name "/{a.name}" is already in use by container')
    with pytest.raises(sdk.errors.APIError) as e:
        b.wait(condition="bogus")
    assert e.value.status_code == 400 and e.value.explanation == 'invalid condition: "bogus"'
    b.pause()
    with pytest.raises(sdk.errors.APIError) as e:
        b.exec_run("true")
    assert e.value.status_code == 409 and e.value.explanation.endswith("is paused, unpause the container before exec")
    b.unpause()
    with pytest.raises(sdk.errors.APIError) as e:
        b.unpause()
    assert e.value.status_code == 500 and e.value.explanation == f"Container {b.id} is not paused"  # moby's fmt.Errorf
    with pytest.raises(sdk.errors.APIError) as e:
        b.remove()
    assert e.value.status_code == 409 and "container is running" in e.value.explanation
    b.remove(force=True, v=True)
    with pytest.raises(sdk.errors.NotFound):
        client.containers.get(b.id)


def test_list_filters_and_prune(client, made):
    c = _run(client, made, ["true"], name=uid("sl"))
    c.wait()
    assert [x.id for x in client.containers.list(all=True, filters={"name": c.name})] == [c.id]
    assert [x["Id"] for x in client.api.containers(quiet=True, all=True, filters={"name": c.name})] == [c.id]
    for call in (lambda: client.containers.list(filters={"bogus": "x"}),
                 lambda: client.containers.prune(filters={"bogus": "1"})):
        with pytest.raises(sdk.errors.APIError) as e:
            call()
        assert e.value.status_code == 400
    assert client.containers.prune(filters={"label": "nope=1"}) == {"ContainersDeleted": None, "SpaceReclaimed": 0}


# --- images --------------------------------------------------------------------------------

DOCKERFILE = b"FROM busybox AS base\nARG X=1\nRUN echo build-$X > /f\nFROM base AS final\nRUN echo final\n"


def test_build_returns_image_and_log_and_raises_build_error(client, made):
    tag = uid("sdkb") + ":1"
    made["images"].append(tag)
    image, log = client.images.build(fileobj=io.BytesIO(DOCKERFILE), tag=tag, buildargs={"X": "2"},
                                     labels={"bl": "v"}, target="base", rm=True, forcerm=True, nocache=True)
    log = list(log)
    assert image.tags == [tag] and image.labels == {"bl": "v"} and all(isinstance(x, dict) for x in log)
    assert any("Successfully tagged " + tag in x.get("stream", "") for x in log)
    with pytest.raises(sdk.errors.BuildError) as e:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"))
    assert "returned a non-zero code: 7" in e.value.msg and "error" in list(e.value.build_log)[-1]
    for kwargs, message in (({"squash": True}, "squash is only supported with experimental mode"),
                            ({"isolation": "hyperv"}, 'unsupported isolation: "hyperv"')):
        with pytest.raises(sdk.errors.APIError) as e:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\n"), **kwargs)
        assert e.value.status_code == 400 and e.value.explanation == message


def test_image_lookup_errors(client):
    with pytest.raises(sdk.errors.ImageNotFound):
        client.images.get("nosuch:img")
    with pytest.raises(sdk.errors.ImageNotFound):
        client.images.remove("nosuch:img")
    # save: moby's reference store answers for a tag, the image ID set for a bare name
    with pytest.raises(sdk.errors.NotFound) as e:
        b"".join(client.api.get_image("nosuch:img"))
    assert type(e.value) is sdk.errors.NotFound and e.value.explanation == "reference does not exist"
    with pytest.raises(sdk.errors.ImageNotFound) as e:
        b"".join(client.api.get_image("nosuchname"))
    assert e.value.explanation == "No such image: nosuchname"


def test_image_save_load_tag_remove(client, made):
    busybox = client.images.get("busybox")
    tag = uid("sdkt")
    made["images"].append(tag + ":v")
    assert busybox.tag(tag, "v") is True
    data = busybox.save(chunk_size=4096)
    first = next(iter(data))
    assert isinstance(first, bytes) and len(first) == 4096  # full pieces, as from Docker's large HTTP chunks
    loaded = client.images.load(first + b"".join(data))
    assert [i.id for i in loaded] == [busybox.id]
    assert [sorted(h) for h in busybox.history()][0] == ["Comment", "Created", "CreatedBy", "Id", "Size", "Tags"]
    assert client.api.remove_image(tag + ":v") == [{"Untagged": tag + ":v"}]
    with pytest.raises(sdk.errors.APIError) as e:
        client.images.list(filters={"bogus": 1})
    assert e.value.status_code == 400


def test_progress_streams_end_messages_with_crlf_and_load_errors(client):
    """moby's streamformatter ends each JSON message with \\r\\n (load, import, pull, push)."""
    api = client.api
    data = b"".join(client.images.get("busybox").save())
    for path, params, body in (("/images/load", {"quiet": False}, data), ("/images/create", {"fromSrc": "-"}, b"")):
        r = api._post(api._url(path), params=params, data=body, stream=True)
        raw = r.raw.read()
        assert r.status_code == 200 and raw.endswith(b"}\r\n") and b"}\n" not in raw, raw
    for garbage, text in ((b"not a tar", "unexpected EOF"), (b"x" * 2048, "archive/tar: invalid tar header")):
        with pytest.raises(sdk.errors.ImageLoadError) as e:
            client.images.load(garbage)
        assert str(e.value) == "Error processing tar file(exit status 1): " + text


@pytest.mark.skipif(not registry_mod.available(), reason="docker-registry (distribution) is not installed")
def test_push_and_pull_through_the_sdk(client, made):
    tmp = tempfile.mkdtemp(prefix="reg", dir="/tmp")
    reg = registry_mod.Registry(tmp).start()
    try:
        repo = f"{reg.host}/{uid('sdkp')}"
        made["images"].append(repo + ":v1")
        client.images.get("busybox").tag(repo, "v1")
        out = list(client.images.push(repo, tag="v1", stream=True, decode=True))
        assert out[0] == {"status": f"The push refers to repository [{repo}]"}
        assert out[-1]["aux"]["Tag"] == "v1" and out[-1]["aux"]["Size"] > 0
        text = client.images.push(repo, tag="nosuch")  # docker-py hands the stream back as text, error included
        assert text.endswith(f'"error":"tag does not exist: {repo}:nosuch"}}\r\n')
        client.images.remove(repo + ":v1")
        image = client.images.pull(repo, tag="v1")
        assert isinstance(image, sdk.models.images.Image) and repo + ":v1" in image.tags
        assert [repo + ":v1" in i.tags for i in client.images.pull(repo, all_tags=True)] == [True]
        with pytest.raises(sdk.errors.NotFound) as e:
            client.images.pull(repo, tag="nosuch")
        assert e.value.explanation == f"manifest for {repo}:nosuch not found: manifest unknown: manifest unknown"
        data = client.images.get_registry_data(repo + ":v1")
        assert data.id == out[-1]["aux"]["Digest"] and data.has_platform("linux/amd64")
        with pytest.raises(sdk.errors.NotFound):
            client.images.get_registry_data(repo + ":nosuch")
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- networks and volumes ------------------------------------------------------------------

def test_network_create_connect_disconnect(client, made, daemon):
    name = uid("sn")
    made["networks"].append(name)
    subnet = f"10.{int(daemon.subnet_prefix.split('.')[2])}.77.0/24"
    net = client.networks.create(name, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]),
                                 labels={"a": "b"}, internal=True, attachable=True)
    assert (net.attrs["Internal"], net.attrs["Attachable"], net.attrs["Labels"]) == (True, True, {"a": "b"})
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == subnet
    c = _run(client, made, ["sleep", "300"])
    ip = subnet.rsplit(".", 1)[0] + ".200"
    net.connect(c, aliases=["al1"], ipv4_address=ip)
    c.reload()
    net.reload()
    ep = c.attrs["NetworkSettings"]["Networks"][name]
    assert ep["IPAddress"] == ip and "al1" in ep["Aliases"] and [x.id for x in net.containers] == [c.id]
    with pytest.raises(sdk.errors.APIError) as e:
        net.connect(c)
    assert e.value.status_code == 403
    with pytest.raises(sdk.errors.APIError) as e:
        net.remove()
    assert e.value.status_code == 403 and "has active endpoints" in e.value.explanation
    net.disconnect(c, force=True)
    with pytest.raises(sdk.errors.NotFound):
        client.networks.get("nosuchnet")
    assert client.networks.prune(filters={"label": "nope"}) == {"NetworksDeleted": None}


def test_volume_create_get_remove(client, made):
    name = uid("sv")
    made["volumes"].append(name)
    v = client.volumes.create(name, driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, labels={"k": "v"})
    assert (v.attrs["Driver"], v.attrs["Labels"], v.attrs["Scope"]) == ("local", {"k": "v"}, "local")
    assert client.volumes.create(name).id == name
    assert name in [x.name for x in client.volumes.list(filters={"label": "k=v"})]
    with pytest.raises(sdk.errors.NotFound):
        client.volumes.get("nosuchvol")
    with pytest.raises(sdk.errors.APIError) as e:
        client.volumes.create(uid("sv"), driver_opts={"bogus": "x"})
    assert e.value.status_code == 400 and e.value.explanation.endswith('invalid option: "bogus"')
    c = _run(client, made, ["true"], volumes={name: {"bind": "/v"}})
    c.wait()
    with pytest.raises(sdk.errors.APIError) as e:
        v.remove(force=True)
    assert e.value.status_code == 409 and f"volume is in use - [{c.id}]" in e.value.explanation
    c.remove()
    v.remove()


# --- system --------------------------------------------------------------------------------

def test_events_until_alone_replays_the_buffer(client):
    """Docker replays its last 256 events when either since or until is given."""
    c = client.containers.run("busybox", ["true"], detach=True)
    c.wait()
    c.remove()
    until = time.time()
    ids = [e["Actor"]["ID"] for e in client.events(until=until, decode=True)]
    assert c.id in ids
    # Docker's events take any filter name (an unknown one filters nothing)
    assert c.id in [e["Actor"]["ID"] for e in client.events(until=until, decode=True, filters={"bogus": "x"})]
    r = client.api._get(client.api._url("/events"), params={"since": str(int(until)), "until": str(int(until) - 100)})
    assert r.status_code == 400 and r.json()["message"] == \
        f"`since` time ({int(until)}) cannot be after `until` time ({int(until) - 100})"


def test_system_calls(client):
    assert client.ping() is True
    version = client.version()
    assert {"Version", "ApiVersion", "Components"} <= set(version)
    assert "Experimental" not in version  # omitempty in moby's types.Version
    assert isinstance(client.info()["Containers"], int)
    df = client.df()
    assert {"LayersSize", "Images", "Containers", "Volumes"} <= set(df) and isinstance(df["Images"], list)
