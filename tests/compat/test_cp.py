"""`docker cp` through the real docker CLI and docker-py: both ways, running and stopped
containers, volumes and binds inside the container, -a, -L, tar streams, Docker's errors,
and every way a symlink or a tar member could try to reach outside the container's root."""

import io
import json
import os
import subprocess
import tarfile
import time
import uuid

import pytest

from .conftest import DOCKER, inspect


def _name(prefix: str = "cp") -> str:
    return prefix + uuid.uuid4().hex[:10]


def _running(cli, container_cleanup, *args: str, script: str = "sleep 300") -> str:
    name = _name()
    cli("run", "-d", "--name", name, *args, "busybox", "sh", "-c", script)
    container_cleanup.append(name)
    return name


def _tar(members: list[tuple[str, str, bytes | str]]) -> bytes:
    """A tar of (name, kind, data): kind "f" file, "l" symlink (data: target), "d" directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for info in t:
            content = t.extractfile(info).read() if info.isreg() else None
            out[info.name] = (info, content)
    return out


def _cp_out(daemon, container: str, path: str, *flags: str) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    proc = subprocess.run([DOCKER, "cp", *flags, f"{container}:{path}", "-"], capture_output=True, env=daemon.env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return _members(proc.stdout)


def _mounted(path: str) -> bool:
    """Whether `path` is a mount point, allowing a moment for a request that just answered to let go."""
    for _ in range(50):
        with open("/proc/self/mountinfo") as f:
            if not any(line.split()[4] == path for line in f):
                return False
        time.sleep(0.1)
    return True


def test_cp_files_dirs_and_symlinks_both_ways(daemon, cli, container_cleanup, tmp_path):
    c = _running(cli, container_cleanup)
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_bytes(b"alpha\n")
    (src / "top.bin").write_bytes(os.urandom(70000))
    os.symlink("sub/a.txt", src / "link")
    cli("cp", str(src), f"{c}:/tmp/")
    cli("cp", str(src / "top.bin"), f"{c}:/tmp/single.bin")

    back = tmp_path / "back"
    back.mkdir()
    cli("cp", f"{c}:/tmp/tree", str(back))
    assert (back / "tree" / "sub" / "a.txt").read_bytes() == b"alpha\n"
    assert (back / "tree" / "top.bin").read_bytes() == (src / "top.bin").read_bytes()
    assert os.readlink(back / "tree" / "link") == "sub/a.txt"
    cli("cp", f"{c}:/tmp/single.bin", str(back / "single.bin"))
    assert (back / "single.bin").read_bytes() == (src / "top.bin").read_bytes()

    # a symlink is copied as a link; -L copies what it points to
    cli("cp", f"{c}:/tmp/tree/link", str(back / "plain"))
    assert os.readlink(back / "plain") == "sub/a.txt"
    cli("cp", "-L", f"{c}:/tmp/tree/link", str(back / "followed"))
    assert (back / "followed").read_bytes() == b"alpha\n" and not os.path.islink(back / "followed")

    # the names in the tar are Docker's: the requested base name, "." contents for a trailing "/."
    # (Python's tarfile drops the trailing "/" of directory names)
    assert sorted(_cp_out(daemon, c, "/tmp/tree")) == ["tree", "tree/link", "tree/sub", "tree/sub/a.txt", "tree/top.bin"]
    assert sorted(_cp_out(daemon, c, "/tmp/tree/.")) == [".", "./link", "./sub", "./sub/a.txt", "./top.bin"]


def test_cp_tar_streams_and_stat_with_docker_py(client, cli, container_cleanup):
    c = _running(cli, container_cleanup)
    cli("cp", "-", f"{c}:/tmp", input=_tar([("fromstdin/x.txt", "f", b"piped\n")]))
    container = client.containers.get(c)
    stream, stat = container.get_archive("/tmp/fromstdin")
    members = _members(b"".join(stream))
    assert members["fromstdin/x.txt"][1] == b"piped\n"
    assert stat["name"] == "fromstdin" and stat["mode"] & (1 << 31) and stat["linkTarget"] == ""
    _, stat = container.get_archive("/bin/sh")
    assert stat["linkTarget"] == "/bin/busybox" and stat["mode"] & (1 << 27)

    assert container.put_archive("/tmp", _tar([("put.txt", "f", b"put\n")]))
    assert _members(b"".join(container.get_archive("/tmp/put.txt")[0]))["put.txt"][1] == b"put\n"


def test_cp_on_a_stopped_container_mounts_only_for_the_duration(daemon, cli, container_cleanup, tmp_path):
    name = _name()
    cli("create", "--name", name, "busybox", "cat", "/tmp/in.txt")
    container_cleanup.append(name)
    merged = inspect(daemon, name)["GraphDriver"]["Data"]["MergedDir"]
    (tmp_path / "in.txt").write_bytes(b"before start\n")
    cli("cp", str(tmp_path / "in.txt"), f"{name}:/tmp/in.txt")
    assert not _mounted(merged)
    assert cli("start", "-a", name).stdout == "before start\n"
    cli("wait", name)
    cli("cp", f"{name}:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_bytes() == b"before start\n"
    assert not _mounted(merged)


def test_cp_into_and_out_of_a_volume_and_a_bind(daemon, cli, container_cleanup, tmp_path):
    vol = _name("vol")
    bind = tmp_path / "bind"
    bind.mkdir()
    c = _running(cli, container_cleanup, "-v", f"{vol}:/data/vol", "-v", f"{bind}:/data/bind")
    try:
        (tmp_path / "f.txt").write_bytes(b"payload\n")
        cli("cp", str(tmp_path / "f.txt"), f"{c}:/data/vol/in-vol.txt")
        cli("cp", str(tmp_path / "f.txt"), f"{c}:/data/bind/in-bind.txt")
        mountpoint = json.loads(cli("volume", "inspect", vol).stdout)[0]["Mountpoint"]
        assert open(os.path.join(mountpoint, "in-vol.txt"), "rb").read() == b"payload\n"
        assert (bind / "in-bind.txt").read_bytes() == b"payload\n"
        upper = inspect(daemon, c)["GraphDriver"]["Data"]["UpperDir"]
        assert not os.path.exists(os.path.join(upper, "data/vol/in-vol.txt"))  # not under the mount, in the rootfs

        (bind / "from-host.txt").write_bytes(b"host side\n")
        assert _cp_out(daemon, c, "/data/bind/from-host.txt")["from-host.txt"][1] == b"host side\n"
        assert sorted(_cp_out(daemon, c, "/data")) == ["data", "data/bind", "data/bind/from-host.txt",
                                                       "data/bind/in-bind.txt", "data/vol", "data/vol/in-vol.txt"]
        cli("stop", "-t", "0", c)
        cli("cp", str(tmp_path / "f.txt"), f"{c}:/data/vol/stopped.txt")  # volumes of a stopped container too
        assert os.path.exists(os.path.join(mountpoint, "stopped.txt"))
    finally:
        cli("rm", "-f", c, check=False)
        cli("volume", "rm", "-f", vol, check=False)


def test_cp_archive_mode_ownership(daemon, cli, container_cleanup, tmp_path):
    src = tmp_path / "owned.txt"
    src.write_bytes(b"x\n")
    os.chown(src, 1234, 5678)
    plain = _running(cli, container_cleanup)
    cli("cp", str(src), f"{plain}:/tmp/kept.txt")
    cli("cp", "-a", str(src), f"{plain}:/tmp/archived.txt")
    for path in ("/tmp/kept.txt", "/tmp/archived.txt"):  # no Config.User: the tar's owner is kept
        info = _cp_out(daemon, plain, path)[os.path.basename(path)][0]
        assert (info.uid, info.gid) == (1234, 5678)
    user = _running(cli, container_cleanup, "--user", "1000:2000")
    cli("cp", "-a", str(src), f"{user}:/tmp/as-user.txt")
    info = _cp_out(daemon, user, "/tmp/as-user.txt")["as-user.txt"][0]
    assert (info.uid, info.gid) == (1000, 2000)  # -a with a User: owned by that user


def test_cp_errors_are_dockers(cli, client, container_cleanup, tmp_path):
    c = _running(cli, container_cleanup)
    f = tmp_path / "f"
    f.write_bytes(b"f\n")
    r = cli("cp", str(f), f"{c}:/etc/passwd/x", check=False)
    assert r.returncode != 0 and "extraction point is not a directory" in r.stderr
    r = cli("cp", str(f), f"{c}:/nonexist/x", check=False)
    assert r.returncode != 0 and f"Could not find the file /nonexist in container {c}" in r.stderr
    r = cli("cp", f"{c}:/nonexist/x", str(tmp_path), check=False)
    assert r.returncode != 0 and f"Could not find the file /nonexist/x in container {c}" in r.stderr
    r = cli("cp", f"{c}:/etc/passwd/x", str(tmp_path), check=False)
    assert r.returncode != 0 and "lstat /etc/passwd/x: not a directory" in r.stderr

    api = client.api
    resp = api.put(api._url("/containers/{0}/archive", c), params={"path": ""}, data=b"")
    assert resp.status_code == 400 and resp.json()["message"] == "bad parameter: pathcannot be empty"
    resp = api.head(api._url("/containers/{0}/archive", c), params={"path": "/nope"})
    assert resp.status_code == 404
    # noOverwriteDirNonDir (what the CLI sends): a file may not replace a directory
    resp = api.put(api._url("/containers/{0}/archive", c), params={"path": "/", "noOverwriteDirNonDir": "1"},
                    data=_tar([("tmp", "f", b"not a dir\n")]))
    assert resp.status_code == 500 and 'cannot overwrite directory "/tmp" with non-directory "/"' in resp.json()["message"]

    ro_vol = _name("ro")
    ro = _running(cli, container_cleanup, "--read-only", "-v", f"{ro_vol}:/rov:ro", "-v", f"{_name('rw')}:/rwv")
    try:
        r = cli("cp", str(f), f"{ro}:/tmp", check=False)
        assert r.returncode != 0 and "container rootfs is marked read-only" in r.stderr
        r = cli("cp", str(f), f"{ro}:/rov", check=False)
        assert r.returncode != 0 and "mounted volume is marked read-only" in r.stderr
        cli("cp", str(f), f"{ro}:/rwv")  # a writable volume in a read-only rootfs is fine
    finally:
        cli("rm", "-fv", ro, check=False)
        cli("volume", "rm", "-f", ro_vol, check=False)


@pytest.fixture
def host_marker(tmp_path):
    """A directory on the host that a container symlink will name; it must stay empty."""
    d = tmp_path / "host-side"
    d.mkdir()
    (d / "secret.txt").write_bytes(b"HOST SECRET\n")
    yield d
    assert sorted(os.listdir(d)) == ["secret.txt"], "something was written outside the container"
    assert (d / "secret.txt").read_bytes() == b"HOST SECRET\n"


def test_symlinks_cannot_lead_cp_out_of_the_container(daemon, cli, container_cleanup, tmp_path, host_marker):
    links = f"ln -s / /rootlink && ln -s ../../.. /uplink && ln -s {host_marker} /hostdir && " \
            f"ln -s {host_marker}/secret.txt /hostfile && ln -s /etc /etclink && sleep 300"
    c = _running(cli, container_cleanup, script=links)
    for _ in range(50):
        if cli("cp", f"{c}:/etclink", "-", check=False).returncode == 0:
            break
    f = tmp_path / "evil.txt"
    f.write_bytes(b"evil\n")
    upper = inspect(daemon, c)["GraphDriver"]["Data"]["UpperDir"]

    # writes through each link land inside the container's root
    cli("cp", str(f), f"{c}:/rootlink/tmp/via-root.txt")
    cli("cp", str(f), f"{c}:/uplink/tmp/via-up.txt")
    cli("cp", str(f), f"{c}:/etclink/via-etc.txt")
    assert os.path.exists(os.path.join(upper, "tmp/via-root.txt"))
    assert os.path.exists(os.path.join(upper, "tmp/via-up.txt"))
    assert os.path.exists(os.path.join(upper, "etc/via-etc.txt")) and not os.path.exists("/etc/via-etc.txt")
    assert not os.path.exists("/tmp/via-root.txt") and not os.path.exists("/tmp/via-up.txt")
    cli("cp", str(f), f"{c}:/hostdir/evil.txt", check=False)  # the host dir does not exist in the container
    r = cli("cp", "-", f"{c}:/hostdir", input=_tar([("evil.txt", "f", b"evil\n")]), check=False)
    assert r.returncode != 0

    # reads through them see the container's files, never the host's
    assert _cp_out(daemon, c, "/uplink/etc/passwd")["passwd"][1].startswith(b"root:x:0:0:root:/root:/bin/sh")
    for path in ("/hostfile", "/hostdir/secret.txt", f"/uplink{host_marker}/secret.txt"):
        r = cli("cp", "-L", f"{c}:{path}", str(tmp_path / "leak"), check=False)
        assert r.returncode != 0 and "Could not find the file" in r.stderr
        assert not (tmp_path / "leak").exists()


def test_tar_members_cannot_climb_out(daemon, client, cli, container_cleanup, host_marker):
    c = _running(cli, container_cleanup)
    container = client.containers.get(c)
    upper = inspect(daemon, c)["GraphDriver"]["Data"]["UpperDir"]
    unique = _name("esc")
    for members, error in (
            ([(f"../../../../../../../etc/{unique}", "f", b"evil\n")], "is outside of"),
            ([(f"../../{unique}", "f", b"evil\n")], "is outside of"),
            ([("up", "l", "../../../../etc")], "invalid symlink"),
    ):
        with pytest.raises(Exception) as err:
            container.put_archive("/tmp", _tar(members))
        assert error in str(err.value)
    for path in (f"/{unique}", f"/etc/{unique}", os.path.join(upper, unique), os.path.join(upper, "etc", unique)):
        assert not os.path.exists(path)
    # Docker accepts an absolute symlink, and a member below it: that one is written inside the container
    container.put_archive("/tmp", _tar([("abs", "l", "/"), (f"abs/tmp/{unique}", "f", b"inside\n")]))
    assert not os.path.exists(f"/tmp/{unique}")
    assert open(os.path.join(upper, "tmp", unique), "rb").read() == b"inside\n"
    container.put_archive("/", _tar([(str(host_marker)[1:], "d", b"")]))  # the same path, inside the container
    container.put_archive("/tmp", _tar([("h", "l", str(host_marker)), ("h/evil.txt", "f", b"evil\n")]))
    assert open(os.path.join(upper, host_marker.relative_to("/"), "evil.txt"), "rb").read() == b"evil\n"


def test_cp_after_a_daemon_restart_keeps_the_running_rootfs_mounted(daemon, cli, container_cleanup, tmp_path):
    c = _running(cli, container_cleanup)
    merged = inspect(daemon, c)["GraphDriver"]["Data"]["MergedDir"]
    daemon.kill_hard()
    daemon.start()
    (tmp_path / "f").write_bytes(b"after restart\n")
    cli("cp", str(tmp_path / "f"), f"{c}:/tmp/f")
    assert _cp_out(daemon, c, "/tmp/f")["f"][1] == b"after restart\n"
    with open("/proc/self/mountinfo") as f:
        assert any(line.split()[4] == merged for line in f), "a cp must not unmount a running container's rootfs"
    cli("stop", "-t", "0", c)
    assert not _mounted(merged)
