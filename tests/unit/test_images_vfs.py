"""The vfs graph driver behind ImageStore: full copies, naive unpack, naive diff."""

from __future__ import annotations

import io
import json
import os

import pytest

from dockerd_py import config, errors
from dockerd_py.images import ImageStore
from dockerd_py.images.vfs import Vfs

from test_images import BUSYBOX_TAR, LAYER1, LAYER2, Events, image_config, save_archive, sha

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def store(tmp_path):
    s = ImageStore(str(tmp_path), Events(), extract_in_child=False, storage_driver="vfs")
    yield s
    s.close()


def vfs_dirs(root) -> list[str]:
    return sorted(os.listdir(os.path.join(root, "vfs", "dir")))


def test_load_applies_whiteouts_onto_a_copy_of_the_parent(tmp_path, store):
    layers = [BUSYBOX_TAR, LAYER1, LAYER2]
    cfg = image_config([sha(x) for x in layers])
    list(store.load(io.BytesIO(save_archive([(cfg, layers, ["v:1"])]))))
    image = store.get("v:1")
    top = store.driver.dir(store.layers.get(image.top_layer).cache_id)
    assert not os.path.lexists(os.path.join(top, "gone"))
    assert sorted(os.listdir(os.path.join(top, "dir"))) == ["new"]
    assert os.path.exists(os.path.join(top, "bin/busybox")) and os.path.exists(os.path.join(top, "etc/added"))
    st = os.stat(os.path.join(top, "keep"))
    assert (st.st_mode & 0o7777, st.st_uid, st.st_nlink) == (0o4755, 1000, 2)
    assert os.getxattr(os.path.join(top, "keep"), "user.note") == b"yes"
    assert len(vfs_dirs(tmp_path)) == 3
    assert b"".join(store.layer_tar(image.top_layer)) == LAYER2
    # the layer's size is its tar's contents, as moby's naive driver reports
    assert store.layers.get(image.top_layer).size == len(b"new") + len(b"added\n")
    assert store.inspect(image)["GraphDriver"] == {"Data": None, "Name": "vfs"}


def test_container_layer_is_a_copy_and_diff_is_naive(tmp_path, store):
    store.import_tar(io.BytesIO(BUSYBOX_TAR), "bb", [], "")
    store.create_rw_layer("c1", store.get("bb").id)
    root = store.mount_rw_layer("c1")
    assert os.path.exists(os.path.join(root, "bin/busybox")) and os.path.exists(os.path.join(root, ".dockerenv"))
    os.unlink(os.path.join(root, "etc/group"))
    os.mkdir(os.path.join(root, "new"))
    with open(os.path.join(root, "new/f"), "w") as f:
        f.write("abc")
    assert store.rw_layer_changes("c1") == [
        {"Path": "/etc", "Kind": 0}, {"Path": "/etc/group", "Kind": 2},
        {"Path": "/new", "Kind": 1}, {"Path": "/new/f", "Kind": 1}]
    assert store.rw_layer_size("c1") == 3
    store.unmount_rw_layer("c1")
    store.remove_rw_layer("c1")
    assert len(vfs_dirs(tmp_path)) == 1


def test_init_layer_follows_no_symlink_of_the_image(tmp_path, store):
    outside = tmp_path / "outside"
    outside.mkdir()
    from test_images import layer_tar
    evil = layer_tar([("etc", "symlink", str(outside)), ("dev", "symlink", str(outside))])
    image_id = store.import_tar(io.BytesIO(evil), "evil", [], "")
    store.create_rw_layer("c2", image_id)
    assert list(outside.iterdir()) == []
    store.remove_rw_layer("c2")


def test_failed_load_leaves_no_dirs(tmp_path, store):
    layers = [BUSYBOX_TAR, LAYER1]
    cfg = image_config([sha(BUSYBOX_TAR), sha(b"other")])
    with pytest.raises(errors.InvalidParameter):
        list(store.load(io.BytesIO(save_archive([(cfg, layers, ["v:2"])]))))
    assert vfs_dirs(tmp_path) == []
    assert os.listdir(os.path.join(tmp_path, "image", "vfs", "layerdb", "sha256")) == []


def test_storage_driver_from_flag_or_daemon_json(tmp_path):
    base = ["--exec-root", "/run/x", "--config-file", str(tmp_path / "daemon.json")]
    assert config.load(base).storage_driver == "overlay2"
    assert config.load(base + ["--storage-driver", "vfs"]).storage_driver == "vfs"
    (tmp_path / "daemon.json").write_text(json.dumps({"storage-driver": "vfs"}))
    assert config.load(base).storage_driver == "vfs"
    (tmp_path / "daemon.json").write_text(json.dumps({"storage-driver": "zfs"}))
    with pytest.raises(config.ConfigError, match="driver not supported: zfs"):
        config.load(base)


def test_vfs_home_is_dockers_layout(tmp_path):
    assert Vfs(str(tmp_path / "vfs")).dir("abc") == str(tmp_path / "vfs" / "dir" / "abc")


def test_container_changes_as_an_overlay_upper_dir_for_commit(tmp_path, store):
    from dockerd_py.images.layerdiff import changes as overlay_changes

    store.import_tar(io.BytesIO(BUSYBOX_TAR), "bb", [], "")
    store.create_rw_layer("c3", store.get("bb").id)
    root = store.mount_rw_layer("c3")
    os.unlink(os.path.join(root, "etc/passwd"))
    os.makedirs(os.path.join(root, "a/b"))
    with open(os.path.join(root, "a/b/f"), "w") as f:
        f.write("x")
    os.setxattr(os.path.join(root, "a/b/f"), "user.k", b"v")
    os.chmod(os.path.join(root, "a"), 0o710)
    with store.rw_layer_upper("c3") as upper:
        assert sorted(os.listdir(upper)) == ["a", "etc"]
        st = os.lstat(os.path.join(upper, "etc/passwd"))
        assert st.st_mode & 0o170000 == 0o020000 and st.st_rdev == 0
        assert os.stat(os.path.join(upper, "a")).st_mode & 0o7777 == 0o710
        assert os.getxattr(os.path.join(upper, "a/b/f"), "user.k") == b"v"
        init = store.driver.dir(store.layers.get_rw("c3").init_id)
        assert overlay_changes(upper, [init]) == store.rw_layer_changes("c3")
    assert not os.path.exists(upper)
    store.remove_rw_layer("c3")
