"""`docker save` / `docker load` between this daemon and Docker's own dockerd, both ways.

Docker's dockerd (Debian's docker.io) is started by `contrib/reference-dockerd.sh` with
private paths, bridge and subnet, and stopped (by its pidfile's PID) at the end of the module.
"""

import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from types import SimpleNamespace

import pytest

from .conftest import DOCKER, inspect
from .test_image_layers import lower_layer, upper_layer
from .test_images import save_archive
from ..rootfs import rootfs_tar_bytes

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "reference-dockerd.sh")
REF_ENV = {"REF_DIR": "/run/dref-tests", "REF_DATA": "/var/lib/dref-tests", "REF_BRIDGE": "drtests"}


def _free_bip() -> str:
    """A 172.27.N.1/24 no route on this host uses (other reference daemons pick theirs there)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for n in range(150, 250):
        if f"172.27.{n}." not in routes:
            return f"172.27.{n}.1/24"
    raise RuntimeError("no free subnet for the reference dockerd")


@pytest.fixture(scope="module")
def reference():
    if not os.path.exists("/usr/sbin/dockerd"):
        pytest.skip("Docker's dockerd (/usr/sbin/dockerd, Debian's docker.io) is not installed")
    if os.geteuid() != 0:
        pytest.skip("the reference dockerd needs root")
    env = {**os.environ, **REF_ENV, "REF_BIP": _free_bip()}
    started = subprocess.run(["bash", SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=180)
    try:
        if started.returncode != 0:
            pytest.fail(f"reference dockerd did not start:\n{started.stderr}")
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        cli_env["DOCKER_HOST"] = f"unix://{REF_ENV['REF_DIR']}/docker.sock"
        yield SimpleNamespace(env=cli_env, log_tail=lambda: _tail(f"{REF_ENV['REF_DIR']}/dockerd.log"))
    finally:
        subprocess.run(["bash", SCRIPT, "stop"], env=env, capture_output=True, timeout=180)
        for scratch in (REF_ENV["REF_DIR"], REF_ENV["REF_DATA"]):  # stop keeps them for a next start
            shutil.rmtree(scratch, ignore_errors=True)


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-30:])
    except OSError:
        return ""


def ref(reference, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([DOCKER, *args], input=input, capture_output=True, env=reference.env, timeout=120)
    assert proc.returncode == 0, f"reference docker {' '.join(args)}: {proc.stderr.decode()}\n{reference.log_tail()}"
    return proc


def saved(run, *names: str) -> bytes:
    """`docker save -o` through `run` (a daemon's CLI): the archive bytes."""
    path = f"/tmp/dpysave-{uuid.uuid4().hex[:8]}.tar"
    try:
        run("save", "-o", path, *names)
        with open(path, "rb") as f:
            return f.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)


def layer_blobs(archive: bytes, tag: str) -> list[bytes]:
    """The layers of the image `tag` in a `docker save` archive."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        item = next(i for i in manifest if tag in (i.get("RepoTags") or []))
        return [tar.extractfile(p).read() for p in item["Layers"]]


def identity(data: dict) -> tuple[str, list[str], list[str]]:
    return data["Id"], sorted(data["RepoTags"]), data["RootFS"]["Layers"]


def test_save_here_loads_into_dockers_dockerd(daemon, cli, reference):
    repo = "toref" + uuid.uuid4().hex[:6]
    archive, image_id = save_archive([rootfs_tar_bytes(), lower_layer(), upper_layer()], f"{repo}:v1",
                                     {"Cmd": ["sh"]})
    cli("load", input=archive)
    cli("tag", f"{repo}:v1", f"{repo}:v2")
    ours = inspect(daemon, f"{repo}:v1")
    out = saved(lambda *a: cli(*a), f"{repo}:v1", f"{repo}:v2")
    try:
        loaded = ref(reference, "load", input=out).stdout.decode()
        assert f"Loaded image: {repo}:v1" in loaded and f"Loaded image: {repo}:v2" in loaded
        theirs = json.loads(ref(reference, "image", "inspect", f"{repo}:v1").stdout)[0]
        assert identity(theirs) == identity(ours) and theirs["Id"] == image_id
        script = "ls /opq /a; ls / | grep -c '^del.txt$'; stat -c '%h %a %u:%g %Y' /hl/link /suid /own"
        there = ref(reference, "run", "--rm", "--network", "none", f"{repo}:v1", "sh", "-c", script).stdout.decode()
        assert there == cli("run", "--rm", f"{repo}:v1", "sh", "-c", script).stdout
        assert there.split("\n")[:6] == ["/a:", "keep", "", "/opq:", "new", "0"]
        assert layer_blobs(saved(lambda *a: ref(reference, *a), f"{repo}:v1"), f"{repo}:v1") == \
            layer_blobs(out, f"{repo}:v1")
    finally:
        subprocess.run([DOCKER, "rmi", "-f", f"{repo}:v1", f"{repo}:v2"], env=reference.env, capture_output=True)
        cli("rmi", f"{repo}:v1", f"{repo}:v2")


def test_dockers_save_loads_here(daemon, cli, reference, container_cleanup):
    repo = "fromref" + uuid.uuid4().hex[:6]
    name = "c" + repo
    ref(reference, "run", "--name", name, "--network", "none", "busybox", "sh", "-c",
        "rm /etc/group; mkdir -p /data/sub; echo hi > /data/sub/f; ln /data/sub/f /data/hard; "
        "mkfifo /data/fifo; chmod 4711 /data/sub/f; chown 7:8 /data/hard")
    try:
        ref(reference, "commit", "-c", "CMD cat /data/sub/f", name, f"{repo}:one")
        ref(reference, "tag", f"{repo}:one", f"{repo}:two")
        ref(reference, "tag", "busybox:latest", f"{repo}:base")  # shares the first layer: a symlinked layer.tar
        theirs = json.loads(ref(reference, "image", "inspect", f"{repo}:one").stdout)[0]
        base = json.loads(ref(reference, "image", "inspect", f"{repo}:base").stdout)[0]
        archive = saved(lambda *a: ref(reference, *a), f"{repo}:one", f"{repo}:two", f"{repo}:base")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:  # manifest.json's order is Docker's map order
            entry = next(e for e in json.load(tar.extractfile("manifest.json")) if f"{repo}:one" in e["RepoTags"])
            assert "etc/.wh.group" in tarfile.open(fileobj=tar.extractfile(entry["Layers"][-1])).getnames()
        out = cli("load", input=archive).stdout
        assert f"Loaded image: {repo}:one" in out and f"Loaded image: {repo}:two" in out
        assert identity(inspect(daemon, f"{repo}:two")) == identity(theirs)
        ours_base = inspect(daemon, f"{repo}:base")
        assert (ours_base["Id"], ours_base["RootFS"]) == (base["Id"], base["RootFS"])
        assert ours_base["RepoTags"] == [f"{repo}:base"]  # only the name saved
        assert cli("run", "--rm", f"{repo}:one").stdout == "hi\n"
        script = "test -e /etc/group && echo present; stat -c '%n %h %a %u:%g %F %Y' /data/hard /data/fifo"
        seen = cli("run", "--rm", f"{repo}:one", "sh", "-c", script).stdout
        assert seen == ref(reference, "run", "--rm", "--network", "none", f"{repo}:one", "sh", "-c", script).stdout.decode()
        assert [line.rsplit(" ", 1)[0] for line in seen.splitlines()] == [
            "/data/hard 2 711 7:8 regular file", "/data/fifo 1 644 0:0 fifo"]  # chown cleared the setuid bit
        again = saved(lambda *a: cli(*a), f"{repo}:one")
        assert layer_blobs(again, f"{repo}:one") == layer_blobs(archive, f"{repo}:one")
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], env=reference.env, capture_output=True)
        subprocess.run([DOCKER, "rmi", "-f", f"{repo}:one", f"{repo}:two", f"{repo}:base"], env=reference.env,
                       capture_output=True)
        cli("rmi", "-f", f"{repo}:one", f"{repo}:two", f"{repo}:base", check=False)


def test_debian_image_made_here_round_trips_through_dockers_dockerd(daemon, cli, reference):
    from .test_image_layers import debian_rootfs_tar, saved_layers

    repo = "debref" + uuid.uuid4().hex[:6]
    with open(debian_rootfs_tar(), "rb") as f:
        image_id = cli("import", "-", f"{repo}:12", input=f.read(), timeout=300).stdout.strip()
    try:
        out = saved(lambda *a: cli(*a), f"{repo}:12")
        assert f"Loaded image: {repo}:12" in ref(reference, "load", input=out).stdout.decode()
        theirs = json.loads(ref(reference, "image", "inspect", f"{repo}:12").stdout)[0]
        assert theirs["Id"] == image_id and theirs["Size"] == inspect(daemon, f"{repo}:12")["Size"]
        version = ref(reference, "run", "--rm", "--network", "none", f"{repo}:12", "cat", "/etc/debian_version")
        assert version.stdout.decode().startswith("12.")
        back = saved(lambda *a: ref(reference, *a), f"{repo}:12")
        assert saved_layers(back) == saved_layers(out)
    finally:
        subprocess.run([DOCKER, "rmi", "-f", f"{repo}:12"], env=reference.env, capture_output=True)
        cli("rmi", "-f", f"{repo}:12", check=False)
