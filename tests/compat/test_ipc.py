"""IpcMode shareable / container:<ref> (compose ipc: service:x): one IPC namespace and one /dev/shm."""

import os
import uuid

from .conftest import cleanup, compose_runner, docker, inspect, private_daemon


def _ipc_ns(daemon, ref: str) -> str:
    return os.readlink(f"/proc/{inspect(daemon, ref)['State']['Pid']}/ns/ipc")


def _shm_dir(cli, container_id: str) -> str:
    root = cli("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    return os.path.join(root, "containers", container_id, "mounts", "shm")


def _mounted(path: str) -> bool:
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def test_shareable_donor_and_joiner(daemon, cli, container_cleanup):
    donor, joiner, private = (p + uuid.uuid4().hex[:8] for p in ("d", "j", "p"))
    container_cleanup.extend([donor, joiner, private])
    donor_id = cli("run", "-d", "--name", donor, "--ipc", "shareable", "--shm-size", "8m",
                   "busybox", "sleep", "300").stdout.strip()
    shm_dir = _shm_dir(cli, donor_id)
    assert _mounted(shm_dir)
    with open("/proc/mounts") as f:
        opts = next(line.split()[3] for line in f if line.split()[1] == shm_dir)
    assert {"nosuid", "nodev", "noexec", "size=8192k"} <= set(opts.split(","))
    cli("run", "-d", "--name", joiner, "--ipc", f"container:{donor}", "busybox", "sleep", "300")
    cli("run", "-d", "--name", private, "busybox", "sleep", "300")
    assert inspect(daemon, donor)["HostConfig"]["IpcMode"] == "shareable"
    assert inspect(daemon, joiner)["HostConfig"]["IpcMode"] == f"container:{donor}"
    assert _ipc_ns(daemon, donor) == _ipc_ns(daemon, joiner) != _ipc_ns(daemon, private)
    cli("exec", donor, "sh", "-c", "echo hello > /dev/shm/note")
    assert cli("exec", joiner, "cat", "/dev/shm/note").stdout == "hello\n"
    assert cli("exec", private, "ls", "/dev/shm").stdout == ""
    assert cli("exec", joiner, "df", "-k", "/dev/shm").stdout.split()[-5] == "8192"  # the donor's size
    # a private donor cannot be joined; a stopped one neither (Docker's texts)
    got = cli("run", "--rm", "--ipc", f"container:{private}", "busybox", "true", check=False)
    assert got.returncode == 125 and (f"failed to join IPC namespace: container {private}: non-shareable IPC "
                                      "(hint: use IpcMode:shareable for the donor container)") in got.stderr, got.stderr
    got = cli("run", "--rm", "--ipc", "container:nosuch" + uuid.uuid4().hex[:6], "busybox", "true", check=False)
    assert got.returncode == 125 and "failed to join IPC namespace: No such container: nosuch" in got.stderr
    cli("rm", "-f", joiner)
    cli("create", "--name", joiner, "--ipc", f"container:{donor}", "busybox", "true")
    cli("stop", "-t", "0", donor)
    assert not _mounted(shm_dir) and os.path.isdir(shm_dir)
    got = cli("start", joiner, check=False)
    assert got.returncode == 1 and f"failed to join IPC namespace: container {donor} is not running" in got.stderr
    cli("start", donor)
    assert _mounted(shm_dir)
    assert cli("exec", donor, "ls", "/dev/shm").stdout == ""  # a fresh tmpfs at each start
    cli("rm", "-f", donor)
    assert not _mounted(shm_dir) and not os.path.exists(os.path.dirname(os.path.dirname(shm_dir)))


def test_host_ipc_sees_the_hosts_shm(cli):
    name = f"dpy-ipc-test-{uuid.uuid4().hex[:8]}"
    with open(f"/dev/shm/{name}", "w") as f:
        f.write("host\n")
    try:
        assert cli("run", "--rm", "--ipc", "host", "busybox", "cat", f"/dev/shm/{name}").stdout == "host\n"
        assert cli("run", "--rm", "busybox", "ls", "/dev/shm").stdout == ""
    finally:
        os.unlink(f"/dev/shm/{name}")


def test_cleanup_unmounts_a_crashed_daemons_shm():
    with private_daemon("ipc") as d:
        cid = docker(d, "run", "-d", "--ipc", "shareable", "busybox", "sleep", "300").stdout.strip()
        shm_dir = _shm_dir(lambda *a: docker(d, *a), cid)
        assert _mounted(shm_dir)
        d.kill_hard()
        assert _mounted(shm_dir)        # the daemon died with its container running
        cleanup(d)                      # dockerd-py --cleanup
        assert not _mounted(shm_dir)


SHARED_IPC = """\
name: {name}
services:
  first:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    ipc: shareable
  second:
    image: busybox
    command: ["sh", "-c", "echo from-second > /dev/shm/x; sleep 601"]
    stop_signal: SIGKILL
    ipc: "service:first"
"""


def test_compose_ipc_service(daemon, cli, tmp_path):
    name = "ipc" + uuid.uuid4().hex[:8]
    (tmp_path / "compose.yaml").write_text(SHARED_IPC.format(name=name))
    compose = compose_runner(daemon, tmp_path, timeout=180)

    try:
        up = compose("up", "-d", "--wait")
        assert up.returncode == 0, up.stderr + daemon.log_tail(30)
        first, second = f"{name}-first-1", f"{name}-second-1"
        first_id = inspect(daemon, first)["Id"]
        assert inspect(daemon, second)["HostConfig"]["IpcMode"] == f"container:{first_id}"
        assert _ipc_ns(daemon, first) == _ipc_ns(daemon, second)
        assert cli("exec", first, "cat", "/dev/shm/x").stdout == "from-second\n"
        shm_dir = _shm_dir(cli, first_id)
        assert _mounted(shm_dir)
    finally:
        down = compose("down", "-t", "0")
    assert down.returncode == 0, down.stderr
    assert not _mounted(shm_dir) and not os.path.exists(shm_dir)
