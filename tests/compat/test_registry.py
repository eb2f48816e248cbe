"""Distribution against a real registry (Debian's docker-registry): push, pull, login, inspect.

Two registries per session on 127.0.0.1 (insecure by default, as in Docker):
one open, one asking for htpasswd credentials.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
import uuid

import pytest

from .. import registry as registry_mod
from ..rootfs import rootfs_tar_bytes
from .conftest import TEST_HUB, docker, inspect, private_daemon
from .test_events import events_between
from .test_images import _tar, save_archive
from .test_system import raw_request

pytestmark = pytest.mark.skipif(not registry_mod.available(),
                                reason="docker-registry and htpasswd are needed (contrib/setup.sh installs them)")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def _start(auth: bool, token: bool = False, bind: str = "127.0.0.1"):
    tmp = tempfile.mkdtemp(prefix="reg", dir="/tmp")
    reg = registry_mod.Registry(tmp, auth=auth, token=token, bind=bind).start()
    try:
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def reg():
    yield from _start(auth=False)


@pytest.fixture(scope="session")
def auth_reg():
    yield from _start(auth=True)


@pytest.fixture(scope="session")
def token_reg():
    yield from _start(auth=False, token=True)


def _name(reg, prefix: str) -> str:
    return f"{reg.host}/{prefix}{uuid.uuid4().hex[:8]}"


def _layers_on_disk(daemon) -> set[str]:
    return set(os.listdir(os.path.join(daemon.root, "data", "image", "overlay2", "layerdb", "sha256")))


def _three_layer_image(cli, repo: str) -> str:
    """busybox + two layers (a file each, and a whiteout of the first one's file), loaded from an archive."""
    second = _tar({"data/a.txt": b"layer two\n", "data/keep.txt": b"kept\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in {"data/b.txt": b"layer three\n", "data/.wh.a.txt": b""}.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    archive, image_id = save_archive([rootfs_tar_bytes(), second, buf.getvalue()], f"{repo}:latest",
                                     {"Cmd": ["sh"]})
    cli("load", input=archive)
    return image_id


def test_push_rmi_pull_gives_the_same_image(daemon, cli, reg, container_cleanup):
    repo = _name(reg, "three")
    image_id = _three_layer_image(cli, repo)
    out = cli("push", f"{repo}:latest").stdout
    assert f"The push refers to repository [{repo}]" in out
    assert out.count("Pushed") == 3
    line = [ln for ln in out.splitlines() if ln.startswith("latest: digest: ")][0]
    digest = line.split()[2]
    assert line == f"latest: digest: {digest} size: {len(reg.manifest(repo.split('/', 1)[1], 'latest'))}"
    assert inspect(daemon, repo)["RepoDigests"] == [f"{repo}@{digest}"]

    before = _layers_on_disk(daemon)
    cli("rmi", f"{repo}:latest")
    out = cli("pull", f"{repo}:latest").stdout
    assert "latest: Pulling from " + repo.split("/", 1)[1] in out
    assert "Already exists" in out          # busybox's layer is shared with the test image
    assert out.count("Pull complete") == 2
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {repo}:latest" in out
    data = inspect(daemon, repo)
    assert data["Id"] == image_id
    assert data["RepoTags"] == [f"{repo}:latest"] and data["RepoDigests"] == [f"{repo}@{digest}"]
    assert _layers_on_disk(daemon) >= before
    assert cli("run", "--rm", repo, "sh", "-c", "ls /data; cat /data/b.txt").stdout == \
        "b.txt\nkeep.txt\nlayer three\n"

    again = cli("pull", f"{repo}:latest").stdout
    assert f"Status: Image is up to date for {repo}:latest" in again and "Pull complete" not in again
    # what the pull recorded lets the push skip every blob
    assert cli("push", f"{repo}:latest").stdout.count("Layer already exists") == 3
    cli("rmi", repo)


def test_pull_by_digest_and_cross_repository_mount(daemon, cli, reg):
    repo, other = _name(reg, "bb"), _name(reg, "mnt")
    cli("tag", "busybox:latest", f"{repo}:1")
    digest = cli("push", f"{repo}:1").stdout.split("1: digest: ")[1].split()[0]
    cli("tag", "busybox:latest", f"{other}:1")
    out = cli("push", f"{other}:1").stdout
    assert "Mounted from " + repo.split("/", 1)[1] in out
    assert f"1: digest: {digest} size: " in out      # the same manifest, byte for byte
    cli("rmi", f"{repo}:1", f"{other}:1")
    since = time.time()
    out = cli("pull", f"{repo}@{digest}").stdout
    events = events_between(daemon, since, time.time() + 0.01, "--filter", "type=image")
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in events] == \
        [("pull", f"{repo}@{digest}", repo)]
    assert f"Status: Downloaded newer image for {repo}@{digest}" in out
    data = inspect(daemon, f"{repo}@{digest}")
    assert data["Id"] == inspect(daemon, "busybox")["Id"]
    assert data["RepoDigests"] == [f"{repo}@{digest}"] and data["RepoTags"] == ["busybox:latest"]
    cli("rmi", f"{repo}@{digest}")


def test_pull_all_tags(daemon, cli, reg):
    repo = _name(reg, "all")
    for tag in ("a", "b"):
        cli("tag", "busybox:latest", f"{repo}:{tag}")
        cli("push", f"{repo}:{tag}")
        cli("rmi", f"{repo}:{tag}")
    out = cli("pull", "--all-tags", repo).stdout
    assert "a: Pulling from" in out and "b: Pulling from" in out
    assert f"Status: Downloaded newer image for {repo}\n" in out
    assert sorted(inspect(daemon, f"{repo}:a")["RepoTags"]) == sorted(["busybox:latest", f"{repo}:a", f"{repo}:b"])
    assert f"Status: Image is up to date for {repo}" in cli("pull", "-a", repo).stdout
    cli("rmi", f"{repo}:a", f"{repo}:b")


def test_pull_of_a_missing_tag_is_docker_404(cli, client, reg):
    import docker

    repo = _name(reg, "none")
    out = cli("pull", f"{repo}:nope", check=False)
    assert out.returncode == 1
    assert (f"manifest for {repo}:nope not found: manifest unknown: manifest unknown") in out.stderr
    with pytest.raises(docker.errors.NotFound):
        client.images.pull(repo, tag="nope")


def test_pull_progress_messages(daemon, client, cli, reg):
    repo = _name(reg, "prog")
    layer = _tar({"blob.bin": os.urandom(3 << 20)})
    archive, image_id = save_archive([rootfs_tar_bytes(), layer], f"{repo}:p", {"Cmd": ["sh"]})
    cli("load", input=archive)
    cli("push", f"{repo}:p")
    cli("rmi", f"{repo}:p")
    messages = list(client.api.pull(repo, tag="p", stream=True, decode=True))
    statuses = [m.get("status", "") for m in messages]
    assert statuses[0] == "Pulling from " + repo.split("/", 1)[1] and messages[0]["id"] == "p"
    for word in ("Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting",
                 "Pull complete"):
        assert word in statuses, word
    downloading = [m for m in messages if m.get("status") == "Downloading"]
    assert downloading[-1]["progressDetail"]["current"] == downloading[-1]["progressDetail"]["total"]
    assert downloading[-1]["progress"].startswith("[=") and len(downloading[-1]["id"]) == 12
    extracting = [m for m in messages if m.get("status") == "Extracting"]
    assert extracting[-1]["progressDetail"]["current"] == extracting[-1]["progressDetail"]["total"]
    assert len(extracting) >= 2 and extracting[0]["progressDetail"]["current"] < extracting[0]["progressDetail"]["total"]
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    assert statuses[-1] == f"Status: Downloaded newer image for {repo}:p"
    assert not any("error" in m for m in messages)
    assert inspect(daemon, f"{repo}:p")["Id"] == image_id
    cli("rmi", f"{repo}:p")


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _oci_image(reg, repo: str, layers: list[tuple[bytes, bytes, str]], arch: str) -> tuple[dict, str]:
    """Blobs of an OCI image: layers as (tar, blob, media type); returns its index entry and image id."""
    descs = []
    for tar, blob, media in layers:
        descs.append({"mediaType": media, "digest": reg.put_blob(repo, blob), "size": len(blob)})
    config = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t, _, _ in layers]}}
    raw = json.dumps(config).encode()
    config_digest = reg.put_blob(repo, raw)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(raw)}, "layers": descs}
    digest, size = reg.put_manifest(repo, f"only-{arch}", manifest, OCI_MANIFEST)
    entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
             "platform": {"architecture": arch, "os": "linux", **({"variant": "v8"} if arch == "arm64" else {})}}
    return entry, config_digest


def test_oci_index_zstd_and_platform_selection(daemon, cli, client, reg):
    repo = _name(reg, "oci")
    path = repo.split("/", 1)[1]
    base = rootfs_tar_bytes()
    hello = _tar({"hello.txt": b"zstd and plain layers\n"})
    amd, amd_id = _oci_image(reg, path, [(base, _zstd(base), "application/vnd.oci.image.layer.v1.tar+zstd"),
                                         (hello, hello, "application/vnd.oci.image.layer.v1.tar")], "amd64")
    arm_layer = _tar({"arch.txt": b"arm64\n"})
    arm, arm_id = _oci_image(reg, path, [(arm_layer, gzip.compress(arm_layer),
                                          "application/vnd.oci.image.layer.v1.tar+gzip")], "arm64")
    index_digest, _ = reg.put_manifest(path, "multi", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                       "manifests": [arm, amd]}, OCI_INDEX)
    out = cli("pull", f"{repo}:multi").stdout
    assert f"Digest: {index_digest}" in out
    data = inspect(daemon, f"{repo}:multi")
    assert data["Id"] == amd_id and data["RepoDigests"] == [f"{repo}@{index_digest}"]
    assert cli("run", "--rm", f"{repo}:multi", "cat", "/hello.txt").stdout == "zstd and plain layers\n"

    cli("pull", "--platform", "linux/arm64", f"{repo}:multi")
    data = inspect(daemon, f"{repo}:multi")
    assert data["Id"] == arm_id and data["Architecture"] == "arm64"

    out = cli("pull", "--platform", "linux/arm64", f"{repo}:only-amd64").stdout   # one platform: pulled, with a warning
    assert (f"WARNING: image with reference {repo}:only-amd64 was found but does not match the specified platform: "
            "wanted linux/arm64/v8, actual: linux/amd64") in out
    assert inspect(daemon, f"{repo}:only-amd64")["Id"] == amd_id

    artifact = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": amd_id, "size": 1},
                "layers": []}
    reg.put_manifest(path, "chart", artifact, OCI_MANIFEST)
    out = cli("pull", f"{repo}:chart", check=False)
    assert out.returncode == 1
    assert 'Encountered remote "application/vnd.cncf.helm.config.v1+json"(unknown) when fetching' in out.stderr

    out = cli("pull", "--platform", "linux/s390x", f"{repo}:multi", check=False)
    assert out.returncode == 1 and "no matching manifest for linux/s390x in the manifest list entries" in out.stderr

    info = client.api.inspect_distribution(f"{repo}:multi")
    assert info["Descriptor"] == {"mediaType": OCI_INDEX, "digest": index_digest, "size": info["Descriptor"]["size"]}
    assert {"architecture": "amd64", "os": "linux"} in info["Platforms"]
    assert {"architecture": "arm64", "os": "linux", "variant": "v8"} in info["Platforms"]
    cli("rmi", amd_id, arm_id)


def test_failed_pull_leaves_the_store_as_it_was(daemon, cli, reg):
    repo = _name(reg, "bad")
    path = repo.split("/", 1)[1]
    good = _tar({"x.txt": b"fine\n"})
    liar = _tar({"y.txt": b"not what the config says\n"})
    # the config's second diff id does not match the second layer's content
    layers = [(good, gzip.compress(good), "application/vnd.oci.image.layer.v1.tar+gzip"),
              (good + b"\0" * 512, gzip.compress(liar), "application/vnd.oci.image.layer.v1.tar+gzip")]
    entry, _ = _oci_image(reg, path, layers, "amd64")
    reg.put_manifest(path, "broken", json.loads(reg.manifest(path, entry["digest"])), OCI_MANIFEST)
    layers_before = _layers_on_disk(daemon)
    images_before = cli("images", "-aq", "--no-trunc").stdout
    out = cli("pull", f"{repo}:broken", check=False)
    assert out.returncode == 1 and "invalid diffID for layer 1" in out.stderr
    assert cli("images", "-aq", "--no-trunc").stdout == images_before
    assert _layers_on_disk(daemon) == layers_before
    assert not [n for n in os.listdir(os.path.join(daemon.root, "data", "tmp")) if n.startswith("pull-")]


def test_interrupted_pull_leaves_nothing(daemon, cli, reg):
    repo = _name(reg, "cut")
    # the first layer is bigger than one upload chunk (16 MiB): pushed in PATCH chunks
    layers = [_tar({f"f{i}.bin": os.urandom(size << 20)}) for i, size in enumerate((20, 8, 8))]
    archive, image_id = save_archive(layers, f"{repo}:big", {})
    cli("load", input=archive)
    cli("push", f"{repo}:big")
    cli("rmi", f"{repo}:big")
    layers_before = _layers_on_disk(daemon)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(daemon.socket_path)
    s.sendall(f"POST /v1.47/images/create?fromImage={repo}&tag=big HTTP/1.1\r\nHost: x\r\n"
              "Content-Length: 0\r\n\r\n".encode())
    seen = b""
    while b'"Downloading"' not in seen:   # its blob files exist now: they must go
        seen += s.recv(4096)
    s.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tmp = [n for n in os.listdir(os.path.join(daemon.root, "data", "tmp")) if n.startswith("pull-")]
        if not tmp and _layers_on_disk(daemon) == layers_before:
            break
        time.sleep(0.2)
    assert _layers_on_disk(daemon) == layers_before
    assert image_id not in cli("images", "-aq", "--no-trunc").stdout
    assert not [n for n in os.listdir(os.path.join(daemon.root, "data", "tmp")) if n.startswith("pull-")]


def test_broken_upload_and_download_are_retried(daemon, cli, reg):
    proxy = registry_mod.CuttingProxy(reg.port)
    try:
        repo = f"{proxy.host}/retry{uuid.uuid4().hex[:8]}"
        archive, image_id = save_archive([_tar({"r.bin": os.urandom(4 << 20)})], f"{repo}:1", {})
        cli("load", input=archive)
        proxy.cut_upload_after = 1 << 20     # the upload breaks after 1 MiB: pushed again
        out = cli("push", f"{repo}:1").stdout
        assert proxy.cuts == 1 and "Retrying in 5 seconds" in out and "Pushed" in out
        cli("rmi", f"{repo}:1")
        layer = json.loads(reg.manifest(repo.split("/", 1)[1], "1"))["layers"][0]["digest"]
        proxy.cut_after, proxy.cut_digest = 1 << 20, layer     # the layer's connection breaks after 1 MiB
        out = cli("pull", f"{repo}:1").stdout
        assert proxy.cuts == 2 and proxy.ranged == 1          # resumed where it broke
        assert "Retrying in 5 seconds" in out and "Pull complete" in out
        assert inspect(daemon, f"{repo}:1")["Id"] == image_id
        cli("rmi", f"{repo}:1")
    finally:
        proxy.close()


def test_concurrent_pulls_fetch_a_shared_layer_once(daemon, cli, reg):
    import threading

    proxy = registry_mod.CuttingProxy(reg.port)
    try:
        base = _tar({"base.bin": os.urandom(6 << 20)})
        repos, ids = [], []
        for name in ("one", "two"):
            repo = f"{proxy.host}/{name}{uuid.uuid4().hex[:8]}"
            archive, image_id = save_archive([base, _tar({f"{name}.txt": name.encode()})], f"{repo}:1", {})
            cli("load", input=archive)
            cli("push", f"{repo}:1")
            repos.append(repo)
            ids.append(image_id)
        cli("rmi", *(f"{r}:1" for r in repos))
        base_blob = json.loads(reg.manifest(repos[0].split("/", 1)[1], "1"))["layers"][0]["digest"]
        proxy.blob_gets.clear()
        proxy.slow = 0.01                     # ~1 s per blob: the two pulls overlap
        outs: dict[str, str] = {}
        threads = [threading.Thread(target=lambda r=r: outs.__setitem__(r, cli("pull", f"{r}:1").stdout))
                   for r in repos]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all("Status: Downloaded newer image" in outs[r] for r in repos)
        assert proxy.blob_gets[base_blob] == 1
        assert [inspect(daemon, f"{r}:1")["Id"] for r in repos] == ids
        assert not [n for n in os.listdir(os.path.join(daemon.root, "data", "tmp")) if n.startswith("pull-")]
        cli("rmi", *(f"{r}:1" for r in repos))
    finally:
        proxy.close()


def test_login_push_pull_with_htpasswd(daemon, cli, auth_reg):
    repo = _name(auth_reg, "priv")
    cli("tag", "busybox:latest", f"{repo}:1")
    out = cli("push", f"{repo}:1", check=False)
    assert out.returncode == 1 and out.stderr.strip() == "no basic auth credentials"     # Docker's words

    bad = cli("login", auth_reg.host, "-u", registry_mod.USER, "--password-stdin", input="wrong", check=False)
    assert bad.returncode == 1
    assert f"login attempt to http://{auth_reg.host}/v2/ failed with status: 401 Unauthorized" in bad.stderr

    good = cli("login", auth_reg.host, "-u", registry_mod.USER, "--password-stdin", input=registry_mod.PASSWORD)
    assert "Login Succeeded" in good.stdout
    try:
        assert "1: digest: sha256:" in cli("push", f"{repo}:1").stdout
        cli("rmi", f"{repo}:1")
        assert "Status: Downloaded newer image" in cli("pull", f"{repo}:1").stdout
    finally:
        cli("logout", auth_reg.host)
    out = cli("pull", f"{repo}:2", check=False)
    assert out.returncode == 1 and out.stderr.strip().endswith(f'/v2/{repo.split("/", 1)[1]}/manifests/2": no basic auth credentials')
    assert registry_mod.PASSWORD not in daemon.log_tail(10000)
    cli("rmi", f"{repo}:1")


def test_build_pulls_its_base_image_with_the_clis_credentials(daemon, cli, auth_reg, tmp_path):
    """FROM an image that is not here is pulled (credentials from X-Registry-Config); --pull pulls again."""
    repo = _name(auth_reg, "base")
    tag = "frompull" + uuid.uuid4().hex[:8]
    cli("tag", "busybox:latest", f"{repo}:1")
    cli("login", auth_reg.host, "-u", registry_mod.USER, "--password-stdin", input=registry_mod.PASSWORD)
    try:
        cli("push", f"{repo}:1")
        cli("rmi", f"{repo}:1")
        (tmp_path / "Dockerfile").write_text(f"FROM {repo}:1\nRUN echo built > /b\n")
        out = cli("build", "-t", tag, str(tmp_path)).stdout
        assert f"Status: Downloaded newer image for {repo}:1" in out
        assert cli("run", "--rm", tag, "cat", "/b").stdout == "built\n"
        out = cli("build", "--pull", "-t", tag, str(tmp_path)).stdout
        assert f"Status: Image is up to date for {repo}:1" in out and "Using cache" in out
    finally:
        cli("logout", auth_reg.host)
        cli("rmi", "-f", tag, f"{repo}:1", check=False)
    (tmp_path / "Dockerfile").write_text(f"FROM {repo}:2\n")
    out = cli("build", str(tmp_path), check=False)   # logged out: the registry refuses
    assert out.returncode == 1 and "no basic auth credentials" in out.stderr


def test_sdk_login_push_pull_with_auth_config(daemon, client, auth_reg):
    import docker

    repo = _name(auth_reg, "sdk")
    creds = {"username": registry_mod.USER, "password": registry_mod.PASSWORD}
    answer = client.login(registry=auth_reg.host, reauth=True, **creds)
    assert answer["Status"] == "Login Succeeded" and answer["IdentityToken"] == ""
    with pytest.raises(docker.errors.APIError) as err:
        client.login(registry=auth_reg.host, username=registry_mod.USER, password="nope", reauth=True)
    assert err.value.status_code == 401
    image = client.images.get("busybox:latest")
    image.tag(repo, "v1")
    out = client.images.push(repo, "v1", auth_config=creds)
    assert '"Tag":"v1"' in out and "errorDetail" not in out
    client.images.remove(f"{repo}:v1")
    pulled = client.images.pull(repo, tag="v1", auth_config=creds)
    assert pulled.id == image.id and any(d.startswith(repo + "@sha256:") for d in pulled.attrs["RepoDigests"])
    data = client.images.get_registry_data(f"{repo}:v1", auth_config=creds)
    assert data.has_platform("linux/amd64")
    client.images.remove(f"{repo}:v1")


def test_bearer_token_flow(daemon, client, token_reg):
    import docker

    repo = _name(token_reg, "tok")
    path = repo.split("/", 1)[1]
    creds = {"username": registry_mod.USER, "password": registry_mod.PASSWORD}
    assert client.login(registry=token_reg.host, reauth=True, **creds)["Status"] == "Login Succeeded"
    with pytest.raises(docker.errors.APIError) as err:
        client.login(registry=token_reg.host, username=registry_mod.USER, password="nope", reauth=True)
    assert err.value.status_code == 401 and "unauthorized: authentication required" in str(err.value)

    image = client.images.get("busybox:latest")
    image.tag(repo, "t")
    anonymous = client.images.push(repo, "t", auth_config={})
    assert "denied: requested access to the resource is denied" in anonymous
    out = client.images.push(repo, "t", auth_config=creds)
    assert '"Tag":"t"' in out and "errorDetail" not in out
    seen = token_reg.token_server.requests
    assert {"user": registry_mod.USER, "scopes": [f"repository:{path}:pull,push"],
            "service": [registry_mod.SERVICE]} in seen
    client.images.remove(f"{repo}:t")
    assert client.images.pull(repo, tag="t", auth_config={}).id == image.id   # anyone may pull: an anonymous token
    assert {"user": "", "scopes": [f"repository:{path}:pull"], "service": [registry_mod.SERVICE]} in seen
    client.images.remove(f"{repo}:t")


def test_insecure_registries_and_mirrors_from_daemon_json(daemon, cli, reg):
    # the test daemon's bridge address is this host's but not loopback: secure unless configured
    far_gen = _start(auth=False, bind=daemon.subnet_prefix + ".1")
    far = next(far_gen)
    try:
        base = rootfs_tar_bytes()
        _, far_id = _oci_image(far, "x", [(base, gzip.compress(base), "application/vnd.oci.image.layer.v1.tar+gzip")],
                               "amd64")
        for digest in (far_id, *(d["digest"] for d in json.loads(far.manifest("x", "only-amd64"))["layers"])):
            reg.put_blob("mirrored/thing", _blob(far, "x", digest))   # the mirror holds the same image
        reg.put_manifest("mirrored/thing", "1", json.loads(far.manifest("x", "only-amd64")), OCI_MANIFEST)

        out = cli("pull", f"{far.host}/x:only-amd64", check=False)
        assert out.returncode == 1
        assert f'Get "https://{far.host}/v2/": http: server gave HTTP response to HTTPS client' in out.stderr

        config = {"insecure-registries": [far.host], "registry-mirrors": [reg.url]}
        with private_daemon("r", daemon_json=config) as d2:
            docker(d2, "pull", f"{far.host}/x:only-amd64")
            assert inspect(d2, f"{far.host}/x:only-amd64")["Id"] == far_id
            out = docker(d2, "pull", "mirrored/thing:1").stdout      # docker.io, served by the mirror
            assert "Status: Downloaded newer image for mirrored/thing:1" in out
            assert inspect(d2, "mirrored/thing:1")["Id"] == far_id
            out = docker(d2, "pull", "mirrored/absent:1", check=False)   # not on the mirror: on to Docker Hub
            assert out.returncode == 1 and f'Get "https://{TEST_HUB}/v2/"' in out.stderr
            info = json.loads(docker(d2, "info", "--format", "{{json .RegistryConfig}}").stdout)
            assert info["Mirrors"] == [reg.url + "/"] and info["IndexConfigs"][far.host]["Secure"] is False
    finally:
        far_gen.close()


def _blob(reg, repo: str, digest: str) -> bytes:
    import requests

    return requests.get(f"{reg.url}/v2/{repo}/blobs/{digest}", timeout=30).content


def test_docker_hub_is_unreachable_and_says_so(cli):
    """(The test daemons' Docker Hub is a closed loopback port: nothing leaves the machine.)"""
    start = time.monotonic()
    out = cli("push", "busybox:latest", check=False)
    assert out.returncode == 1 and "The push refers to repository [docker.io/library/busybox]" in out.stdout
    assert TEST_HUB in out.stderr + out.stdout
    out = cli("search", "busybox", check=False)
    assert out.returncode == 1 and TEST_HUB in out.stderr
    out = cli("pull", "nosuchhubimage", check=False)
    assert out.returncode == 1 and TEST_HUB in out.stderr
    assert time.monotonic() - start < 30


def test_bad_requests_are_400(daemon):
    status, _, body = raw_request(daemon, "POST", "/v1.47/auth")
    assert status == 400 and json.loads(body)["message"]
    status, _, body = raw_request(daemon, "GET", "/v1.47/images/search?term=x&limit=500")
    assert status == 400 and json.loads(body)["message"] == "limit 500 is outside the range of [1, 100]"
    status, _, body = raw_request(daemon, "POST", "/v1.47/images/create?fromImage=Bad/Name")
    assert status == 400 and "invalid reference format" in json.loads(body)["message"]
    status, _, body = raw_request(daemon, "POST", "/v1.47/images/create?fromImage=busybox&platform=a/b/c/d")
    assert status == 400 and "unknown operating system or architecture" in json.loads(body)["message"]


REFERENCE = os.environ.get("DOCKERD_PY_REFERENCE_HOST", "")


@pytest.mark.skipif(not REFERENCE, reason="set DOCKERD_PY_REFERENCE_HOST to Docker's dockerd (contrib/reference-dockerd.sh)")
def test_same_image_and_digests_as_dockers_dockerd(daemon, cli, reg, tmp_path):
    """Docker pushes, we pull (same ID, same RepoDigest); we push it on, Docker pulls ours (same again)."""
    import subprocess

    from .conftest import DOCKER

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=REFERENCE, DOCKER_CONFIG=str(tmp_path))

    def ref_cli(*args, **kw):
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, check=True, **kw)

    theirs, ours = _name(reg, "fromdocker"), _name(reg, "fromus")
    archive, image_id = save_archive([rootfs_tar_bytes(), _tar({"who": b"docker\n"})], f"{theirs}:1", {})
    ref_cli("load", input=archive)
    try:
        ref_cli("push", f"{theirs}:1")
        digest = json.loads(ref_cli("image", "inspect", f"{theirs}:1").stdout)[0]["RepoDigests"][0].split("@")[1]
        cli("pull", f"{theirs}:1")
        data = inspect(daemon, f"{theirs}:1")
        assert data["Id"] == image_id and data["RepoDigests"] == [f"{theirs}@{digest}"]
        cli("tag", f"{theirs}:1", f"{ours}:1")
        assert f"1: digest: {digest} size:" in cli("push", f"{ours}:1").stdout   # blobs reused: Docker's manifest
        ref_cli("pull", f"{ours}:1")
        pulled = json.loads(ref_cli("image", "inspect", f"{ours}:1").stdout)[0]
        assert pulled["Id"] == image_id and f"{ours}@{digest}" in pulled["RepoDigests"]
    finally:
        subprocess.run([DOCKER, "rmi", f"{theirs}:1", f"{ours}:1"], env=env, capture_output=True)
        cli("rmi", f"{theirs}:1", f"{ours}:1", check=False)
