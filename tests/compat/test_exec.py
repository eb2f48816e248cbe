"""docker exec, through the docker CLI (in a real pty for -it) and docker-py."""

import json
import os
import pty
import signal
import time
import uuid

import pytest

from .conftest import DOCKER, RUNC, inspect
from .test_run import _expect, _set_size

RUNTIMES = ["default"] + (["runc"] if RUNC else [])


def name() -> str:
    return "x" + uuid.uuid4().hex[:10]


def _running(cli, container_cleanup, *args: str, runtime: str = "default") -> str:
    n = name()
    container_cleanup.append(n)
    extra = [] if runtime == "default" else ["--runtime", runtime]
    cli("run", "-d", "--name", n, *extra, *args, "busybox", "sleep", "1000")
    return n


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exec_output_env_workdir_user_and_exit_codes(cli, container_cleanup, tmp_path, runtime):
    n = _running(cli, container_cleanup, "-e", "FROM_RUN=1", "-w", "/etc", runtime=runtime)
    assert cli("exec", n, "echo", "hello").stdout == "hello\n"
    out = cli("exec", n, "sh", "-c", "echo out; echo err >&2")
    assert (out.stdout, out.stderr) == ("out\n", "err\n")
    # the container's env and working dir, overridden by -e / -w; --env-file
    assert cli("exec", n, "sh", "-c", "echo $FROM_RUN $HOSTNAME; pwd").stdout == f"1 {inspect_id(cli, n)[:12]}\n/etc\n"
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=yes\n# comment\n")
    got = cli("exec", "-e", "FROM_RUN=2", "--env-file", str(env_file), "-w", "/tmp", n,
              "sh", "-c", "echo $FROM_RUN $FROM_FILE; pwd").stdout
    assert got == "2 yes\n/tmp\n"
    # -u: names from the container's /etc/passwd, uid:gid without entries
    assert cli("exec", "-u", "nobody", n, "id").stdout.startswith("uid=65534(nobody) gid=65534")
    assert cli("exec", "-u", "1234:5678", n, "sh", "-c", "id -u; id -g").stdout == "1234\n5678\n"
    bad_user = cli("exec", "-u", "nosuch", n, "true", check=False)
    assert bad_user.returncode == 1
    assert "unable to find user nosuch: no matching entries in passwd file" in bad_user.stderr
    # exit codes: the command's own, 127 not found, 126 not executable (with Docker's message)
    assert cli("exec", n, "sh", "-c", "exit 42", check=False).returncode == 42
    missing = cli("exec", n, "no-such-cmd", check=False)
    assert missing.returncode == 127
    assert missing.stdout.startswith("OCI runtime exec failed: exec failed: unable to start container process: "
                                     'exec: "no-such-cmd": executable file not found in $PATH')
    denied = cli("exec", n, "/etc/passwd", check=False)
    assert denied.returncode == 126 and 'exec: "/etc/passwd": permission denied' in denied.stdout
    nowhere = cli("exec", "-w", "/nowhere", n, "pwd", check=False)
    assert nowhere.returncode == 126  # the error does not name the command: exec's default
    assert 'chdir to cwd ("/nowhere") set in config.json failed: no such file or directory' in nowhere.stdout
    # --privileged: every capability; otherwise the container's set and its seccomp filter
    status = cli("exec", n, "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status").stdout.split()
    assert status[1] == "00000000a80425fb" and status[3] == "2"
    assert cli("exec", "--privileged", n, "grep", "CapEff", "/proc/self/status").stdout.split()[1] != status[1]


def inspect_id(cli, n: str) -> str:
    return json.loads(cli("inspect", n).stdout)[0]["Id"]


def test_exec_in_the_containers_namespaces_and_cgroup(daemon, cli, container_cleanup):
    n = _running(cli, container_cleanup, "--hostname", "inside")
    pid = inspect(daemon, n)["State"]["Pid"]
    out = cli("exec", n, "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '").stdout.split("\n")
    assert int(out[0]) > 1 and out[1:] == ["inside", "sleep 1000 "]  # pid 1 is the container's init
    cgroup = open(f"/proc/{pid}/cgroup").read()
    assert cli("exec", "-d", n, "sleep", "30").stdout == ""
    host_pids = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep 30"]
    assert any(open(f"/proc/{p}/cgroup").read() == cgroup for p in host_pids)
    for ns in ("pid", "net", "mnt", "uts", "ipc"):
        assert any(os.readlink(f"/proc/{p}/ns/{ns}") == os.readlink(f"/proc/{pid}/ns/{ns}") for p in host_pids)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exec_interactive_tty_resize_and_detach_keys(daemon, cli, container_cleanup, runtime):
    n = _running(cli, container_cleanup, runtime=runtime)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "exec", "-it", n, "sh"], daemon.env)
    try:
        _set_size(fd, 31, 97)
        _expect(fd, b"# ")
        os.write(fd, b"echo $((6*7)); tty; echo $TERM\n")
        out = _expect(fd, b"xterm", after=b"tty; echo")
        assert b"42" in out and b"/dev/pts/" in out
        os.write(fd, b"stty size\n")
        _expect(fd, b"31 97", after=b"stty size")
        _set_size(fd, 44, 132)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)
        os.write(fd, b"stty size\n")
        _expect(fd, b"44 132", after=b"stty size")
        os.write(fd, b"sleep 777 &\n")
        _expect(fd, b"# ", after=b"sleep 777 &")
        os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q: the CLI leaves (status 1, as with Docker), the shell stays
        _expect(fd, b"read escape sequence")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1
    finally:
        os.close(fd)
    assert "sleep 777" in cli("top", n).stdout
    # an -it session that ends reports the shell's exit code
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "exec", "-it", n, "sh"], daemon.env)
    try:
        _expect(fd, b"# ")
        os.write(fd, b"exit 9\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 9
    finally:
        os.close(fd)


def test_exec_stdin_and_detached(cli, container_cleanup):
    n = _running(cli, container_cleanup)
    assert cli("exec", "-i", n, "sh", "-c", "tr a-z A-Z", input="piped\n").stdout == "PIPED\n"
    assert cli("exec", n, "cat", input="ignored\n").stdout == ""  # no -i: no stdin
    assert cli("exec", "-d", n, "sh", "-c", "sleep 0.3; echo done > /tmp/marker").stdout == ""
    assert _wait_for(lambda: cli("exec", n, "cat", "/tmp/marker", check=False).stdout == "done\n")


def test_exec_inspect_and_container_exec_ids(client, container_cleanup, cli):
    n = _running(cli, container_cleanup)
    c = client.containers.get(n)
    exec_id = client.api.exec_create(n, ["sh", "-c", "read x; exit 3"], stdin=True, user="nobody",
                                     workdir="/tmp", environment=["A=1"])["Id"]
    assert len(exec_id) == 64
    before = client.api.exec_inspect(exec_id)
    assert before == {"ID": exec_id, "Running": False, "ExitCode": None,
                      "ProcessConfig": {"tty": False, "entrypoint": "sh", "arguments": ["-c", "read x; exit 3"],
                                        "privileged": False, "user": "nobody"},
                      "OpenStdin": True, "OpenStderr": True, "OpenStdout": True, "CanRemove": False,
                      "ContainerID": c.id, "DetachKeys": "", "Pid": 0}
    c.reload()
    assert c.attrs["ExecIDs"] == [exec_id]
    sock = client.api.exec_start(exec_id, socket=True)
    raw = sock._sock
    assert _wait_for(lambda: client.api.exec_inspect(exec_id)["Pid"] > 0)
    running = client.api.exec_inspect(exec_id)
    assert running["Running"] is True and running["ExitCode"] is None
    raw.sendall(b"go\n")
    raw.shutdown(1)
    raw.settimeout(10)
    while raw.recv(4096):
        pass
    raw.close()
    assert _wait_for(lambda: client.api.exec_inspect(exec_id)["ExitCode"] == 3)
    assert client.api.exec_inspect(exec_id)["Running"] is False
    c.reload()
    assert c.attrs["ExecIDs"] is None
    from docker.errors import APIError
    with pytest.raises(APIError) as e:
        client.api.exec_start(exec_id, detach=True)
    assert e.value.status_code == 409 and f"exec command {exec_id} has already run" in str(e.value)
    # docker-py's high-level API, demuxed
    res = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 4"], demux=True)
    assert res.exit_code == 4 and res.output == (b"out\n", b"err\n")
    assert c.exec_run("true", detach=True).output == ""


def test_exec_bad_input(client, cli, container_cleanup):
    n = _running(cli, container_cleanup)
    base = client.api.base_url
    post = client.api._post_json
    r = post(f"{base}/containers/{n}/exec", data={"Cmd": []})
    assert r.status_code == 400 and r.json()["message"] == "No exec command specified"
    r = post(f"{base}/containers/nosuch{n}/exec", data={"Cmd": ["true"]})
    assert r.status_code == 404 and r.json()["message"] == f"No such container: nosuch{n}"
    for path in ("/exec/abc/json", "/exec/abc/start"):
        r = (client.api._get if path.endswith("json") else client.api._post)(f"{base}{path}")
        assert r.status_code == 404 and r.json()["message"] == "No such exec instance: abc", path
    r = post(f"{base}/containers/{n}/exec", data={"Cmd": ["true"], "DetachKeys": "ctrl-"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid escape keys (ctrl-) provided"
    r = post(f"{base}/containers/{n}/exec", data={"Cmd": ["true"], "Tty": True, "ConsoleSize": ["tall", 80]})
    assert r.status_code == 400 and "ConsoleSize" in r.json()["message"]
    r = post(f"{base}/containers/{n}/exec", data={"Cmd": "true"})
    assert r.status_code == 400 and "Cmd" in r.json()["message"]


def test_exec_on_stopped_and_paused_containers(daemon, cli, container_cleanup, client):
    n = _running(cli, container_cleanup)
    full = inspect(daemon, n)["Id"]
    exec_id = client.api.exec_create(n, ["true"])["Id"]
    cli("pause", n)
    paused = cli("exec", n, "true", check=False)
    assert paused.returncode == 1
    assert f"Error response from daemon: Container {n} is paused, unpause the container before exec" in paused.stderr
    r = client.api._post_json(f"{client.api.base_url}/exec/{exec_id}/start", data={"Detach": True})
    assert r.status_code == 409
    assert r.json()["message"] == f"Container {full} is paused, unpause the container before exec"
    cli("unpause", n)
    cli("stop", "-t", "0", n)
    stopped = cli("exec", n, "true", check=False)
    assert stopped.returncode == 1
    assert f"Error response from daemon: container {full} is not running" in stopped.stderr
    r = client.api._post_json(f"{client.api.base_url}/exec/{exec_id}/start", data={"Detach": True})
    assert r.status_code == 409 and r.json()["message"] == f"container {full} is not running"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exec_processes_end_when_the_container_stops(daemon, cli, container_cleanup, client, runtime):
    n = _running(cli, container_cleanup, runtime=runtime)
    exec_id = client.api.exec_create(n, ["sleep", "1000"])["Id"]
    client.api.exec_start(exec_id, detach=True)
    assert _wait_for(lambda: client.api.exec_inspect(exec_id)["Pid"] > 0)
    pid = client.api.exec_inspect(exec_id)["Pid"]
    assert _alive(pid)
    cli("stop", "-t", "1", n)
    assert _wait_for(lambda: not _alive(pid))
    assert _wait_for(lambda: client.api.exec_inspect(exec_id)["ExitCode"] is not None)
    assert client.api.exec_inspect(exec_id)["Running"] is False


def test_exec_events(daemon, cli, container_cleanup):
    n = _running(cli, container_cleanup)
    since = str(time.time())
    cli("exec", n, "sh", "-c", "exit 3", check=False)
    time.sleep(0.2)
    out = cli("events", "--since", since, "--until", str(time.time()), "--filter", f"container={n}",
              "--format", "{{json .}}").stdout
    events = [json.loads(line) for line in out.splitlines()]
    actions = [e["Action"] for e in events]
    assert actions == ["exec_create: sh -c exit 3", "exec_start: sh -c exit 3", "exec_die"], actions
    exec_id = events[0]["Actor"]["Attributes"]["execID"]
    assert all(e["Actor"]["Attributes"]["execID"] == exec_id for e in events)
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "3"
    assert events[0]["Actor"]["Attributes"]["name"] == n


def test_exec_survives_a_daemon_restart(daemon, cli, container_cleanup, client):
    import docker as sdk

    n = _running(cli, container_cleanup)
    exec_id = client.api.exec_create(n, ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"])["Id"]
    created = client.api.exec_create(n, ["true"])["Id"]
    client.api.exec_start(exec_id, detach=True)
    assert _wait_for(lambda: client.api.exec_inspect(exec_id)["Pid"] > 0)
    pid = client.api.exec_inspect(exec_id)["Pid"]

    daemon.kill_hard()
    assert _alive(pid)
    daemon.start()

    fresh = sdk.DockerClient(base_url=daemon.host, version="auto")
    try:
        after = fresh.api.exec_inspect(exec_id)
        assert (after["Running"], after["Pid"], after["ExitCode"]) == (True, pid, None)
        assert set(inspect(daemon, n)["ExecIDs"]) == {exec_id, created}
        os.kill(pid, signal.SIGTERM)
        assert _wait_for(lambda: fresh.api.exec_inspect(exec_id)["ExitCode"] == 7)
        assert inspect(daemon, n)["ExecIDs"] == [created]
        assert cli("exec", n, "echo", "still").stdout == "still\n"
    finally:
        fresh.close()


def test_exec_latency(cli, container_cleanup, record_property):
    """Not a benchmark: `docker exec c true` should take well under a second here."""
    n = _running(cli, container_cleanup)
    times = []
    for _ in range(10):
        t0 = time.monotonic()
        cli("exec", n, "true")
        times.append(time.monotonic() - t0)
    median = sorted(times)[len(times) // 2]
    record_property("exec_true_median_ms", round(median * 1000))
    print(f"docker exec c true: median {median * 1000:.0f} ms")
    assert median < 1.0


def test_exec_detach_keys_seen_by_the_daemon(client, cli, container_cleanup):
    """An API client (no escape handling of its own): the daemon ends the stream on the exec's
    detach keys, the process goes on, and an exec_detach event says so."""
    n = _running(cli, container_cleanup)
    since = time.time()
    exec_id = client.api.exec_create(n, ["sh"], stdin=True, tty=True, detach_keys="ctrl-x")["Id"]
    raw = client.api.exec_start(exec_id, tty=True, socket=True)._sock
    raw.settimeout(10)
    raw.sendall(b"echo marker-$((40+2))\r")
    seen = b""
    while b"marker-42" not in seen:
        seen += raw.recv(4096)
    raw.sendall(b"\x18")  # ctrl-x
    while raw.recv(4096):
        pass  # the daemon ends the stream
    raw.close()
    state = client.api.exec_inspect(exec_id)
    assert state["Running"] is True and state["ExitCode"] is None and state["DetachKeys"] == "GA=="
    events = client.api.events(since=since, until=time.time() + 0.5, decode=True,
                               filters={"container": n, "event": "exec_detach"})
    assert [e["Actor"]["Attributes"]["execID"] for e in events] == [exec_id]
