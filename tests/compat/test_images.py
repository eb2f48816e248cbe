"""Just enough images to run: import, load of a `docker save` archive, list, inspect, tag, rmi."""

import hashlib
import io
import json
import tarfile
import uuid

from .conftest import inspect
from ..rootfs import rootfs_tar_bytes


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def save_archive(layers: list[bytes], repo_tag: str, config_extra: dict) -> tuple[bytes, str]:
    """A `docker save` archive in Docker 25+'s layout (manifest.json + OCI blobs); returns it and the image ID."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], **config_extra},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))]}
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    files = {f"blobs/sha256/{config_digest}": config_bytes}
    layer_paths = []
    for layer in layers:
        digest = hashlib.sha256(layer).hexdigest()
        files[f"blobs/sha256/{digest}"] = layer
        layer_paths.append(f"blobs/sha256/{digest}")
    files["manifest.json"] = json.dumps([{"Config": f"blobs/sha256/{config_digest}", "RepoTags": [repo_tag],
                                          "Layers": layer_paths}]).encode()
    files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    return _tar(files), "sha256:" + config_digest


def test_import_with_changes(daemon, cli):
    repo = "imp" + uuid.uuid4().hex[:8]
    out = cli("import", "--change", "ENV GREETING=hello", "--change", "WORKDIR /root", "--change", 'CMD ["sh","-c","echo $GREETING from $(pwd)"]',
              "-", f"{repo}:v1", input=rootfs_tar_bytes())
    image_id = out.stdout.strip()
    assert image_id.startswith("sha256:")
    data = inspect(daemon, f"{repo}:v1")
    assert data["Id"] == image_id and data["RepoTags"] == [f"{repo}:v1"]
    assert data["Config"]["WorkingDir"] == "/root" and "GREETING=hello" in data["Config"]["Env"]
    assert cli("run", "--rm", f"{repo}:v1").stdout == "hello from /root\n"
    cli("rmi", f"{repo}:v1")


def test_load_docker_save_archive_keeps_the_image_id(daemon, cli):
    repo = "load" + uuid.uuid4().hex[:8]
    extra = _tar({"etc/motd": b"loaded layer\n"})
    archive, image_id = save_archive([rootfs_tar_bytes(), extra], f"{repo}:latest", {"Cmd": ["cat", "/etc/motd"]})
    out = cli("load", input=archive)
    assert f"Loaded image: {repo}:latest" in out.stdout
    data = inspect(daemon, repo)
    assert data["Id"] == image_id
    assert len(data["RootFS"]["Layers"]) == 2
    assert cli("run", "--rm", repo).stdout == "loaded layer\n"
    listed = cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert f"{repo}:latest {image_id[7:19]}" in listed
    cli("rmi", repo)


def test_tag_and_rmi_untag_then_delete(daemon, cli):
    repo = "tag" + uuid.uuid4().hex[:8]
    cli("import", "-", f"{repo}:a", input=rootfs_tar_bytes())
    cli("tag", f"{repo}:a", f"{repo}:b")
    assert inspect(daemon, f"{repo}:a")["Id"] == inspect(daemon, f"{repo}:b")["Id"]
    out = cli("rmi", f"{repo}:a").stdout
    assert f"Untagged: {repo}:a" in out and "Deleted" not in out
    out = cli("rmi", f"{repo}:b").stdout
    assert f"Untagged: {repo}:b" in out and "Deleted: sha256:" in out


def test_rmi_of_image_in_use_is_409(daemon, cli, container_cleanup):
    repo = "use" + uuid.uuid4().hex[:8]
    cli("import", "-", repo, input=rootfs_tar_bytes())
    cid = cli("create", repo, "true").stdout.strip()
    container_cleanup.append(cid)
    image_id = inspect(daemon, repo)["Id"]
    out = cli("rmi", image_id, check=False)
    assert out.returncode != 0 and "conflict: unable to delete" in out.stderr and "must be forced" in out.stderr
    cli("rm", cid)
    cli("rmi", repo)


def test_inspect_unknown_image_is_404(cli):
    out = cli("image", "inspect", "nosuch:tag", check=False)
    assert out.returncode != 0 and "No such image: nosuch:tag" in out.stderr


def test_invalid_reference_is_400(client):
    import docker as sdk
    import pytest

    with pytest.raises(sdk.errors.APIError) as e:
        client.api.tag("busybox", "Busybox", "x")  # (UPPER/case is valid: UPPER is a registry host)
    assert e.value.status_code == 400 and "invalid reference format" in str(e.value)


def test_image_prune_and_system_df(daemon, cli, container_cleanup):
    repo = "pr" + uuid.uuid4().hex[:8]
    kept = "kp" + uuid.uuid4().hex[:8]
    cli("import", "-", f"{repo}:old", input=rootfs_tar_bytes())
    old_id = inspect(daemon, f"{repo}:old")["Id"]
    cli("tag", f"{repo}:old", f"{repo}:x")
    cli("rmi", f"{repo}:old")
    cli("import", "--change", "LABEL v=2", "-", f"{repo}:x", input=rootfs_tar_bytes())  # moves the tag: old is dangling
    cli("import", "--change", "LABEL v=2", "-", kept, input=rootfs_tar_bytes())
    cid = cli("create", kept, "true").stdout.strip()
    container_cleanup.append(cid)
    df = cli("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").stdout.splitlines()
    images_line = next(line for line in df if line.startswith("Images"))
    assert int(images_line.split()[1]) >= 3 and int(images_line.split()[2]) >= 1
    out = cli("image", "prune", "-f").stdout
    assert f"deleted: {old_id}" in out
    assert cli("image", "inspect", old_id, check=False).returncode != 0
    # (the label keeps the suite's own busybox out of this prune -a)
    out = cli("image", "prune", "-a", "-f", "--filter", "label=v=2").stdout
    assert cli("image", "inspect", f"{repo}:x", check=False).returncode != 0  # unused: removed with -a
    assert cli("image", "inspect", kept).returncode == 0  # a container still uses it
    assert "Total reclaimed space" in out
