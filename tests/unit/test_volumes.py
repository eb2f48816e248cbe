"""Volumes: the local driver (through PluginHost routing, as the daemon calls it) and VolumeService."""

from __future__ import annotations

import os
import stat

import pytest

from dockerd_py import errors
from dockerd_py.pluginhost import PluginHost
from dockerd_py.services import mountspecs
from dockerd_py.services.volumes import ANONYMOUS_LABEL, VolumeService, copy_up


@pytest.fixture
def host():
    return PluginHost()  # entry points: volume.local among them


@pytest.fixture
def local(host, tmp_path):
    drv = host.driver("volume", "local")
    assert drv.call("volume_driver_capabilities", root=str(tmp_path / "volumes")) == {"scope": "local"}
    return drv


def test_local_driver_is_registered(host):
    assert "local" in host.drivers("volume")


def test_local_create_uses_dockers_layout(local, tmp_path):
    out = local.call("volume_create", name="v1", options={})
    data = tmp_path / "volumes" / "v1" / "_data"
    assert out == {"mountpoint": str(data)} and data.is_dir()
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    (data / "f").write_text("x")
    assert local.call("volume_create", name="v1", options={}) == out  # idempotent, data kept
    assert (data / "f").read_text() == "x"
    assert local.call("volume_path", name="v1") == str(data)
    assert local.call("volume_mount", name="v1", mount_id="c" * 64) == str(data)
    assert local.call("volume_unmount", name="v1", mount_id="c" * 64) is True
    assert local.call("volume_list") == [{"name": "v1", "mountpoint": str(data)}]
    assert local.call("volume_remove", name="v1") is True
    assert not (tmp_path / "volumes" / "v1").exists()
    assert local.call("volume_remove", name="v1") is True  # idempotent
    assert local.call("volume_list") == []


def test_local_refuses_bad_options_and_names_with_dockers_texts(local):
    for opts, text in (({"foo": "bar"}, 'invalid option: "foo"'),
                       ({"type": "tmpfs"}, 'missing required option: "device"'),
                       ({"device": "tmpfs"}, 'missing required option: "type"'),
                       ({"o": "size=1m"}, 'missing required option: "device"'),
                       ({"type": "none", "device": "/x", "size": "1g"}, "quota size requested but no quota support")):
        with pytest.raises(errors.InvalidParameter, match=text):
            local.call("volume_create", name="v2", options=opts)
    with pytest.raises(errors.InvalidParameter):
        local.call("volume_create", name="../x", options={})
    with pytest.raises(errors.NotFound):
        local.call("volume_mount", name="absent", mount_id="c")


def _mounted(path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def test_local_tmpfs_volume_is_mounted_while_used_reference_counted(host, local, tmp_path):
    local.call("volume_create", name="t1", options={"type": "tmpfs", "device": "tmpfs", "o": "uid=1000", "size": "2m"})
    data = tmp_path / "volumes" / "t1" / "_data"
    try:
        assert not _mounted(data)
        assert local.call("volume_mount", name="t1", mount_id="a") == str(data)
        assert _mounted(data) and os.statvfs(data).f_blocks * os.statvfs(data).f_frsize == 2 * 1024 * 1024
        assert data.stat().st_uid == 1000
        local.call("volume_mount", name="t1", mount_id="b")
        local.call("volume_unmount", name="t1", mount_id="a")
        assert _mounted(data)  # b still uses it
        # a restarted daemon (a new driver object) knows b is still there
        again = PluginHost()
        drv = again.driver("volume", "local")
        drv.call("volume_driver_capabilities", root=str(tmp_path / "volumes"))
        drv.call("volume_unmount", name="t1", mount_id="b")
        assert not _mounted(data)
    finally:
        os.system(f"umount -l {data} 2>/dev/null")
    local.call("volume_remove", name="t1")


def test_local_bind_volume_and_mount_errors(local, tmp_path):
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    (host_dir / "keep").write_text("k")
    local.call("volume_create", name="b1", options={"type": "none", "device": str(host_dir), "o": "bind"})
    data = tmp_path / "volumes" / "b1" / "_data"
    try:
        local.call("volume_mount", name="b1", mount_id="a")
        assert (data / "keep").read_text() == "k"
        local.call("volume_unmount", name="b1", mount_id="a")
        assert not (data / "keep").exists()
        local.call("volume_mount", name="b1", mount_id="a")
        local.call("volume_remove", name="b1")  # unmounts first: the host's files stay
        assert (host_dir / "keep").read_text() == "k" and not data.exists()
    finally:
        os.system(f"umount -l {data} 2>/dev/null")
    local.call("volume_create", name="bad", options={"type": "tmpfs", "device": "tmpfs", "o": "bogus"})
    with pytest.raises(errors.SystemErr) as e:
        local.call("volume_mount", name="bad", mount_id="a")
    want = f"failed to mount local volume: mount tmpfs:{tmp_path}/volumes/bad/_data, data: bogus: invalid argument"
    assert e.value.message == want
    local.call("volume_remove", name="bad")


def test_service_create_inspect_list_remove(host, tmp_path):
    events = []
    svc = VolumeService(str(tmp_path), host, on_event=lambda *a: events.append(a))
    v = svc.create("named", labels={"a": "1"})
    assert v["Name"] == "named" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"] == str(tmp_path / "volumes" / "named" / "_data") and v["Labels"] == {"a": "1"}
    assert "UsageData" not in v and v["Options"] is None
    assert svc.create("named") == v  # an existing name returns it
    anon = svc.create()
    assert len(anon["Name"]) == 64 and anon["Labels"] == {ANONYMOUS_LABEL: ""}
    with pytest.raises(errors.InvalidParameter, match="includes invalid characters"):
        svc.create("a")
    with pytest.raises(errors.NotFound, match="error looking up volume plugin nope"):
        svc.create("x1", driver="nope")
    names = lambda f: [x["Name"] for x in svc.list(f)["Volumes"]]  # noqa: E731
    assert names({}) == sorted([anon["Name"], "named"])
    assert names({"label": ["a=1"]}) == ["named"] and names({"label": ["a=2"]}) == []
    assert names({"name": ["nam"]}) == ["named"] and names({"driver": ["local"]}) == names({})

    svc.prepare("c" * 64, {"Volumes": {"/anon": {}}}, {"Binds": ["named:/data:ro", "/host:/h"]})
    assert svc.users("named") == ["c" * 64]
    assert names({"dangling": ["true"]}) == [anon["Name"]]
    mounts = svc.container_mounts("c" * 64)
    assert [(m["Name"], m["Destination"], m["RW"], m["Mode"]) for m in mounts][0] == ("named", "/data", False, "ro")
    anon2 = mounts[1]["Name"]
    assert len(anon2) == 64 and mounts[1]["Destination"] == "/anon"
    with pytest.raises(errors.Conflict, match=r"remove named: volume is in use - \[c{64}\]"):
        svc.remove("named")
    with pytest.raises(errors.Conflict):
        svc.remove("named", force=True)

    # the state survives a new service (a daemon restart)
    svc2 = VolumeService(str(tmp_path), host)
    assert svc2.users("named") == ["c" * 64] and svc2.inspect("named")["Labels"] == {"a": "1"}
    svc2.release("c" * 64, remove_anonymous=True)
    assert svc2.users("named") == []
    with pytest.raises(errors.NotFound, match=f"get {anon2}: no such volume"):
        svc2.inspect(anon2)

    out = svc2.prune({})  # anonymous only by default
    assert out["VolumesDeleted"] == [anon["Name"]]
    assert svc2.prune({"all": ["true"], "label": ["a=2"]})["VolumesDeleted"] is None
    assert svc2.prune({"all": ["true"]})["VolumesDeleted"] == ["named"]
    with pytest.raises(errors.NotFound, match="get named: no such volume"):
        svc2.remove("named")
    svc2.remove("named", force=True)
    assert ("create", "named", {"driver": "local"}) in events


def test_mount_points_in_dockers_order_and_texts(tmp_path):
    class C:
        id, host_config = "s" * 64, {"Binds": [f"{tmp_path}:/h:ro"]}

    inherited = [mountspecs.volume_point("shared", "/data", rw=True), mountspecs.volume_point("gone", "/x")]
    pts = mountspecs.mount_points({"Volumes": {"/img": {}, "/data": {}}},
                                  {"VolumesFrom": ["src:ro"], "Binds": ["named:/x:ro,nocopy"],
                                   "Mounts": [{"Type": "volume", "Source": "sub", "Target": "/s",
                                               "VolumeOptions": {"Subpath": "a/b", "NoCopy": True}}]},
                                  lambda ref: inherited, lambda n: None)
    by_dest = {p["Destination"]: p for p in pts}
    assert set(by_dest) == {"/data", "/x", "/s", "/img"}
    assert by_dest["/data"]["Name"] == "shared" and not by_dest["/data"]["RW"]
    assert by_dest["/x"]["Name"] == "named" and by_dest["/x"]["NoCopy"] and not by_dest["/x"]["RW"]
    assert by_dest["/s"]["Subpath"] == "a/b" and by_dest["/img"]["Anonymous"]
    assert len({p["ID"] for p in pts}) == 4
    for spec, text in (("", "volumes-from specification cannot be an empty string"), ("c:xx", "invalid mode: xx"),
                       ("c:nocopy", "invalid mode: nocopy"), ("c:rslave", "invalid mode: rslave"),
                       ("c:rw,ro", "invalid mode: rw,ro")):
        with pytest.raises(errors.InvalidParameter, match=text):
            mountspecs.parse_volumes_from(spec)
    bad = [({"Type": "volume", "Target": "/"}, "invalid mount config for type \"volume\": invalid specification: "
            "destination can't be '/'"),
           ({"Type": "volume", "Target": "/v", "VolumeOptions": {"Subpath": "a"}},
            "must not set Subpath when using anonymous volumes"),
           ({"Type": "volume", "Source": "n1", "Target": "/v", "VolumeOptions": {"Subpath": "../a"}},
            "subpath must be a relative path within the volume"),
           ({"Type": "volume", "Target": "/v", "ReadOnly": True}, "must not set ReadOnly mode when using anonymous"),
           ({"Type": "bind", "Source": "rel", "Target": "/v"}, "invalid mount path: 'rel' mount path must be absolute"),
           ({"Type": "bind", "Source": "/no/such", "Target": "/v"}, "bind source path does not exist: /no/such"),
           ({"Type": "tmpfs", "Source": "x", "Target": "/v"}, "field Source must not be specified"),
           ({"Type": "tmpfs", "Target": "/v", "VolumeOptions": {"NoCopy": True}},
            "field VolumeOptions must not be specified"),
           ({"Type": "bind", "Source": "/", "Target": "/v", "BindOptions": {"ReadOnlyNonRecursive": True}},
            "requires ReadOnly")]
    for m, text in bad:
        with pytest.raises(errors.InvalidParameter, match=text):
            mountspecs.check_api_mount(m, "")
    assert mountspecs.check_api_mount({"Type": "bind", "Source": "/no/such", "Target": "/v",
                                       "BindOptions": {"CreateMountpoint": True}}, "") is None


def test_copy_up_keeps_owners_and_modes_and_only_fills_empty(tmp_path):
    src, vol = tmp_path / "src", tmp_path / "vol"
    (src / "sub").mkdir(parents=True)
    vol.mkdir()
    (src / "sub" / "f").write_text("data")
    os.chown(src / "sub" / "f", 1234, 4321)
    os.chmod(src / "sub", 0o710)
    os.chmod(src, 0o1777)
    copy_up(str(src), str(vol))
    assert (vol / "sub" / "f").read_text() == "data"
    assert (vol / "sub" / "f").stat().st_uid == 1234 and (vol / "sub" / "f").stat().st_gid == 4321
    assert stat.S_IMODE((vol / "sub").stat().st_mode) == 0o710
    assert stat.S_IMODE(vol.stat().st_mode) == 0o1777
    (src / "new").write_text("n")
    copy_up(str(src), str(vol))  # not empty any more: nothing copied
    assert not (vol / "new").exists()


def test_unsupported_options_for_volumes():
    from dockerd_py.oci import unsupported_options

    assert unsupported_options({"Binds": ["vol:/c:ro"], "VolumeDriver": "flocker", "VolumesFrom": ["x"],
                                "Mounts": [{"Type": "volume", "Target": "/v", "VolumeOptions": {
                                    "Subpath": "a", "DriverConfig": {"Name": "nfs"}}},
                                           {"Type": "tmpfs", "Target": "/t"},
                                           {"Type": "bind", "Source": "/", "Target": "/b"}]},
                               {"Volumes": {"/data": {}}}) == []
    got = unsupported_options({"Mounts": [{"Type": "npipe", "Target": "/p"}, {"Type": "image", "Target": "/i"}]})
    assert got == ["HostConfig.Mounts=Type=npipe", "HostConfig.Mounts=Type=image"]


def test_prepare_refuses_bad_mounts_and_keeps_nothing(host, tmp_path):
    svc = VolumeService(str(tmp_path), host)
    with pytest.raises(errors.InvalidParameter, match="bind source path does not exist: /no/such"):
        svc.prepare("c" * 64, {}, {"Mounts": [{"Type": "bind", "Source": "/no/such", "Target": "/b"}]})
    with pytest.raises(errors.InvalidParameter, match="Duplicate mount point: /d"):
        svc.prepare("c" * 64, {}, {"Binds": ["v1:/d"], "Mounts": [{"Type": "tmpfs", "Target": "/d"}]})
    with pytest.raises(errors.InvalidParameter, match="includes invalid characters"):
        svc.prepare("c" * 64, {"Volumes": {"/x": {}}}, {"Binds": ["a:/d"]})
    assert svc.list({})["Volumes"] == [] and svc.users("v1") == []
    hc = {"Binds": [f"{tmp_path}/made:/h"],
          "Mounts": [{"Type": "volume", "Source": "v2", "Target": "/v", "ReadOnly": True},
                     {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096, "Mode": 0o700}}]}
    svc.prepare("c" * 64, {}, hc)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    out = svc.resolve("c" * 64, hc, str(rootfs), first_start=True)
    assert out["Binds"] == [f"{tmp_path}/made:/h", f"{tmp_path}/volumes/v2/_data:/v:ro"]
    assert (tmp_path / "made").is_dir()  # -v creates a missing host directory, at start
    assert out["Mounts"] == [hc["Mounts"][1]]  # tmpfs for the spec builder; the volume is a Bind now
    svc.unmount("c" * 64)
    svc.release("c" * 64, remove_anonymous=True)
    assert [v["Name"] for v in svc.list({})["Volumes"]] == ["v2"]  # named: kept


def test_restore_releases_local_mounts_of_vanished_containers(host, tmp_path):
    svc = VolumeService(str(tmp_path), host)
    svc.create("tv", "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    data = tmp_path / "volumes" / "tv" / "_data"
    try:
        svc.prepare("c" * 64, {}, {"Binds": ["tv:/d"]})
        svc.prepare("d" * 64, {}, {"Binds": ["tv:/d"]})
        svc.resolve("c" * 64, {"Binds": ["tv:/d"]}, str(rootfs), first_start=True)
        svc.resolve("d" * 64, {"Binds": ["tv:/d"]}, str(rootfs), first_start=True)
        assert _mounted(data)
        again = VolumeService(str(tmp_path), PluginHost())  # a restarted daemon: c is gone, d still runs
        again.restore(["d" * 64])
        assert _mounted(data) and again.users("tv") == ["d" * 64]
        again.unmount("d" * 64)
        assert not _mounted(data)
    finally:
        os.system(f"umount -l {data} 2>/dev/null")
