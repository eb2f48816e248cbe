"""The vfs storage driver: a second daemon started with `--storage-driver vfs`."""

import io
import json
import os
import tarfile
import uuid

import pytest

from .conftest import docker, inspect, private_daemon
from .test_image_layers import MTIME, lower_layer, saved_layers, subprocess_bytes, upper_layer
from .test_images import save_archive
from ..rootfs import rootfs_tar_bytes


@pytest.fixture(scope="module")
def vfs_daemon():
    with private_daemon("v", args=("--storage-driver", "vfs")) as d:
        yield d


def vcli(d, *args, **kw):
    return docker(d, *args, **kw)


def test_info_and_inspect_name_the_driver_and_layers_are_full_copies(vfs_daemon):
    info = json.loads(vcli(vfs_daemon, "info", "--format", "{{json .}}").stdout)
    assert (info["Driver"], info["DriverStatus"]) == ("vfs", None)  # moby's vfs reports no status
    image = inspect(vfs_daemon, "busybox")
    assert image["GraphDriver"] == {"Data": None, "Name": "vfs"}
    dirs = os.listdir(os.path.join(vfs_daemon.root, "data", "vfs", "dir"))
    assert len(dirs) == 1 and os.path.exists(os.path.join(vfs_daemon.root, "data", "vfs", "dir", dirs[0], "bin/busybox"))
    assert os.path.isdir(os.path.join(vfs_daemon.root, "data", "image", "vfs", "layerdb"))
    assert not os.path.exists(os.path.join(vfs_daemon.root, "data", "overlay2"))


def test_container_runs_on_a_copy_and_diff_export_see_its_changes(vfs_daemon):
    name = "v" + uuid.uuid4().hex[:8]
    out = vcli(vfs_daemon, "run", "--name", name, "busybox", "sh", "-c",
               "echo hi > /root/new; rm /etc/group; echo x >> /etc/passwd; grep -c overlay /proc/mounts; cat /root/new; wc -c < /etc/passwd").stdout
    try:
        overlays, hi, passwd_size = out.split()
        assert (overlays, hi) == ("0", "hi")
        data = inspect(vfs_daemon, name)
        assert data["GraphDriver"] == {"Data": None, "Name": "vfs"}
        diff = vcli(vfs_daemon, "diff", name).stdout.splitlines()
        assert diff == ["C /etc", "D /etc/group", "C /etc/passwd", "C /root", "A /root/new"]
        exported = subprocess_bytes(lambda *a: vcli(vfs_daemon, *a), "export", name)
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            names = tar.getnames()
            assert tar.extractfile("root/new").read() == b"hi\n"
        assert "etc/group" not in names and "bin/busybox" in names
        size = vcli(vfs_daemon, "ps", "-a", "-s", "--filter", f"name={name}", "--format", "{{.Size}}").stdout
        assert size.startswith(f"{3 + int(passwd_size)}B "), size  # the added and the modified file
    finally:
        vcli(vfs_daemon, "rm", "-f", name)
    assert len(os.listdir(os.path.join(vfs_daemon.root, "data", "vfs", "dir"))) == 1


def test_layers_with_whiteouts_unpack_onto_copies(vfs_daemon):
    repo = "vl" + uuid.uuid4().hex[:8]
    layers = [rootfs_tar_bytes(), lower_layer(), upper_layer()]
    archive, image_id = save_archive(layers, f"{repo}:latest", {"Cmd": ["sh"]})
    vcli(vfs_daemon, "load", input=archive)
    try:
        script = ("ls /; echo --; ls /a; echo --; ls /opq; echo --; stat -c '%h' /hl/link; "
                  "stat -c '%F %t %T' /devs/mynull; stat -c '%a %u %g %Y' /suid /own")
        root, a, opq, rest = vcli(vfs_daemon, "run", "--rm", repo, "sh", "-c", script).stdout.split("--\n")
        assert "del.txt" not in root.split() and a.split() == ["keep"] and opq.split() == ["new"]
        assert rest.splitlines() == ["2", "character special file 1 3", f"4755 0 0 {MTIME}", f"600 1234 5678 {MTIME}"]
        top = sorted(os.listdir(os.path.join(vfs_daemon.root, "data", "vfs", "dir")))
        assert len(top) == 3  # busybox's layer (shared), and this image's two others (full copies)
        saved = subprocess_bytes(lambda *a: vcli(vfs_daemon, *a), "save", repo)
        with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
            assert [tar.extractfile(p).read() for p in manifest[0]["Layers"]] == layers
    finally:
        vcli(vfs_daemon, "rmi", repo)


def test_save_load_round_trips_the_image_id_between_vfs_and_overlay2(vfs_daemon, daemon, cli):
    repo = "vr" + uuid.uuid4().hex[:8]
    name = "v" + uuid.uuid4().hex[:8]
    vcli(vfs_daemon, "run", "--name", name, "busybox", "sh", "-c", "rm /etc/passwd; mkdir /d; echo x > /d/f")
    try:
        vcli(vfs_daemon, "commit", name, f"{repo}:c")
        seen = vcli(vfs_daemon, "run", "--rm", f"{repo}:c", "sh", "-c", "ls /etc/passwd; cat /d/f", check=False)
        assert seen.stdout == "x\n" and "No such file" in seen.stderr, seen
        image_id = inspect(vfs_daemon, f"{repo}:c")["Id"]
        saved = subprocess_bytes(lambda *a: vcli(vfs_daemon, *a), "save", f"{repo}:c")
        vcli(vfs_daemon, "rmi", f"{repo}:c")
        assert vcli(vfs_daemon, "load", input=saved).stdout == f"Loaded image: {repo}:c\n"
        assert inspect(vfs_daemon, f"{repo}:c")["Id"] == image_id
        cli("load", input=saved)
        assert inspect(daemon, f"{repo}:c")["Id"] == image_id
        assert saved_layers(subprocess_bytes(cli, "save", f"{repo}:c")) == saved_layers(saved)
    finally:
        vcli(vfs_daemon, "rm", "-f", name)
        vcli(vfs_daemon, "rmi", "-f", f"{repo}:c", check=False)
        cli("rmi", "-f", f"{repo}:c", check=False)


def test_images_and_containers_survive_a_restart(vfs_daemon):
    name = "v" + uuid.uuid4().hex[:8]
    vcli(vfs_daemon, "create", "--name", name, "busybox", "sh", "-c", "echo kept > /k; cat /k")
    before = vcli(vfs_daemon, "images", "-q", "--no-trunc").stdout
    vfs_daemon.stop()
    vfs_daemon.start()
    try:
        assert vcli(vfs_daemon, "images", "-q", "--no-trunc").stdout == before
        assert vcli(vfs_daemon, "start", "-a", name).stdout == "kept\n"
        assert vcli(vfs_daemon, "diff", name).stdout.splitlines() == ["A /k"]
    finally:
        vcli(vfs_daemon, "rm", "-f", name)


def test_build_runs_and_copies_on_vfs(vfs_daemon, tmp_path):
    """RUN and COPY steps commit their changes through the driver's view of a layer's changes."""
    tag = "vb" + uuid.uuid4().hex[:8]
    (tmp_path / "f").write_text("copied\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo ran > /r && rm /etc/group\nCOPY f /f\n")
    try:
        vcli(vfs_daemon, "build", "-q", "-t", tag, str(tmp_path))
        out = vcli(vfs_daemon, "run", "--rm", tag, "sh", "-c", "cat /r /f; ls /etc/group", check=False)
        assert out.stdout == "ran\ncopied\n" and "No such file" in out.stderr
    finally:
        vcli(vfs_daemon, "rmi", "-f", tag, check=False)
