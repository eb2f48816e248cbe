"""Volume and mount options through the docker CLI and docker-py: local driver options
(tmpfs, bind) mounted while used, --volumes-from, subpath, propagation, created and refused
bind sources, --read-only, and Docker's errors for bad input. Every mount made here is undone."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from .conftest import inspect, uid


def _host_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def _data(daemon, name: str) -> str:
    return f"{daemon.root}/data/volumes/{name}/_data"


def test_tmpfs_volume_has_the_asked_size_and_lives_while_used(daemon, cli, volumes, container_cleanup):
    name, keeper = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(keeper)
    cli("volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
        "--opt", "o=size=10m,uid=1000", name)
    info = json.loads(cli("volume", "inspect", name).stdout)[0]
    assert info["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=10m,uid=1000"}
    data = _data(daemon, name)
    assert data not in _host_mounts()  # mounted only while a container uses it
    out = cli("run", "--rm", "-v", f"{name}:/d", "busybox", "sh", "-c",
              "df -k /d | tail -1; stat -c %u /d; awk '$2==\"/d\"{print $3}' /proc/mounts; echo x > /d/f").stdout
    df, owner, fstype = out.splitlines()
    assert df.split()[:2] == ["tmpfs", "10240"] and owner == "1000" and fstype == "tmpfs"
    assert data not in _host_mounts()  # the last user stopped: unmounted, its content gone (a tmpfs)

    # two users: one mount, shared; it outlives a daemon restart and goes with the last user
    cli("run", "-d", "--name", keeper, "-v", f"{name}:/d", "busybox", "sleep", "300")
    cli("run", "--rm", "-v", f"{name}:/d", "busybox", "sh", "-c", "echo shared > /d/f")
    assert data in _host_mounts()
    assert cli("run", "--rm", "-v", f"{name}:/d", "busybox", "cat", "/d/f").stdout == "shared\n"
    daemon.stop()
    daemon.start()
    assert data in _host_mounts()
    cli("stop", "-t", "0", keeper)
    assert data not in _host_mounts()


def test_sized_tmpfs_and_bind_volumes_through_options(daemon, client, volumes, tmp_path):
    sized = uid("v")
    volumes.append(sized)
    client.volumes.create(sized, driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs", "size": "4m"})
    out = client.containers.run("busybox", ["sh", "-c", "df -k /d | tail -1"], remove=True,
                                volumes={sized: {"bind": "/d", "mode": "rw"}})
    assert out.split()[1] == b"4096"

    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("h\n")
    bound = uid("v")
    volumes.append(bound)
    client.volumes.create(bound, driver="local", driver_opts={"type": "none", "o": "bind", "device": str(host_dir)})
    out = client.containers.run("busybox", ["sh", "-c", "cat /d/from-host; echo c > /d/from-container"], remove=True,
                                volumes={bound: {"bind": "/d", "mode": "rw"}})
    assert out == b"h\n" and (host_dir / "from-container").read_text() == "c\n"
    assert _data(daemon, bound) not in _host_mounts()
    client.volumes.get(bound).remove()
    assert sorted(os.listdir(host_dir)) == ["from-container", "from-host"]  # the host's files stay


def test_bad_local_options_give_dockers_errors_and_lose_nothing(daemon, cli, volumes):
    name = uid("v")
    for opts, text in ((["-o", "foo=bar"], 'invalid option: "foo"'),
                       (["-o", "type=tmpfs"], 'missing required option: "device"'),
                       (["-o", "o=size=1m"], 'missing required option: "device"'),
                       (["-o", "type=none", "-o", "device=/tmp", "-o", "size=1g"],
                        "quota size requested but no quota support")):
        r = cli("volume", "create", *opts, name, check=False)
        assert r.returncode != 0 and f"create {name}: {text}" in r.stderr, r.stderr
    volumes.append(name)
    cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=bogus", name)
    r = cli("run", "--rm", "-v", f"{name}:/d", "busybox", "true", check=False)
    data = _data(daemon, name)
    assert r.returncode != 0
    assert (f"error while mounting volume '{data}': failed to mount local volume: mount tmpfs:{data}, data: bogus: "
            "invalid argument") in r.stderr
    assert name in cli("volume", "ls", "-q").stdout.split() and data not in _host_mounts()
    kept = uuid.uuid4().hex[:10]                      # without --rm: the failure is in State, as Docker's
    r = cli("run", "--name", kept, "-v", f"{name}:/d", "busybox", "true", check=False)
    try:
        state = json.loads(cli("inspect", kept).stdout)[0]["State"]
        assert state["Status"] == "created" and state["ExitCode"] == 128
        assert "failed to mount local volume" in state["Error"]
    finally:
        cli("rm", "-f", kept)


def test_volumes_from_shares_volumes_and_binds(daemon, cli, volumes, container_cleanup, tmp_path):
    name, src = uid("v"), uid("c")
    volumes.append(name)
    container_cleanup.append(src)
    (tmp_path / "h").write_text("bound\n")
    cli("create", "--name", src, "-v", f"{name}:/named", "-v", "/anon", "-v", f"{tmp_path}:/bound:ro", "busybox")
    cli("start", "-a", src)  # nothing; the volumes exist
    out = cli("run", "--rm", "--volumes-from", src, "busybox", "sh", "-c",
              "echo n > /named/f; echo a > /anon/f; cat /bound/h; "
              "echo x > /bound/y 2>/dev/null || echo bound-ro").stdout
    assert out.splitlines() == ["bound", "bound-ro"]
    c = uid("c")
    container_cleanup.append(c)
    cli("create", "--name", c, "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
        "cat /named/f /anon/f; echo z > /named/g")
    cli("start", "-a", c, check=False)
    assert cli("logs", c).stdout == "n\na\n" and "Read-only file system" in cli("logs", c).stderr
    theirs = {m["Destination"]: m for m in inspect(daemon, src)["Mounts"]}
    mine = {m["Destination"]: m for m in inspect(daemon, c)["Mounts"]}
    assert set(mine) == {"/named", "/anon", "/bound"}
    assert mine["/anon"]["Name"] == theirs["/anon"]["Name"] and not mine["/named"]["RW"]
    assert mine["/named"]["Mode"] == "" and mine["/bound"]["Propagation"] == "rprivate"  # as Docker shows them
    assert mine["/bound"]["Type"] == "bind" and mine["/bound"]["Source"] == str(tmp_path)
    cli("rm", "-v", c)  # the other container still uses the anonymous volume: it stays
    container_cleanup.remove(c)
    assert theirs["/anon"]["Name"] in cli("volume", "ls", "-q").stdout.split()
    cli("rm", "-v", src)
    container_cleanup.remove(src)
    assert theirs["/anon"]["Name"] not in cli("volume", "ls", "-q").stdout.split()

    for spec, text in (("nosuch" + name, f"No such container: nosuch{name}"), (f"{src}:xx", "invalid mode: xx")):
        r = cli("create", "--volumes-from", spec, "busybox", check=False)
        assert r.returncode != 0 and text in r.stderr


def test_subpath_nocopy_and_create_mountpoint(daemon, cli, volumes, tmp_path):
    name = uid("v")
    volumes.append(name)
    cli("run", "--rm", "-v", f"{name}:/v", "busybox", "sh", "-c", "mkdir -p /v/a/b && echo deep > /v/a/b/f")
    out = cli("run", "--rm", "--mount", f"type=volume,src={name},dst=/s,volume-subpath=a/b", "busybox",
              "ls", "/s").stdout
    assert out.split() == ["f"]
    empty = uid("v")
    volumes.append(empty)
    out = cli("run", "--rm", "--mount", f"type=volume,src={empty},dst=/usr,volume-nocopy", "busybox",
              "ls", "-A", "/usr").stdout
    assert out == ""  # no copy-up of the image's /usr
    made = tmp_path / "made" / "here"  # BindOptions.CreateMountpoint: API only (the CLI has no flag for it)
    import docker

    api = docker.APIClient(base_url=daemon.host, version="1.47")
    try:
        c = api.create_container("busybox", ["touch", "/m/x"], host_config=api.create_host_config(mounts=[
            {"Type": "bind", "Source": str(made), "Target": "/m", "BindOptions": {"CreateMountpoint": True}}]))
        api.start(c)
        assert api.wait(c)["StatusCode"] == 0 and (made / "x").exists()
        api.remove_container(c)
    finally:
        api.close()


def test_v_creates_missing_host_dir_mount_refuses(cli, tmp_path):
    missing = tmp_path / "not" / "yet"
    cli("run", "--rm", "-v", f"{missing}:/p", "busybox", "touch", "/p/f")
    assert (missing / "f").exists() and oct(missing.stat().st_mode & 0o777) == "0o755"
    gone = tmp_path / "gone"
    r = cli("run", "--rm", "--mount", f"type=bind,source={gone},target=/p", "busybox", "true", check=False)
    assert r.returncode != 0
    assert f'invalid mount config for type "bind": bind source path does not exist: {gone}' in r.stderr
    assert not gone.exists()


def test_read_only_root_with_writable_mounts(cli, volumes):
    name = uid("v")
    volumes.append(name)
    out = cli("run", "--rm", "--read-only", "-v", f"{name}:/data", "--tmpfs", "/scratch", "busybox", "sh", "-c",
              "echo v > /data/f && echo ok1; echo t > /scratch/f && echo ok2; touch /rootfile 2>&1 || true").stdout
    assert out.splitlines()[:2] == ["ok1", "ok2"] and "Read-only file system" in out


def test_bind_propagation(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        fields = lambda mode: cli("run", "--rm", "-v", f"{shared}:/p:{mode}", "busybox", "sh", "-c",  # noqa: E731
                                  "awk '$5==\"/p\"{print $7}' /proc/self/mountinfo").stdout.strip()
        assert fields("rslave").startswith("master:")
        assert fields("rshared").startswith("shared:")
        assert fields("rprivate") == "-"
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=False)
    bad = cli("run", "--rm", "--mount", f"type=bind,src={tmp_path},dst=/p,bind-propagation=bogus", "busybox", "true",
              check=False)
    assert bad.returncode != 0


def test_bad_mounts_through_the_api(daemon, client, volumes, tmp_path):
    import docker

    name = uid("v")
    volumes.append(name)
    client.containers.run("busybox", ["sh", "-c", "echo precious > /d/f"], remove=True,
                          volumes={name: {"bind": "/d", "mode": "rw"}})
    api = client.api
    cases = [
        ({"binds": [f"{name}:/"]}, f"invalid volume specification: '{name}:/': invalid mount config for type "
                                   "\"volume\": invalid specification: destination can't be '/'"),
        ({"binds": [f"{tmp_path}:/"]}, f"invalid volume specification: '{tmp_path}:/': invalid mount config for "
                                       "type \"bind\": invalid specification: destination can't be '/'"),
        ({"mounts": [docker.types.Mount("/", name, type="volume")]},
         "invalid mount config for type \"volume\": invalid specification: destination can't be '/'"),
        ({"binds": ["rel/dir:/p"]}, 'create rel/dir: "rel/dir" includes invalid characters for a local volume '
                                    'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
                                    "host directory, use absolute path"),
        ({"mounts": [docker.types.Mount("/p", "rel", type="bind")]},
         "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        ({"mounts": [docker.types.Mount("/p", "a$b", type="volume")]}, 'create a$b: "a$b" includes invalid characters'),
        ({"mounts": [docker.types.Mount("/p", "", type="volume", read_only=True)]},
         'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes'),
        ({"binds": [f"{name}:/d"], "mounts": [docker.types.Mount("/d", None, type="tmpfs")]},
         "Duplicate mount point: /d"),
    ]
    for kwargs, text in cases:
        with pytest.raises(docker.errors.APIError) as e:
            api.create_container("busybox", host_config=api.create_host_config(**kwargs))
        assert e.value.status_code == 400 and text in str(e.value.explanation), kwargs
    low = docker.APIClient(base_url=daemon.host, version="1.44")  # subpath needs API 1.45
    try:
        with pytest.raises(docker.errors.APIError) as e:
            low.create_container("busybox", host_config=low.create_host_config(mounts=[
                {"Type": "volume", "Source": name, "Target": "/s", "VolumeOptions": {"Subpath": "x"}}]))
        assert e.value.status_code == 400 and "VolumeOptions.Subpath needs API v1.45 or newer" in str(e.value)
    finally:
        low.close()
    out = client.containers.run("busybox", ["cat", "/d/f"], remove=True, volumes={name: {"bind": "/d", "mode": "ro"}})
    assert out == b"precious\n"  # nothing lost


def test_tmpfs_mount_options_api_1_46(daemon):
    import docker

    api = docker.APIClient(base_url=daemon.host, version="1.47")
    try:
        mount = {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 2 * 1024 * 1024, "Mode": 0o1777, "Options": [["nr_inodes", "1k"],
                                                                                              ["exec"]]}}
        c = api.create_container("busybox", ["sh", "-c", "df -k /t | tail -1; df -i /t | tail -1; stat -c %a /t; "
                                            "printf '#!/bin/sh\\necho ran\\n' > /t/x; chmod +x /t/x; /t/x"],
                                 host_config=api.create_host_config(mounts=[mount]))
        api.start(c)
        assert api.wait(c)["StatusCode"] == 0
        df, dfi, mode, ran = api.logs(c).decode().splitlines()
        assert df.split()[1] == "2048" and dfi.split()[1] == "1024" and mode == "1777" and ran == "ran"
        api.remove_container(c)
        bad = dict(mount, TmpfsOptions={"Options": [["bogus"]]})
        with pytest.raises(docker.errors.APIError) as e:
            api.create_container("busybox", host_config=api.create_host_config(mounts=[bad]))
        assert e.value.status_code == 400 and "invalid tmpfs option" in str(e.value)
    finally:
        api.close()
    old = docker.APIClient(base_url=daemon.host, version="1.45")
    try:
        with pytest.raises(docker.errors.APIError) as e:
            old.create_container("busybox", host_config=old.create_host_config(mounts=[mount]))
        assert e.value.status_code == 400 and "TmpfsOptions.Options needs API v1.46 or newer" in str(e.value)
    finally:
        old.close()
