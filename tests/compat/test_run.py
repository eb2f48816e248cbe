"""`docker run` end to end, and the container verbs around it, through the real CLI."""

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
import uuid

import pytest

from .conftest import DOCKER, inspect


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_run_prints_output_and_removes_with_rm(cli):
    n = name()
    out = cli("run", "--rm", "--name", n, "busybox", "echo", "hello world")
    assert out.stdout == "hello world\n"
    assert n not in cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_run_exit_code_is_the_containers(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    out = cli("run", "--name", n, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert out.returncode == 3
    assert out.stdout == "out\n" and out.stderr == "err\n"


def test_exit_code_recorded_in_inspect(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "--name", n, "busybox", "sh", "-c", "exit 7", check=False)
    data = inspect(daemon, n)
    assert data["State"]["Status"] == "exited"
    assert data["State"]["ExitCode"] == 7
    assert data["State"]["Running"] is False
    assert data["Name"] == "/" + n
    assert data["Config"]["Image"] == "busybox"
    assert data["Path"] == "sh" and data["Args"] == ["-c", "exit 7"]


def test_stdin_is_piped_with_i(cli):
    out = cli("run", "--rm", "-i", "busybox", "cat", input="hi\n")
    assert out.stdout == "hi\n"


def test_missing_executable_gives_127(cli):
    out = cli("run", "--rm", "busybox", "no-such-binary", check=False)
    assert out.returncode == 127
    # Docker 27 with runc 1.1: containerd's and the shim's words around the runtime's, gRPC's code last
    assert out.stderr.startswith(
        "docker: Error response from daemon: failed to create task for container: failed to create shim task: "
        'OCI runtime create failed: runc create failed: unable to start container process: exec: "no-such-binary": '
        "executable file not found in $PATH: unknown"), out.stderr


def test_unknown_image_is_404_no_such_image(client):
    import docker as sdk

    with pytest.raises(sdk.errors.ImageNotFound) as e:
        client.containers.create("nosuchimage:latest")
    assert "No such image: nosuchimage:latest" in str(e.value)


def test_detached_run_ps_logs_stop(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "busybox", "sh", "-c",
              "trap 'echo got-term; exit 0' TERM; echo started; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    ps = cli("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}").stdout
    assert f"{cid[:12]} {n} Up" in ps
    _wait_for(lambda: "started" in cli("logs", n).stdout)
    cli("stop", "-t", "5", n)
    data = inspect(daemon, n)
    assert data["State"]["Status"] == "exited" and data["State"]["ExitCode"] == 0
    assert "got-term" in cli("logs", n).stdout
    assert n not in cli("ps", "--format", "{{.Names}}").stdout.split()
    assert n in cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_stop_escalates_to_kill_after_timeout(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
    started = time.monotonic()
    cli("stop", "-t", "1", n)
    assert time.monotonic() - started < 10
    assert inspect(daemon, n)["State"]["ExitCode"] == 137


def test_kill_with_signal_and_invalid_signal(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    # pid 1 of a namespace only gets the signals it handles, as under Docker: hence the trap
    cli("run", "-d", "--name", n, "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
    bad = cli("kill", "-s", "NOPE", n, check=False)
    assert bad.returncode != 0 and "Invalid signal: NOPE" in bad.stderr
    cli("kill", "-s", "USR1", n)
    _wait_for(lambda: not inspect(daemon, n)["State"]["Running"])
    assert inspect(daemon, n)["State"]["ExitCode"] == 42
    again = cli("kill", n, check=False)
    assert again.returncode != 0 and "is not running" in again.stderr


def test_logs_streams_timestamps_tail(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "--name", n, "busybox", "sh", "-c", "for i in 1 2 3 4; do echo line$i; done; echo oops >&2")
    logs = cli("logs", n)
    assert logs.stdout == "line1\nline2\nline3\nline4\n" and logs.stderr == "oops\n"
    tail = cli("logs", "--tail", "2", n)
    assert tail.stdout + tail.stderr in ("line4\noops\n", "oops\nline4\n")
    stamped = cli("logs", "-t", n).stdout.splitlines()
    assert len(stamped) == 4 and all(line.split(" ", 1)[0].endswith("Z") for line in stamped)
    assert stamped[0].split(" ", 1)[1] == "line1"


def test_logs_follow_ends_when_container_stops(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done")
    out = cli("logs", "-f", n, timeout=30)
    assert out.stdout == "n1\nn2\nn3\n"


def test_interactive_tty_shell(daemon):
    """`docker run -it busybox sh` in a real pseudo-terminal; window-size changes reach the pty."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "run", "-it", "--rm", "busybox", "sh"], daemon.env)
    try:
        _set_size(fd, 33, 101)
        _expect(fd, b"# ")
        os.write(fd, b"echo $((6*7)); tty\n")
        out = _expect(fd, b"/dev/pts/0")
        assert b"42" in out
        os.write(fd, b"stty size\n")
        assert b"33 101" in _expect(fd, b"33 101", after=b"stty size")
        _set_size(fd, 40, 120)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)
        os.write(fd, b"stty size\n")
        assert b"40 120" in _expect(fd, b"40 120", after=b"stty size")
        os.write(fd, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(fd)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _expect(fd: int, token: bytes, after: bytes = b"", timeout: float = 15) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            data += chunk
            tail = data.split(after, 1)[1] if after and after in data else (data if not after else b"")
            if token in tail:
                return data
    raise AssertionError(f"did not see {token!r}; got {data!r}")


def test_rename_pause_unpause_top_restart(daemon, cli, container_cleanup):
    n, n2 = name(), name()
    container_cleanup.append(n2)
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    cli("rename", n, n2)
    assert inspect(daemon, n2)["Name"] == "/" + n2
    assert cli("inspect", n, check=False).returncode != 0
    cli("pause", n2)
    assert inspect(daemon, n2)["State"]["Status"] == "paused"
    assert "(Paused)" in cli("ps", "--filter", f"name={n2}", "--format", "{{.Status}}").stdout
    cli("unpause", n2)
    assert inspect(daemon, n2)["State"]["Status"] == "running"
    top = cli("top", n2).stdout
    assert "sleep 300" in top
    pid_before = inspect(daemon, n2)["State"]["Pid"]
    cli("restart", "-t", "1", n2)
    after = inspect(daemon, n2)["State"]
    assert after["Running"] and after["Pid"] != pid_before


def test_name_conflict_is_409_with_dockers_message(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    out = cli("create", "--name", n, "busybox", "true", check=False)
    assert out.returncode != 0
    assert f'Conflict. The container name "/{n}" is already in use by container' in out.stderr


def test_remove_running_needs_force(cli):
    n = name()
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    out = cli("rm", n, check=False)
    assert out.returncode != 0 and "container is running" in out.stderr
    cli("rm", "-f", n)
    assert cli("inspect", n, check=False).returncode != 0


def test_ps_filters(daemon, cli, container_cleanup):
    a, b = name(), name()
    container_cleanup.extend([a, b])
    cli("run", "-d", "--name", a, "--label", "team=red", "busybox", "sleep", "300")
    cli("run", "--name", b, "--label", "team=blue", "busybox", "sh", "-c", "exit 2", check=False)
    names = lambda *args: set(cli("ps", "-a", *args, "--format", "{{.Names}}").stdout.split())
    assert a in names("--filter", "label=team=red") and b not in names("--filter", "label=team=red")
    assert names("--filter", "status=exited") >= {b} and a not in names("--filter", "status=exited")
    assert b in names("--filter", "exited=2") and b not in names("--filter", "exited=0")
    assert {a, b} <= names("--filter", "ancestor=busybox")
    assert a in names("--filter", f"name={a}")
    assert a in names("--filter", f"id={inspect(daemon, a)['Id'][:10]}")
    bad = cli("ps", "--filter", "status=bogus", check=False)
    assert bad.returncode != 0 and "invalid filter" in bad.stderr.lower()


def test_wait_returns_exit_code(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sh", "-c", "sleep 0.5; exit 4")
    assert cli("wait", n).stdout.strip() == "4"


def test_container_prune_removes_stopped_only(cli, container_cleanup):
    running, stopped = name(), name()
    container_cleanup.append(running)
    cli("run", "-d", "--name", running, "busybox", "sleep", "300")
    cli("run", "--name", stopped, "busybox", "true")
    out = cli("container", "prune", "-f").stdout
    assert stopped not in cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert running in cli("ps", "--format", "{{.Names}}").stdout.split()
    assert "Deleted Containers" in out


def test_attach_to_running_container(cli, daemon, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sh", "-c", "sleep 1; echo from-attach; sleep 1")
    out = cli("attach", n, timeout=30)
    assert "from-attach" in out.stdout


def test_start_attach_runs_again(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "echo", "again")
    assert cli("start", "-a", n).stdout == "again\n"
    assert cli("start", "-a", n).stdout == "again\n"
    assert cli("logs", n).stdout == "again\nagain\n"


def test_image_environment_and_workdir_applied(cli):
    out = cli("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "--user", "nobody", "--hostname", "myhost",
              "busybox", "sh", "-c", "echo $FOO $(pwd) $(id -u) $(hostname) $PATH").stdout.split()
    assert out[:4] == ["bar", "/tmp", "65534", "myhost"]
    assert out[4] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_default_capabilities_and_masked_paths(cli):
    out = cli("run", "--rm", "busybox", "sh", "-c",
              "grep CapEff /proc/self/status; cat /proc/kcore | wc -c; echo x > /proc/sys/kernel/domainname 2>&1 || echo ro").stdout
    assert "CapEff:\t00000000a80425fb" in out
    assert "\n0\n" in out and "ro" in out


def test_memory_and_pids_limits_reach_the_cgroup(cli):
    out = cli("run", "--rm", "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
              "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max").stdout.split()
    assert out == [str(64 * 1024 * 1024), "50"]


def _wait_for(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_restart_policy_on_failure_counts_retries(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--restart", "on-failure:2", "--name", n, "busybox", "sh", "-c", "echo try; exit 3")
    _wait_for(lambda: inspect(daemon, n)["RestartCount"] == 2 and inspect(daemon, n)["State"]["Status"] == "exited",
              timeout=20)
    assert cli("logs", n).stdout == "try\ntry\ntry\n"
    assert inspect(daemon, n)["State"]["ExitCode"] == 3


def test_restart_policy_always_until_stopped(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--restart", "always", "--name", n, "busybox", "sh", "-c", "echo up; sleep 0.3")
    _wait_for(lambda: inspect(daemon, n)["RestartCount"] >= 2, timeout=20)
    cli("stop", "-t", "1", n)
    count = inspect(daemon, n)["RestartCount"]
    time.sleep(1.5)
    state = inspect(daemon, n)
    assert state["State"]["Status"] == "exited" and state["RestartCount"] == count


def test_kill_disables_the_restart_policy_until_the_next_start(daemon, cli, container_cleanup):
    """As Docker: a fatal kill (SIGKILL; any signal without a StopSignal; the StopSignal) keeps
    the policy from restarting the container; a non-fatal one does too for unless-stopped only."""
    trap = 'trap "exit 3" USR1; sleep 300 & wait'
    cases = {("unless-stopped", "KILL", ()): "exited", ("always", "USR1", ()): "exited",
             ("always", "USR1", ("--stop-signal", "TERM")): "running",
             ("unless-stopped", "USR1", ("--stop-signal", "TERM")): "exited"}
    names = {}
    for (policy, sig, extra) in cases:
        n = names[(policy, sig, extra)] = name()
        container_cleanup.append(n)
        cli("run", "-d", "--restart", policy, *extra, "--name", n, "busybox", "sh", "-c", trap)
    time.sleep(0.5)  # the shell has set its trap
    for (policy, sig, extra), n in names.items():
        cli("kill", "-s", sig, n)
    time.sleep(1.5)
    got = {key: inspect(daemon, n)["State"]["Status"] for key, n in names.items()}
    assert got == cases
    # the next start brings the policy back: the process dying on its own is restarted
    n = names[("unless-stopped", "KILL", ())]
    cli("start", n)
    os.kill(inspect(daemon, n)["State"]["Pid"], signal.SIGKILL)
    _wait_for(lambda: inspect(daemon, n)["RestartCount"] == 1 and inspect(daemon, n)["State"]["Running"])


def test_autoremove_with_restart_policy_is_refused(client):
    import docker as sdk

    with pytest.raises(sdk.errors.APIError) as e:  # the CLI refuses this itself; the daemon must too
        client.api.create_container("busybox", "true", host_config=client.api.create_host_config(
            auto_remove=True, restart_policy={"Name": "always"}))
    assert e.value.status_code == 400
    assert "can't create 'AutoRemove' container with restart policy" in str(e.value)


def test_ps_size_counts_the_containers_writes(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "--name", n, "busybox", "sh", "-c", "head -c 300000 /dev/zero > /root/blob")
    size = cli("ps", "-a", "-s", "--filter", f"name={n}", "--format", "{{.Size}}").stdout.strip()
    own = size.split()[0]
    assert own.endswith("kB") and 300 <= float(own[:-2]) < 320, size  # the file, plus the dirs around it
    assert "virtual" in size


def test_detach_keys_leave_the_container_running(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "run", "-it", "--name", n, "busybox", "sh"], daemon.env)
    try:
        _set_size(fd, 24, 80)
        _expect(fd, b"# ")
        os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    assert inspect(daemon, n)["State"]["Running"] is True


def test_logs_since_and_until(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "--name", n, "busybox", "sh", "-c", "echo early; sleep 1.5; echo late")
    stamped = cli("logs", "-t", n).stdout.splitlines()
    late_time = stamped[1].split(" ", 1)[0]
    assert cli("logs", "--since", late_time, n).stdout == "late\n"
    assert cli("logs", "--until", late_time[:19] + "Z", n).stdout == "early\n"


def test_ps_limit_before_since(daemon, cli, container_cleanup):
    first, second, third = name(), name(), name()
    container_cleanup.extend([first, second, third])
    for n in (first, second, third):
        cli("create", "--name", n, "busybox", "true")
    assert cli("ps", "-a", "-n", "1", "--format", "{{.Names}}").stdout.split() == [third]
    before = cli("ps", "-a", "--filter", f"before={third}", "--format", "{{.Names}}").stdout.split()
    assert before[:2] == [second, first]
    since = cli("ps", "-a", "--filter", f"since={first}", "--format", "{{.Names}}").stdout.split()
    assert since == [third, second]
