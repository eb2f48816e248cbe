"""The image and layer store on a temporary data-root (run as root: mknod, xattrs, overlay)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import threading

import pytest

from dockerd_py import errors
from dockerd_py.images import ImageStore
from dockerd_py.images.ids import chain_ids
from dockerd_py.images.overlay import is_mounted
from dockerd_py.images.reference import parse_any, parse_normalized

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootfs import rootfs_tar_bytes  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BUSYBOX_TAR = rootfs_tar_bytes()


# -- helpers ------------------------------------------------------------------
def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: list[tuple]) -> bytes:
    """entries: (name, kind, payload) with kind in file/dir/symlink/link; payload = data or target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, *extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            opts = extra[0] if extra else {}
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, opts.get("mode", 0o755)
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            elif kind == "link":  # a hardlink header carries the target's metadata
                info.type, info.linkname = tarfile.LNKTYPE, payload
                info.mode, info.uid, info.gid = opts.get("mode", 0o644), opts.get("uid", 0), opts.get("gid", 0)
                tar.addfile(info)
            else:
                info.size, info.mode = len(payload), opts.get("mode", 0o644)
                info.uid, info.gid = opts.get("uid", 0), opts.get("gid", 0)
                if "xattrs" in opts:
                    info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in opts["xattrs"].items()}
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


LAYER1 = layer_tar([
    ("etc", "dir", None), ("etc/motd", "file", b"hello\n"),
    ("gone", "file", b"to be deleted\n"),
    ("dir", "dir", None), ("dir/old1", "file", b"1"), ("dir/old2", "file", b"2"),
    ("keep", "file", b"kept", {"mode": 0o4755, "uid": 1000, "gid": 1000,
                                "xattrs": {"user.note": "yes"}}),
    ("hard", "link", "keep", {"mode": 0o4755, "uid": 1000, "gid": 1000}), ("sym", "symlink", "/etc/motd"),
])
LAYER2 = layer_tar([
    (".wh.gone", "file", b""),
    ("dir", "dir", None), ("dir/.wh..wh..opq", "file", b""), ("dir/new", "file", b"new"),
    ("etc/added", "file", b"added\n"),
])


def image_config(diff_ids: list[str], cmd: list[str] | None = None, created: str = "2024-01-02T03:04:05.123456789Z") -> bytes:
    cfg = {"architecture": "amd64",
           "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                      "Cmd": cmd or ["sh"], "Labels": {"org.example": "yes"}},
           "created": created, "history": [{"created": created, "created_by": "test"}],
           "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return json.dumps(cfg, indent=None).encode()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def save_archive(images: list[tuple[bytes, list[bytes], list[str]]], gzip_layers: bool = False,
                 with_manifest: bool = True) -> bytes:
    """A `docker save` archive in Engine 25+ layout: (config, layer tars, repo tags) per image."""
    buf = io.BytesIO()
    manifest, index = [], []
    with tarfile.open(fileobj=buf, mode="w") as tar:
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        seen = set()
        for config, layers, tags in images:
            layer_paths, descs = [], []
            for layer in layers:
                blob = gzip.compress(layer) if gzip_layers else layer
                digest = sha(blob)
                if digest not in seen:
                    add_bytes(tar, f"blobs/sha256/{digest[7:]}", blob)
                    seen.add(digest)
                layer_paths.append(f"blobs/sha256/{digest[7:]}")
                descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else ""),
                              "digest": digest, "size": len(blob)})
            add_bytes(tar, f"blobs/sha256/{sha(config)[7:]}", config)
            oci_manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha(config), "size": len(config)},
                "layers": descs}).encode()
            add_bytes(tar, f"blobs/sha256/{sha(oci_manifest)[7:]}", oci_manifest)
            for t in tags or [None]:
                desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": sha(oci_manifest), "size": len(oci_manifest)}
                if t:
                    desc["annotations"] = {"io.containerd.image.name": "docker.io/library/" + t,
                                           "org.opencontainers.image.ref.name": t.split(":")[1]}
                index.append(desc)
            manifest.append({"Config": f"blobs/sha256/{sha(config)[7:]}", "RepoTags": tags,
                             "Layers": layer_paths})
        add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": index}).encode())
        if with_manifest:
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


class Events(list):
    def __call__(self, action: str, ref: str, attrs: dict) -> None:
        self.append((action, ref, attrs))


@pytest.fixture
def root(tmp_path):
    yield str(tmp_path)
    # safety net: nothing we mounted may stay mounted
    with open("/proc/self/mountinfo") as f:
        leftovers = [line.split()[4] for line in f if str(tmp_path) in line.split()[4]]
    for mp in leftovers:
        os.system(f"umount -l {mp}")
    assert not leftovers, f"left mounted: {leftovers}"


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def store(root, events):
    s = ImageStore(root, events)
    yield s
    s.close()


def layerdb_entries(root: str) -> list[str]:
    return sorted(os.listdir(os.path.join(root, "image/overlay2/layerdb/sha256")))


def overlay_dirs(root: str) -> list[str]:
    return sorted(n for n in os.listdir(os.path.join(root, "overlay2")) if n != "l")


# -- references ---------------------------------------------------------------
def test_reference_normalisation():
    assert str(parse_normalized("busybox").with_default_tag()) == "docker.io/library/busybox:latest"
    assert parse_normalized("busybox:1.36").familiar() == "busybox:1.36"
    assert str(parse_normalized("foo/bar")) == "docker.io/foo/bar"
    assert parse_normalized("localhost:5000/x:y").familiar() == "localhost:5000/x:y"
    assert parse_normalized("index.docker.io/library/alpine").familiar() == "alpine"
    ref = parse_normalized("busybox@sha256:" + "a" * 64)
    assert ref.digest == "sha256:" + "a" * 64 and ref.tag is None
    assert parse_any("a" * 64) == "sha256:" + "a" * 64
    for bad in ("Busybox", "foo bar", "foo:", ":tag", "foo//bar", "-foo", "a" * 64):
        with pytest.raises(errors.InvalidParameter):
            parse_normalized(bad)
    with pytest.raises(errors.InvalidParameter, match="must be lowercase"):
        parse_normalized("Busybox")
    with pytest.raises(errors.InvalidParameter, match="^invalid reference format$"):
        parse_normalized("foo bar")


# -- import ---------------------------------------------------------------------
def test_import_with_changes(root, store, events):
    image_id = store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox", [
        'CMD ["sh", "-c", "echo hi"]', "ENV FOO=bar BAZ=qux", "WORKDIR /app", "EXPOSE 80 53/udp"], "")
    diff_id = sha(BUSYBOX_TAR)
    base = os.path.join(root, "image/overlay2")
    raw = open(os.path.join(base, "imagedb/content/sha256", image_id[7:]), "rb").read()
    assert sha(raw) == image_id
    cfg = json.loads(raw)
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert cfg["os"] == "linux" and cfg["architecture"] in ("amd64", "arm64")
    assert cfg["history"][0]["comment"] == "Imported from -" == cfg["comment"]
    assert cfg["history"][0]["created"] == cfg["created"] and cfg["created"].endswith("Z")
    run = cfg["config"]
    assert run["Cmd"] == ["sh", "-c", "echo hi"]
    assert run["Env"] == ["FOO=bar", "BAZ=qux"]
    assert run["WorkingDir"] == "/app"
    assert run["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert run["Entrypoint"] is None and run["Volumes"] is None
    # layerdb entry of the one layer
    entry = os.path.join(base, "layerdb/sha256", diff_id[7:])
    assert open(os.path.join(entry, "diff")).read() == diff_id
    assert not os.path.exists(os.path.join(entry, "parent"))
    cache_id = open(os.path.join(entry, "cache-id")).read()
    layer_dir = os.path.join(root, "overlay2", cache_id)
    assert os.path.samefile(os.path.join(layer_dir, "diff/bin/busybox"), os.path.join(layer_dir, "diff/bin/busybox"))
    assert os.readlink(os.path.join(layer_dir, "diff/bin/sh")) == "/bin/busybox"
    assert stat.S_IMODE(os.stat(os.path.join(layer_dir, "diff/tmp")).st_mode) == 0o1777
    link = open(os.path.join(layer_dir, "link")).read()
    assert len(link) == 26 and os.readlink(os.path.join(root, "overlay2/l", link)) == f"../{cache_id}/diff"
    assert int(open(os.path.join(entry, "size")).read()) > os.path.getsize("/bin/busybox")
    repos = json.load(open(os.path.join(base, "repositories.json")))
    assert repos == {"Repositories": {"busybox": {"busybox:latest": image_id}}}
    assert [(a, r) for a, r, _ in events] == [("tag", image_id), ("import", image_id)]
    assert events[0][2]["name"] == "busybox:latest"
    # lookups
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox:latest", image_id,
                image_id[7:], image_id[7:19], image_id[:19]):
        assert store.get(ref).id == image_id
    insp = store.inspect(store.get("busybox"))
    assert insp["Id"] == image_id and insp["RepoTags"] == ["busybox:latest"] and insp["RepoDigests"] == []
    assert insp["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    assert insp["GraphDriver"]["Name"] == "overlay2"
    assert insp["GraphDriver"]["Data"]["UpperDir"] == os.path.join(layer_dir, "diff")
    assert "LowerDir" not in insp["GraphDriver"]["Data"]
    assert insp["Comment"] == "Imported from -" and insp["Parent"] == ""
    assert insp["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    summ = store.summary(store.get("busybox"))
    assert summ["RepoTags"] == ["busybox:latest"] and summ["Size"] == insp["Size"] > 0
    assert summ["SharedSize"] == -1 and summ["Containers"] == -1 and summ["ParentId"] == ""


def test_import_compressed_and_dedup(root, store):
    first = store.import_tar(io.BytesIO(BUSYBOX_TAR), None, [], "one")
    cache_before = overlay_dirs(root)
    second = store.import_tar(io.BytesIO(gzip.compress(BUSYBOX_TAR)), "bb:gz", ["USER nobody"], "two")
    assert first != second
    assert layerdb_entries(root) == [sha(BUSYBOX_TAR)[7:]]
    assert overlay_dirs(root) == cache_before  # the layer was not extracted again
    assert store.get("bb:gz").config["config"]["User"] == "nobody"
    assert store.get(first).config["comment"] == "one"
    assert store.summary(store.get(first))["RepoTags"] == []


def test_import_invalid_change_and_tag(root, store):
    with pytest.raises(errors.InvalidParameter, match="^run is not a valid change command$"):
        store.import_tar(io.BytesIO(BUSYBOX_TAR), None, ["RUN echo hi"], "")
    with pytest.raises(errors.InvalidParameter, match="invalid reference format"):
        store.import_tar(io.BytesIO(BUSYBOX_TAR), "Bad Name", [], "")
    assert store.list() == [] and layerdb_entries(root) == []


# -- load -------------------------------------------------------------------------
def test_load_docker_save_and_mount(root, store, events):
    diffs = [sha(LAYER1), sha(LAYER2)]
    config = image_config(diffs)
    expected_id = sha(config)
    lines = list(store.load(io.BytesIO(save_archive([(config, [LAYER1, LAYER2], ["myimg:1.0", "myimg:latest"])]))))
    assert lines == [{"stream": "Loaded image: myimg:1.0\n"}, {"stream": "Loaded image: myimg:latest\n"}]
    image = store.get("myimg:1.0")
    assert image.id == expected_id == store.get("myimg").id
    assert image.raw == config
    assert ("load", expected_id) in [(a, r) for a, r, _ in events]
    chains = chain_ids(diffs)
    assert layerdb_entries(root) == sorted(c[7:] for c in chains)
    top = os.path.join(root, "image/overlay2/layerdb/sha256", chains[1][7:])
    assert open(os.path.join(top, "parent")).read() == chains[0]
    cache_top = open(os.path.join(top, "cache-id")).read()
    cache_base = open(os.path.join(root, "image/overlay2/layerdb/sha256", chains[0][7:], "cache-id")).read()
    base_link = open(os.path.join(root, "overlay2", cache_base, "link")).read()
    assert open(os.path.join(root, "overlay2", cache_top, "lower")).read() == f"l/{base_link}"
    # overlay whiteout format in the stored diff
    top_diff = os.path.join(root, "overlay2", cache_top, "diff")
    st = os.lstat(os.path.join(top_diff, "gone"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(top_diff, "dir"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(top_diff, "dir/.wh..wh..opq"))
    base_diff = os.path.join(root, "overlay2", cache_base, "diff")
    keep = os.lstat(os.path.join(base_diff, "keep"))
    assert (keep.st_uid, keep.st_gid, stat.S_IMODE(keep.st_mode)) == (1000, 1000, 0o4755)
    assert keep.st_mtime == 1700000000 and keep.st_nlink == 2
    assert os.getxattr(os.path.join(base_diff, "keep"), "user.note") == b"yes"
    assert os.readlink(os.path.join(base_diff, "sym")) == "/etc/motd"
    insp = store.inspect(image)
    assert insp["Created"] == "2024-01-02T03:04:05.123456789Z"
    assert insp["GraphDriver"]["Data"]["LowerDir"] == base_diff
    assert insp["Config"]["Labels"] == {"org.example": "yes"}
    # a container's view of it
    cid = "c" * 64
    store.create_rw_layer(cid, image.id)
    mounts = os.path.join(root, "image/overlay2/layerdb/mounts", cid)
    mount_id = open(os.path.join(mounts, "mount-id")).read()
    assert open(os.path.join(mounts, "init-id")).read() == mount_id + "-init"
    assert open(os.path.join(mounts, "parent")).read() == chains[1]
    meta = store.rw_layer_metadata(cid)
    assert meta["LowerDir"].split(":")[0] == os.path.join(root, "overlay2", mount_id + "-init", "diff")
    assert meta["LowerDir"].split(":")[1:] == [top_diff, base_diff]
    merged = store.mount_rw_layer(cid)
    try:
        assert merged == os.path.join(root, "overlay2", mount_id, "merged") == meta["MergedDir"] and is_mounted(merged)
        assert store.mount_rw_layer(cid) == merged  # idempotent
        assert not os.path.lexists(os.path.join(merged, "gone"))
        assert sorted(os.listdir(os.path.join(merged, "dir"))) == ["new"]
        assert open(os.path.join(merged, "etc/motd")).read() == "hello\n"
        assert open(os.path.join(merged, "etc/added")).read() == "added\n"
        assert open(os.path.join(merged, "keep")).read() == "kept"
        for path in (".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console"):
            assert os.path.isfile(os.path.join(merged, path)), path
        for path in ("proc", "sys", "dev/pts", "dev/shm"):
            assert os.path.isdir(os.path.join(merged, path)), path
        with open(os.path.join(merged, "written"), "w") as f:
            f.write("x")
        assert os.path.exists(os.path.join(root, "overlay2", mount_id, "diff/written"))
    finally:
        store.unmount_rw_layer(cid)
    assert not is_mounted(merged)
    # the image is in use: rmi conflicts, then the container goes away
    with pytest.raises(errors.Conflict):
        store.remove(image.id, False, False, lambda i: cid if i == image.id else None)
    store.remove_rw_layer(cid)
    assert not os.path.exists(mounts) and not os.path.exists(os.path.join(root, "overlay2", mount_id))
    assert not os.path.exists(os.path.join(root, "overlay2", mount_id + "-init"))


def test_load_gzip_layers_oci_only_and_untagged(root, store):
    config = image_config([sha(LAYER1)], cmd=["true"])
    lines = list(store.load(io.BytesIO(save_archive([(config, [LAYER1], [])], gzip_layers=True))))
    assert lines == [{"stream": f"Loaded image ID: {sha(config)}\n"}]
    config2 = image_config([sha(LAYER1), sha(LAYER2)], cmd=["false"])
    lines = list(store.load(io.BytesIO(save_archive([(config2, [LAYER1, LAYER2], ["oci:only"])],
                                                    gzip_layers=True, with_manifest=False))))
    assert lines == [{"stream": "Loaded image: oci:only\n"}]
    assert store.get("oci:only").id == sha(config2)
    assert len(layerdb_entries(root)) == 2  # LAYER1 shared


def test_load_moves_tag_and_old_image_dangles(root, store):
    old = image_config([sha(LAYER1)], cmd=["old"])
    new = image_config([sha(LAYER1)], cmd=["new"])
    list(store.load(io.BytesIO(save_archive([(old, [LAYER1], ["app:latest"])]))))
    lines = list(store.load(io.BytesIO(save_archive([(new, [LAYER1], ["app:latest"])]))))
    assert lines == [{"stream": f"The image app:latest already exists, renaming the old one with ID {sha(old)} "
                                "to empty string\n"}, {"stream": "Loaded image: app:latest\n"}]
    assert store.get("app").id == sha(new)
    assert store.summary(store.get(sha(old)))["RepoTags"] == []
    # loading the same archive again changes nothing
    list(store.load(io.BytesIO(save_archive([(new, [LAYER1], ["app:latest"])]))))
    assert len(store.list()) == 2 and len(layerdb_entries(root)) == 1


def test_load_corrupted_layer_leaves_nothing(root, store, events):
    good = image_config([sha(LAYER1)])
    list(store.load(io.BytesIO(save_archive([(good, [LAYER1], ["good:1"])]))))
    before = (layerdb_entries(root), overlay_dirs(root), sorted(os.listdir(os.path.join(root, "overlay2/l"))))
    events.clear()
    bad_diffs = [sha(LAYER1), sha(LAYER2)]
    tampered = LAYER2.replace(b"new", b"NEW")
    bad = image_config(bad_diffs, cmd=["bad"])
    with pytest.raises(errors.InvalidParameter, match="invalid diffID for layer 1"):
        list(store.load(io.BytesIO(save_archive([(bad, [LAYER1, tampered], ["bad:1"])]))))
    after = (layerdb_entries(root), overlay_dirs(root), sorted(os.listdir(os.path.join(root, "overlay2/l"))))
    assert after == before
    assert [i.id for i in store.list()] == [sha(good)] and events == []
    assert not os.path.exists(os.path.join(root, "image/overlay2/imagedb/content/sha256", sha(bad)[7:]))
    assert os.listdir(os.path.join(root, "tmp")) == []
    with pytest.raises(errors.NotFound):
        store.get("bad:1")
    # as moby loads them one after the other: an image before the failing one stays, tagged
    other = image_config([sha(LAYER2)], cmd=["other"])
    with pytest.raises(errors.InvalidParameter):
        list(store.load(io.BytesIO(save_archive([(other, [LAYER2], ["other:1"]),
                                                 (bad, [LAYER1, tampered], ["bad:1"])]))))
    assert sorted(i.id for i in store.list()) == sorted([sha(good), sha(other)])
    assert store.get("other:1").id == sha(other)
    assert layerdb_entries(root) == sorted(before[0] + [sha(LAYER2)[7:]])


# -- tags and removal -----------------------------------------------------------------
def test_tag_untag_rmi(root, store, events):
    image_id = store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox", [], "")
    store.tag("busybox", "mine", "v1")
    store.tag(image_id[7:19], "registry.local:5000/team/app:2")
    assert store.inspect(store.get(image_id))["RepoTags"] == [
        "busybox:latest", "mine:v1", "registry.local:5000/team/app:2"]
    with pytest.raises(errors.InvalidParameter):
        store.tag("busybox", "Mine", None)
    with pytest.raises(errors.InvalidParameter):
        store.tag("busybox", "mine", "bad tag")
    with pytest.raises(errors.NotFound, match="^No such image: nope:latest$"):
        store.tag("nope", "x", None)
    events.clear()
    # by tag, other tags remain: untag only
    assert store.remove("mine:v1", False, False, lambda i: None) == [{"Untagged": "mine:v1"}]
    assert events and events[0][0] == "untag" and events[0][1] == image_id
    # by id with several tags: conflict unless forced
    with pytest.raises(errors.Conflict, match=rf"^conflict: unable to delete {image_id[7:19]} \(must be forced\) - "
                                              "image is referenced in multiple repositories$"):
        store.remove(image_id, False, False, lambda i: None)
    # container using it: removing its only other-tag reference must be forced
    store.remove("registry.local:5000/team/app:2", False, False, lambda i: None)
    cid = "d" * 64
    with pytest.raises(errors.Conflict, match=rf'^conflict: unable to remove repository reference "busybox" \(must force\) - '
                                              rf"container {cid[:12]} is using its referenced image {image_id[7:19]}$"):
        store.remove("busybox", False, False, lambda i: cid)
    with pytest.raises(errors.Conflict, match=rf"^conflict: unable to delete {image_id[7:19]} \(must be forced\) - "
                                              rf"image is being used by stopped container {cid[:12]}$"):
        store.remove(image_id, False, False, lambda i: cid)
    with pytest.raises(errors.Conflict, match=rf"^conflict: unable to delete {image_id[7:19]} \(cannot be forced\) - "
                                              rf"image is being used by running container {cid[:12]}$"):
        store.remove(image_id, True, False, lambda i: (cid, True))
    # forced untag of the last tag while a running container uses it: untagged, image stays
    assert store.remove("busybox", True, False, lambda i: (cid, True)) == [{"Untagged": "busybox:latest"}]
    assert store.get(image_id).id == image_id
    # delete by id: layers go with it
    events.clear()
    res = store.remove(image_id[7:19], False, False, lambda i: None)
    assert res == [{"Deleted": image_id}, {"Deleted": sha(BUSYBOX_TAR)}]
    assert [(a, r) for a, r, _ in events] == [("delete", image_id)]
    assert store.list() == [] and layerdb_entries(root) == [] and overlay_dirs(root) == []
    assert os.listdir(os.path.join(root, "overlay2/l")) == []
    with pytest.raises(errors.NotFound, match="^No such image: busybox:latest$"):
        store.remove("busybox", False, False, lambda i: None)
    with pytest.raises(errors.NotFound):
        store.get(image_id)


def test_rmi_last_tag_deletes_and_shared_layer_survives(root, store):
    a = image_config([sha(LAYER1)], cmd=["a"])
    b = image_config([sha(LAYER1), sha(LAYER2)], cmd=["b"])
    list(store.load(io.BytesIO(save_archive([(a, [LAYER1], ["a:1"]), (b, [LAYER1, LAYER2], ["b:1"])]))))
    assert len(layerdb_entries(root)) == 2
    res = store.remove("b:1", False, False, lambda i: None)
    assert res == [{"Untagged": "b:1"}, {"Deleted": sha(b)}, {"Deleted": chain_ids([sha(LAYER1), sha(LAYER2)])[1]}]
    assert layerdb_entries(root) == [sha(LAYER1)[7:]]
    store.tag("a:1", "a", "2")
    res = store.remove(sha(a), True, False, lambda i: None)
    assert res == [{"Untagged": "a:1"}, {"Untagged": "a:2"}, {"Deleted": sha(a)}, {"Deleted": sha(LAYER1)}]
    assert layerdb_entries(root) == [] and overlay_dirs(root) == []
    assert json.load(open(os.path.join(root, "image/overlay2/repositories.json"))) == {"Repositories": {}}


def test_lookup_errors(store):
    store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox:1", [], "")
    with pytest.raises(errors.InvalidParameter):
        store.get("Busybox")
    with pytest.raises(errors.NotFound, match="^No such image: busybox:latest$"):
        store.get("busybox")
    with pytest.raises(errors.NotFound, match="^No such image: sha256:" + "0" * 64):
        store.get("0" * 64)
    image = store.get("busybox:1")
    assert store.get(f"busybox@{image.id}").id == image.id


# -- restart and crash consistency ----------------------------------------------------
def test_restart_sees_same_state_and_collects_garbage(root, store, events):
    image_id = store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox", ["CMD sh"], "")
    cfg = image_config([sha(LAYER1), sha(LAYER2)])
    list(store.load(io.BytesIO(save_archive([(cfg, [LAYER1, LAYER2], ["two:layers"])]))))
    cid = "e" * 64
    store.create_rw_layer(cid, "two:layers")
    entries, dirs = layerdb_entries(root), overlay_dirs(root)
    # crash leftovers: a layer dir without layerdb entry, a staging dir, a layerdb entry
    # whose dir is gone, a config whose layers are missing, an orphan short link
    os.makedirs(os.path.join(root, "overlay2", "f" * 64, "diff"))
    os.makedirs(os.path.join(root, "overlay2", ".tmp-" + "1" * 64, "diff"))
    ghost = os.path.join(root, "image/overlay2/layerdb/sha256", "2" * 64)
    os.makedirs(ghost)
    for name, value in (("diff", "sha256:" + "3" * 64), ("size", "0"), ("cache-id", "4" * 64)):
        open(os.path.join(ghost, name), "w").write(value)
    orphan_cfg = image_config(["sha256:" + "5" * 64])
    open(os.path.join(root, "image/overlay2/imagedb/content/sha256", sha(orphan_cfg)[7:]), "wb").write(orphan_cfg)
    os.symlink("../nothing/diff", os.path.join(root, "overlay2/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

    again = ImageStore(root, Events())
    assert sorted(i.id for i in again.list()) == sorted([image_id, sha(cfg)])
    assert again.get("busybox").id == image_id and again.get("two:layers").id == sha(cfg)
    assert again.inspect(again.get("busybox")) == store.inspect(store.get("busybox"))
    assert layerdb_entries(root) == entries and overlay_dirs(root) == dirs
    assert not os.path.lexists(os.path.join(root, "overlay2/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    merged = again.mount_rw_layer(cid)
    try:
        assert sorted(os.listdir(os.path.join(merged, "dir"))) == ["new"]
    finally:
        again.unmount_rw_layer(cid)
    again.remove_rw_layer(cid)


def test_concurrent_imports_share_one_layer(root, store):
    results, failures = [], []

    def work(n: int) -> None:
        try:
            results.append(store.import_tar(io.BytesIO(BUSYBOX_TAR), f"bb:{n}", [f"ENV N={n}"], ""))
        except Exception as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(set(results)) == 4
    assert layerdb_entries(root) == [sha(BUSYBOX_TAR)[7:]] and len(overlay_dirs(root)) == 1


def test_layer_tar_rebuilt_byte_for_byte(root, store):
    image_id = store.import_tar(io.BytesIO(gzip.compress(BUSYBOX_TAR)), None, [], "")
    cfg = image_config([sha(LAYER1), sha(LAYER2)])
    list(store.load(io.BytesIO(save_archive([(cfg, [LAYER1, LAYER2], ["x:1"])]))))
    assert b"".join(store.layer_tar(sha(BUSYBOX_TAR))) == BUSYBOX_TAR
    chains = chain_ids([sha(LAYER1), sha(LAYER2)])
    assert b"".join(store.layer_tar(chains[0])) == LAYER1
    assert b"".join(store.layer_tar(chains[1])) == LAYER2
    assert store.get(image_id).diff_ids == [sha(BUSYBOX_TAR)]


def test_layer_tar_of_a_modified_layer_fails_its_diff_id(root, store):
    list(store.load(io.BytesIO(save_archive([(image_config([sha(LAYER1)]), [LAYER1], ["x:1"])]))))
    layer = store.layers.get(sha(LAYER1))
    with open(os.path.join(store.layers.driver.diff_dir(layer.cache_id), "etc", "motd"), "wb") as f:
        f.write(b"HELLO\n")   # same size: only the hash can tell
    with pytest.raises(errors.SystemErr, match="could not verify layer data for: " + sha(LAYER1)):
        b"".join(store.layer_tar(sha(LAYER1)))


def test_forced_rmi_ignores_stopped_container(root, store):
    image_id = store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox", [], "")
    cid = "a" * 64
    store.create_rw_layer(cid, image_id)
    res = store.remove("busybox", True, False, lambda i: cid)
    assert res == [{"Untagged": "busybox:latest"}, {"Deleted": image_id}]  # layer kept: the container uses it
    assert layerdb_entries(root) == [sha(BUSYBOX_TAR)[7:]]
    store.remove_rw_layer(cid)
    assert layerdb_entries(root) == [] and overlay_dirs(root) == []


def test_layer_breakout_rejected(root, store):
    evil = layer_tar([("../../escape", "file", b"x")])
    store.import_tar(io.BytesIO(evil), "evil", [], "")  # cleaned to /escape, like Docker
    assert not os.path.exists(os.path.join(root, "escape"))
    via_link = layer_tar([("lnk", "symlink", "/"), ("lnk/etc/x", "file", b"x")])
    store.import_tar(io.BytesIO(via_link), "evil2", [], "")
    assert not os.path.exists("/etc/x")
    # a link may point anywhere (Docker unpacks chrooted to the layer): kept as a link, nothing made outside
    escaping = store.import_tar(io.BytesIO(layer_tar([("a/b", "symlink", "../../../../x")])), None, [], "")
    assert os.readlink(os.path.join(store.layers.driver.diff_dir(
        store.layers.get(store.get(escaping).diff_ids[0]).cache_id), "a", "b")) == "../../../../x"
    # as in Docker, an entry below a link that leads nowhere fails: the link's target is not made
    with pytest.raises(errors.InvalidParameter, match="no such file or directory"):
        store.import_tar(io.BytesIO(layer_tar([("s", "symlink", "/nowhere"), ("s/f", "file", b"x")])), None, [], "")
    assert len(store.list()) == 3 and len(overlay_dirs(root)) == 3 and len(layerdb_entries(root)) == 3


def test_in_process_extraction_and_bad_compressed_layer(root):
    store = ImageStore(root, Events(), extract_in_child=False)
    image_id = store.import_tar(io.BytesIO(gzip.compress(BUSYBOX_TAR)), "bb", [], "")
    assert store.get("bb").id == image_id
    broken = gzip.compress(LAYER1)[:-40]
    for child in (False, True):
        s = ImageStore(root, Events(), extract_in_child=child)
        with pytest.raises(errors.InvalidParameter):
            s.import_tar(io.BytesIO(broken), "broken", [], "")
        with pytest.raises(errors.InvalidParameter):
            list(s.load(io.BytesIO(b"not a tar at all" * 100)))
    assert layerdb_entries(root) == [sha(BUSYBOX_TAR)[7:]] and len(overlay_dirs(root)) == 1


def test_save_then_load_elsewhere_keeps_ids(root, store, tmp_path_factory):
    cfg = image_config([sha(LAYER1), sha(LAYER2)])
    list(store.load(io.BytesIO(save_archive([(cfg, [LAYER1, LAYER2], ["app:1", "app:2"])]))))
    imported = store.import_tar(io.BytesIO(BUSYBOX_TAR), "busybox", ["CMD sh"], "")
    data = b"".join(store.save(["app", imported[7:19]]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
        assert tar.extractfile(f"blobs/sha256/{sha(LAYER2)[7:]}").read() == LAYER2
    assert {"oci-layout", "index.json", "manifest.json", f"blobs/sha256/{sha(cfg)[7:]}"} <= set(names)
    assert manifest[0]["RepoTags"] == ["app:1", "app:2"] and manifest[1]["RepoTags"] is None
    assert [m.get("annotations", {}).get("io.containerd.image.name") for m in index["manifests"]] == [
        "docker.io/library/app:1", "docker.io/library/app:2", None]
    other = ImageStore(str(tmp_path_factory.mktemp("other")), Events())
    lines = list(other.load(io.BytesIO(data)))
    # as moby: the ids of all images in one message, when the last one has no tag
    assert lines == [{"stream": "Loaded image: app:1\n"}, {"stream": "Loaded image: app:2\n"},
                     {"stream": f"Loaded image ID: {sha(cfg)}\nLoaded image ID: {imported}\n"}]
    assert other.get("app:2").id == sha(cfg) and other.get(imported).raw == store.get(imported).raw
    with pytest.raises(errors.NotFound):
        store.save(["nosuch"])
    hist = store.history(store.get("busybox"))
    assert hist[0]["Id"] == imported and hist[0]["Tags"] == ["busybox:latest"] and hist[0]["Size"] > 0


def test_concurrent_load_and_remove_stay_consistent(root, store):
    archives = []
    for n in range(6):
        top = layer_tar([(f"file{n}", "file", str(n).encode())])
        cfg = image_config([sha(LAYER1), sha(top)], cmd=[str(n)])
        archives.append((save_archive([(cfg, [LAYER1, top], [f"img:{n}"])]), sha(cfg)))
    failures = []

    def cycle(data: bytes, image_id: str) -> None:
        try:
            for _ in range(3):
                list(store.load(io.BytesIO(data)))
                assert store.get(image_id).id == image_id
                store.remove(image_id, True, False, lambda i: None)
        except Exception as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=cycle, args=a) for a in archives]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert store.list() == [] and layerdb_entries(root) == [] and overlay_dirs(root) == []
    assert os.listdir(os.path.join(root, "overlay2/l")) == []
