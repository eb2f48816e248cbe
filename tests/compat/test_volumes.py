"""Volumes through the real docker CLI and docker-py: the volume API, volumes in containers, copy-up,
`rm -v`, and named volumes across a daemon restart. Every volume and container made here is removed."""

import io
import json
import tarfile
import time
import uuid

import pytest

from ..rootfs import rootfs_tar_bytes
from .conftest import inspect, uid


def _volume_names(cli, *args) -> list[str]:
    return cli("volume", "ls", "-q", *args).stdout.split()


def test_volume_create_inspect_ls_rm_with_cli(cli, volumes):
    name = uid("v")
    volumes.append(name)
    assert cli("volume", "create", "--label", "team=a", name).stdout.strip() == name
    assert cli("volume", "create", name).stdout.strip() == name  # an existing name returns it
    v = json.loads(cli("volume", "inspect", name).stdout)[0]
    assert v["Name"] == name and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"].endswith(f"/volumes/{name}/_data") and v["Labels"] == {"team": "a"}
    assert v["CreatedAt"].endswith("Z") and "UsageData" not in v
    assert name in _volume_names(cli)
    assert _volume_names(cli, "--filter", "label=team=a") == [name]
    assert name in _volume_names(cli, "--filter", f"name={name[:6]}")
    assert name in _volume_names(cli, "--filter", "driver=local")
    assert name in _volume_names(cli, "--filter", "dangling=true")
    assert _volume_names(cli, "--filter", "label=team=zz") == []
    cli("volume", "rm", name)
    assert name not in _volume_names(cli)

    missing = cli("volume", "inspect", name, check=False)
    assert missing.returncode != 0 and f"get {name}: no such volume" in missing.stderr
    rm = cli("volume", "rm", name, check=False)
    assert rm.returncode != 0 and "no such volume" in rm.stderr
    cli("volume", "rm", "-f", name)  # force: a missing volume is no error
    bad = cli("volume", "create", "a/b", check=False)
    assert bad.returncode != 0 and "includes invalid characters for a local volume name" in bad.stderr
    bad_opt = uid("v")
    opt = cli("volume", "create", "-o", "type=tmpfs", bad_opt, check=False)
    assert opt.returncode != 0 and f'create {bad_opt}: missing required option: "device"' in opt.stderr
    opt = cli("volume", "create", "-o", "foo=bar", bad_opt, check=False)
    assert opt.returncode != 0 and f'create {bad_opt}: invalid option: "foo"' in opt.stderr
    assert bad_opt not in _volume_names(cli)


def test_volume_api_with_docker_py(client, volumes):
    import docker

    name = uid("v")
    volumes.append(name)
    vol = client.volumes.create(name, labels={"k": "v"})
    assert vol.name == name and vol.attrs["Labels"] == {"k": "v"}
    assert client.volumes.get(name).attrs["Mountpoint"] == vol.attrs["Mountpoint"]
    assert name in [v.name for v in client.volumes.list(filters={"label": "k=v"})]
    with pytest.raises(docker.errors.NotFound) as e:
        client.volumes.get("nosuch" + name)
    assert e.value.response.status_code == 404 and f"get nosuch{name}: no such volume" in str(e.value)
    anon = client.api.create_volume()["Name"]
    volumes.append(anon)
    assert len(anon) == 64
    # prune: anonymous volumes only, unless all=true
    pruned = client.api.prune_volumes()
    assert anon in (pruned["VolumesDeleted"] or []) and name not in (pruned["VolumesDeleted"] or [])
    pruned = client.api.prune_volumes(filters={"all": "true", "label": "k=v"})
    assert name in (pruned["VolumesDeleted"] or [])
    assert name not in [v.name for v in client.volumes.list()]


def test_data_shared_between_containers_and_ro(cli, volumes, container_cleanup):
    name, writer = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(writer)
    cli("run", "--name", writer, "-v", f"{name}:/data", "busybox", "sh", "-c", "echo hello > /data/f")
    assert name in _volume_names(cli)  # created by `run`, as Docker does
    assert cli("run", "--rm", "-v", f"{name}:/d", "busybox", "cat", "/d/f").stdout == "hello\n"

    busy = cli("volume", "rm", name, check=False)
    assert busy.returncode != 0 and f"remove {name}: volume is in use" in busy.stderr
    cli("rm", writer)
    assert cli("run", "--rm", "-v", f"{name}:/d", "busybox", "cat", "/d/f").stdout == "hello\n"

    ro = cli("run", "--rm", "-v", f"{name}:/d:ro", "busybox", "sh", "-c", "cat /d/f; echo x > /d/g", check=False)
    assert ro.returncode != 0 and ro.stdout == "hello\n" and "Read-only file system" in ro.stderr


def test_inspect_mounts(daemon, cli, volumes, container_cleanup):
    name, c = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(c)
    cli("create", "--name", c, "-v", f"{name}:/data:ro", "-v", "/anon", "-v", "/tmp:/host-tmp", "busybox")
    mounts = {m["Destination"]: m for m in inspect(daemon, c)["Mounts"]}
    named = mounts["/data"]
    assert (named["Type"], named["Name"], named["Driver"], named["Mode"], named["RW"]) == \
        ("volume", name, "local", "ro", False)
    assert named["Source"].endswith(f"/volumes/{name}/_data") and named["Propagation"] == ""
    anon = mounts["/anon"]
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64 and anon["RW"] is True
    bind = mounts["/host-tmp"]
    assert (bind["Type"], bind["Source"], bind["RW"], bind["Propagation"]) == ("bind", "/tmp", True, "rprivate")
    ps = json.loads(cli("ps", "-a", "--filter", f"name={c}", "--format", "{{json .Mounts}}").stdout)
    assert name in ps
    cli("rm", "-v", c)
    container_cleanup.remove(c)
    left = _volume_names(cli)
    assert name in left and anon["Name"] not in left  # rm -v: anonymous volumes only


def _image_with_volume(cli, tag: str) -> None:
    """busybox plus /srv/app (owned 1000:1000, mode 0750, with a file) and VOLUME /srv/app."""
    src = tarfile.open(fileobj=io.BytesIO(rootfs_tar_bytes()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for path, mode in (("srv", 0o755), ("srv/app", 0o750)):
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, mode
            info.uid = info.gid = 1000 if path == "srv/app" else 0
            dst.addfile(info)
        data = b"from the image\n"
        info = tarfile.TarInfo("srv/app/file")
        info.size, info.mode, info.uid, info.gid = len(data), 0o640, 1000, 1000
        dst.addfile(info, io.BytesIO(data))
    cli("import", "--change", 'CMD ["sh"]', "--change", "VOLUME /srv/app", "-", tag, input=out.getvalue())


def test_image_volume_anonymous_and_copy_up(daemon, cli, volumes, container_cleanup):
    tag = "volimg" + uuid.uuid4().hex[:6]
    _image_with_volume(cli, tag)
    try:
        c1, c2 = uid("c"), uid("c")
        container_cleanup.extend([c1, c2])
        cli("run", "--name", c1, tag, "sh", "-c", "echo c1 > /srv/app/mine")
        cli("run", "--name", c2, tag, "sh", "-c", "ls /srv/app")
        v1 = [m for m in inspect(daemon, c1)["Mounts"] if m["Destination"] == "/srv/app"][0]
        v2 = [m for m in inspect(daemon, c2)["Mounts"] if m["Destination"] == "/srv/app"][0]
        assert v1["Name"] != v2["Name"] and len(v1["Name"]) == 64  # a new anonymous volume per container
        assert cli("logs", c2).stdout.split() == ["file"]  # copied up; c1's write is in c1's volume only
        assert json.loads(cli("volume", "inspect", v1["Name"]).stdout)[0]["Labels"] == \
            {"com.docker.volume.anonymous": ""}

        # copy-up into an empty named volume: content, owners and modes; then the volume keeps its own data
        name = uid("v")
        volumes.append(name)
        out = cli("run", "--rm", "-v", f"{name}:/srv/app", tag, "sh", "-c",
                  "stat -c '%a %u:%g' /srv/app /srv/app/file; cat /srv/app/file; echo mine > /srv/app/file").stdout
        assert out.splitlines() == ["750 1000:1000", "640 1000:1000", "from the image"]
        assert cli("run", "--rm", "-v", f"{name}:/srv/app", tag, "cat", "/srv/app/file").stdout == "mine\n"
        # nocopy: an empty volume stays empty
        empty = uid("v")
        volumes.append(empty)
        assert cli("run", "--rm", "-v", f"{empty}:/srv/app:nocopy", tag, "ls", "-A", "/srv/app").stdout == ""
        # a named volume over the image's VOLUME replaces the anonymous one
        c3 = uid("c")
        container_cleanup.append(c3)
        cli("create", "--name", c3, "-v", f"{name}:/srv/app", tag)
        assert [m["Name"] for m in inspect(daemon, c3)["Mounts"]] == [name]

        cli("rm", "-v", c1, c2, c3)
        container_cleanup.clear()
        left = _volume_names(cli)
        assert v1["Name"] not in left and v2["Name"] not in left and name in left
    finally:
        cli("rmi", "-f", tag, check=False)


def test_volume_events(client, volumes):
    since = time.time() - 1
    name = uid("v")
    volumes.append(name)
    client.volumes.create(name)
    c = client.containers.run("busybox", "true", volumes=[f"{name}:/d"], detach=True)
    c.wait()
    c.remove()
    client.volumes.get(name).remove()
    until = time.time() + 1
    events = [(e["Action"], e["Actor"]["ID"]) for e in
              client.events(since=since, until=until, filters={"type": "volume"}, decode=True)]
    actions = [a for a, n in events if n == name]
    assert actions[0] == "create" and actions[-1] == "destroy"
    assert "mount" in actions and "unmount" in actions
    assert actions.index("mount") < actions.index("unmount")


def test_named_volume_survives_daemon_restart(daemon, cli, volumes, container_cleanup):
    name, c = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(c)
    cli("volume", "create", "--label", "keep=1", name)
    cli("run", "--name", c, "-v", f"{name}:/data", "busybox", "sh", "-c", "echo persisted > /data/f")
    daemon.stop()
    daemon.start()
    assert _volume_names(cli, "--filter", "label=keep=1") == [name]
    busy = cli("volume", "rm", name, check=False)  # the reference of the container survives too
    assert busy.returncode != 0 and "volume is in use" in busy.stderr
    cli("rm", c)
    container_cleanup.clear()
    assert cli("run", "--rm", "-v", f"{name}:/data", "busybox", "cat", "/data/f").stdout == "persisted\n"


def test_mount_flag_volume_bind_tmpfs(daemon, cli, volumes, container_cleanup, tmp_path):
    name, c = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(c)
    (tmp_path / "in").write_text("from the host\n")
    script = ("cat /b/in; echo x > /b/out 2>/dev/null && echo bind-writable; echo v > /v/f && echo vol-writable; "
              "awk '$2==\"/t\"{print $3, $4}' /proc/mounts; stat -c %a /t")
    out = cli("run", "--name", c, "--mount", f"type=volume,src={name},dst=/v",
              "--mount", f"type=bind,src={tmp_path},dst=/b,readonly",
              "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576,tmpfs-mode=1770", "busybox", "sh", "-c", script).stdout
    lines = out.splitlines()
    assert lines[0] == "from the host" and "bind-writable" not in lines and "vol-writable" in lines
    fs, opts = lines[-2].split()
    assert fs == "tmpfs" and "size=1024k" in opts and lines[-1] == "1770"
    mounts = {m["Destination"]: m for m in inspect(daemon, c)["Mounts"]}
    assert (mounts["/v"]["Type"], mounts["/v"]["Name"], mounts["/v"]["RW"]) == ("volume", name, True)
    assert (mounts["/b"]["Type"], mounts["/b"]["Source"], mounts["/b"]["RW"]) == ("bind", str(tmp_path), False)
    assert mounts["/t"]["Type"] == "tmpfs"
    assert cli("run", "--rm", "-v", f"{name}:/v", "busybox", "cat", "/v/f").stdout == "v\n"

    missing = cli("run", "--rm", "--mount", "type=bind,src=/no/such/dir,dst=/b", "busybox", "true", check=False)
    assert missing.returncode != 0 and "bind source path does not exist: /no/such/dir" in missing.stderr
    sub = cli("run", "--rm", "--mount", f"type=volume,src={name},dst=/v,volume-subpath=x", "busybox", "true",
              check=False)
    assert sub.returncode != 0 and "cannot access path " in sub.stderr and "/_data/x: no such file" in sub.stderr
