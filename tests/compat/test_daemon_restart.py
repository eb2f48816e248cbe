"""Containers are daemonless: they outlive a daemon killed with SIGKILL."""

import subprocess
import time
import uuid

from .conftest import DOCKER, inspect


def test_containers_survive_daemon_sigkill(daemon, cli, container_cleanup):
    keep, dies, quiet = ("r" + uuid.uuid4().hex[:8] for _ in range(3))
    container_cleanup.extend([keep, dies, quiet])
    cli("run", "-d", "--name", keep, "busybox", "sh", "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done")
    cli("run", "-d", "--name", dies, "busybox", "sh", "-c", "sleep 2; exit 42")
    cli("run", "-d", "-i", "--name", quiet, "busybox", "cat")
    pid = inspect(daemon, keep)["State"]["Pid"]

    daemon.kill_hard()
    time.sleep(3)  # `dies` exits while no daemon is running
    assert _alive(pid), "the container must keep running without its daemon"
    daemon.start()

    running = cli("ps", "--format", "{{.Names}}").stdout.split()
    assert keep in running and dies not in running
    state = inspect(daemon, dies)["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 42)
    assert inspect(daemon, keep)["State"]["Pid"] == pid

    follower = subprocess.Popen([DOCKER, "logs", "-f", "--tail", "1", keep], env=daemon.env,
                                stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    cli("stop", "-t", "5", keep)
    out, _ = follower.communicate(timeout=20)
    assert follower.returncode == 0 and len(out.split()) >= 3 and all(w.startswith("tick") for w in out.split())
    assert inspect(daemon, keep)["State"]["ExitCode"] == 0
    assert not _alive(pid)

    sdk_attach_echoes(daemon, quiet)


def sdk_attach_echoes(daemon, name: str) -> None:
    """Attach to a container that was started by the previous daemon, and talk to it."""
    import docker as sdk

    client = sdk.DockerClient(base_url=daemon.host, version="auto")
    try:
        sock = client.api.attach_socket(name, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = sock._sock
        raw.sendall(b"through-attach\n")
        raw.settimeout(10)
        data = b""
        while b"through-attach" not in data:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        raw.close()
        assert b"through-attach" in data
    finally:
        client.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_daemon_refuses_to_start_twice(daemon):
    import sys

    proc = subprocess.run([sys.executable, "-m", "dockerd_py.cli", *daemon.args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode != 0
    assert "pid file found" in proc.stderr or "in use by another daemon" in proc.stderr


def test_sigterm_stops_the_daemon_but_not_its_containers(daemon, cli, container_cleanup):
    n = "t" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    pid = inspect(daemon, n)["State"]["Pid"]
    started = time.monotonic()
    daemon.stop()  # SIGTERM
    assert daemon.proc.returncode == 0
    assert time.monotonic() - started < 15
    assert _alive(pid)
    daemon.start()
    assert inspect(daemon, n)["State"]["Running"] is True
