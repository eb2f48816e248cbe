"""Volumes: the local driver (through PluginHost routing, as the daemon calls it) and VolumeService."""

from __future__ import annotations

import os
import stat

import pytest

from dockerd_py import errors
from dockerd_py.pluginhost import PluginHost
from dockerd_py.services.volumes import ANONYMOUS_LABEL, VolumeService, copy_up, split_volume_bind


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


def test_local_refuses_options_and_bad_names(local):
    with pytest.raises(errors.InvalidParameter, match="not supported by this daemon yet: device, type"):
        local.call("volume_create", name="v2", options={"type": "tmpfs", "device": "tmpfs"})
    with pytest.raises(errors.InvalidParameter):
        local.call("volume_create", name="../x", options={})
    with pytest.raises(errors.NotFound):
        local.call("volume_mount", name="absent", mount_id="c")


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


def test_split_volume_bind():
    assert split_volume_bind("/h:/c") is None
    name, mount, opts = split_volume_bind("v:/c:ro,nocopy")
    assert (name, mount.destination, mount.writable, opts) == ("v", "/c", False, ["ro", "nocopy"])
    with pytest.raises(errors.InvalidParameter):
        split_volume_bind("v:/c:bogus")
    with pytest.raises(errors.InvalidParameter):
        split_volume_bind("v:/")


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

    assert unsupported_options({"Binds": ["vol:/c:ro"], "VolumeDriver": "local",
                                "Mounts": [{"Type": "volume", "Target": "/v"}, {"Type": "tmpfs", "Target": "/t"},
                                           {"Type": "bind", "Source": "/", "Target": "/b"}]},
                               {"Volumes": {"/data": {}}}) == []
    got = unsupported_options({"VolumeDriver": "flocker", "VolumesFrom": ["x"],
                               "Mounts": [{"Type": "npipe", "Target": "/p"},
                                          {"Type": "volume", "Target": "/v", "VolumeOptions": {
                                              "Subpath": "a", "DriverConfig": {"Name": "nfs"}}}]})
    assert got == ["HostConfig.VolumeDriver=flocker", "HostConfig.VolumesFrom", "HostConfig.Mounts=Type=npipe",
                   "HostConfig.Mounts=VolumeOptions.Subpath", "HostConfig.Mounts=VolumeOptions.DriverConfig.Name=nfs"]


def test_prepare_refuses_bad_mounts_and_keeps_nothing(host, tmp_path):
    svc = VolumeService(str(tmp_path), host)
    with pytest.raises(errors.InvalidParameter, match="bind source path does not exist: /no/such"):
        svc.prepare("c" * 64, {}, {"Mounts": [{"Type": "bind", "Source": "/no/such", "Target": "/b"}]})
    with pytest.raises(errors.InvalidParameter, match="Duplicate mount point: /d"):
        svc.prepare("c" * 64, {}, {"Binds": ["v1:/d"], "Mounts": [{"Type": "tmpfs", "Target": "/d"}]})
    with pytest.raises(errors.InvalidParameter, match="includes invalid characters"):
        svc.prepare("c" * 64, {"Volumes": {"/x": {}}}, {"Binds": ["a:/d"]})
    assert svc.list({})["Volumes"] == [] and svc.users("v1") == []
    hc = {"Binds": ["/h:/h"], "Mounts": [{"Type": "volume", "Source": "v2", "Target": "/v", "ReadOnly": True},
                                         {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096,
                                                                                           "Mode": 0o700}}]}
    svc.prepare("c" * 64, {}, hc)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    out = svc.resolve("c" * 64, hc, str(rootfs), first_start=True)
    assert out["Binds"] == ["/h:/h", f"{tmp_path}/volumes/v2/_data:/v:ro"]
    assert out["Tmpfs"] == {"/t": "size=4096,mode=700"}
    svc.unmount("c" * 64)
    svc.release("c" * 64, remove_anonymous=True)
    assert [v["Name"] for v in svc.list({})["Volumes"]] == ["v2"]  # named: kept
