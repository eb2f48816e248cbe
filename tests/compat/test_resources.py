"""Resource and security flags of `docker run`, each observed from inside the container;
OOM kills; `--init`. Bad values get Docker's texts."""

import os
import subprocess
import threading
import time
import uuid

import pytest

from .conftest import DOCKER, host_takes_blkio_weight, inspect

v1_only = pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                             reason="reads cgroup v1 files (v2: test_cgroup_v2.py)")


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def run_out(cli, *args: str) -> list[str]:
    """`docker run --rm ARGS` and its output lines."""
    return cli("run", "--rm", *args).stdout.splitlines()


@v1_only
def test_cpu_memory_pids_flags_in_cgroup(cli):
    cg = "/sys/fs/cgroup"
    lines = run_out(cli, "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--memory", "32m",
                    "--memory-swap", "64m", "--memory-reservation", "16m", "--pids-limit", "42",
                    "--blkio-weight", "300", "busybox", "sh", "-c",
                    f"cat {cg}/cpu/cpu.cfs_quota_us {cg}/cpu/cpu.cfs_period_us {cg}/cpu/cpu.shares "
                    f"{cg}/cpuset/cpuset.cpus {cg}/memory/memory.limit_in_bytes {cg}/memory/memory.memsw.limit_in_bytes "
                    f"{cg}/memory/memory.soft_limit_in_bytes {cg}/pids/pids.max; "
                    f"cat {cg}/blkio/blkio.weight 2>/dev/null || cat {cg}/blkio/blkio.bfq.weight")
    # Docker's sysinfo: a weight file at the blkio hierarchy's root, else the weight is discarded (with a
    # warning, tests/compat/test_compose_features.py) and the cgroup keeps the kernel's default
    weighted = host_takes_blkio_weight()
    assert lines[:8] == ["50000", "100000", "512", "0", str(32 << 20), str(64 << 20), str(16 << 20), "42"]
    assert (lines[8] == "300") is weighted, lines[8]


def test_pids_limit_stops_forks(cli):
    out = cli("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c",
              "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait", check=False)
    assert "can't fork" in out.stdout + out.stderr or "Resource temporarily unavailable" in out.stdout + out.stderr


def test_shm_size_sysctl_ulimit(cli):
    lines = run_out(cli, "--shm-size", "10m", "--sysctl", "net.ipv4.ip_forward=1",
                    "--sysctl", "kernel.shm_rmid_forced=1", "--ulimit", "nofile=1234:2345", "--ulimit", "nproc=77:88",
                    "busybox", "sh", "-c",
                    "df -k /dev/shm | awk 'NR==2 {print $2}'; cat /proc/sys/net/ipv4/ip_forward "
                    "/proc/sys/kernel/shm_rmid_forced; ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu")
    assert lines == ["10240", "1", "1", "1234", "2345", "77", "88"]


def test_devices_and_group_add(cli):
    lines = run_out(cli, "--device", "/dev/fuse", "--device", "/dev/cpu_dma_latency:/dev/lat:r", "--group-add", "1234",
                    "--group-add", "daemon", "busybox", "sh", "-c",
                    "stat -c '%t:%T %F' /dev/fuse /dev/lat; id -G; head -c0 /dev/lat && echo read-ok; "
                    "(: > /dev/fuse) 2>/dev/null && echo fuse-write-ok; (: > /dev/lat) 2>/dev/null || echo lat-write-denied")
    assert lines[:2] == ["a:e5 character special file", "a:103 character special file"]
    assert set(lines[2].split()) == {"0", "1234", "1"}   # the image's /etc/group: daemon is 1
    assert lines[3:] == ["read-ok", "fuse-write-ok", "lat-write-denied"]   # the device cgroup's "r"


def _caps(lines: list[str]) -> dict[str, int]:
    return {k.rstrip(":"): int(v, 16) for k, v in (line.split() for line in lines)}


CAP_CHOWN, CAP_NET_ADMIN, CAP_SYS_ADMIN = 0, 12, 21


def test_cap_add_drop_privileged_no_new_privileges(cli):
    caps = _caps(run_out(cli, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "busybox", "grep", "CapEff",
                         "/proc/self/status"))
    assert caps["CapEff"] & (1 << CAP_NET_ADMIN) and not caps["CapEff"] & (1 << CAP_CHOWN)
    default = _caps(run_out(cli, "busybox", "grep", "CapEff", "/proc/self/status"))["CapEff"]
    assert default & (1 << CAP_CHOWN) and not default & (1 << CAP_NET_ADMIN)
    lines = run_out(cli, "--privileged", "busybox", "sh", "-c",
                    "grep CapEff /proc/self/status; test -e /dev/fuse && echo has-host-devices")
    assert _caps(lines[:1])["CapEff"] & (1 << CAP_SYS_ADMIN) and lines[1] == "has-host-devices"
    assert run_out(cli, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs",
                   "/proc/self/status") == ["NoNewPrivs:\t1"]
    assert run_out(cli, "busybox", "grep", "NoNewPrivs", "/proc/self/status") == ["NoNewPrivs:\t0"]
    # privileged and no-new-privileges together: as Docker (measured with Engine 20.10, runc 1.1)
    assert run_out(cli, "--privileged", "--security-opt", "no-new-privileges", "busybox", "grep", "-E",
                   "^(NoNewPrivs|Seccomp):", "/proc/self/status") == ["NoNewPrivs:\t1", "Seccomp:\t0"]


@v1_only
def test_oom_score_adj_and_oom_kill_disable(cli):
    lines = run_out(cli, "--oom-score-adj", "300", "--oom-kill-disable", "-m", "32m", "busybox", "sh", "-c",
                    "cat /proc/self/oom_score_adj; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control")
    assert lines == ["300", "oom_kill_disable 1"]


def test_stop_signal_and_stop_timeout(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c",
        "trap 'echo got-usr1' USR1; while :; do sleep 0.1; done")
    time.sleep(0.3)
    t0 = time.monotonic()
    cli("stop", n)
    elapsed = time.monotonic() - t0
    assert 0.9 < elapsed < 5      # USR1 does not end it: killed after the 1 s stop timeout
    c = inspect(daemon, n)
    assert c["Config"]["StopSignal"] == "USR1" and c["Config"]["StopTimeout"] == 1
    assert c["State"]["ExitCode"] == 137
    assert "got-usr1" in cli("logs", n).stdout


def test_oom_kill_is_reported(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    events = subprocess.Popen([DOCKER, "events", "--filter", f"container={n}", "--format", "{{.Action}}"],
                              stdout=subprocess.PIPE, text=True, env=daemon.env)
    try:
        time.sleep(0.3)
        out = cli("run", "--name", n, "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
                  "x=0123456789abcdef; while :; do x=$x$x; done", check=False, timeout=60)
        assert out.returncode == 137
        state = inspect(daemon, n)["State"]
        assert state["OOMKilled"] is True and state["ExitCode"] == 137 and state["Status"] == "exited"
        deadline = time.monotonic() + 5
        seen: list[str] = []
        threading.Timer(5, events.terminate).start()
        for line in events.stdout:
            seen.append(line.strip())
            if line.strip() == "die" or time.monotonic() > deadline:
                break
        assert "oom" in seen and seen.index("oom") < seen.index("die"), seen
    finally:
        events.terminate()
        events.wait()


def _zombies_under_pid1(daemon, cli, container_cleanup, *flags: str) -> int:
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, *flags, "busybox", "sh", "-c", "sh -c 'sleep 0.1 &'; exec sleep 30")
    time.sleep(1)
    pid = inspect(daemon, n)["State"]["Pid"]
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    if flags:   # PID 1 is docker-init; its child is the container's command (pid 2 inside)
        with open(f"/proc/{children[0]}/task/{children[0]}/children") as f:
            assert f.read().split() == []
    states = []
    for c in children:
        with open(f"/proc/{c}/stat") as f:
            states.append(f.read().rsplit(")", 1)[1].split()[0])
    cli("rm", "-f", n)
    return states.count("Z")


def test_init_is_pid1_reaps_zombies_forwards_signals(daemon, cli, container_cleanup):
    lines = run_out(cli, "--init", "busybox", "ps", "-o", "pid,comm,args")
    assert lines[1].split()[:3] == ["1", "docker-init", "/sbin/docker-init"]
    # an orphan re-parented to PID 1 is reaped by docker-init; `sleep` as PID 1 leaves a zombie
    assert _zombies_under_pid1(daemon, cli, container_cleanup, "--init") == 0
    assert _zombies_under_pid1(daemon, cli, container_cleanup) == 1
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--init", "--name", n, "busybox", "sh", "-c",
        "trap 'echo got-term; exit 7' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)
    t0 = time.monotonic()
    cli("stop", n)
    assert time.monotonic() - t0 < 5
    c = inspect(daemon, n)
    assert c["State"]["ExitCode"] == 7 and c["HostConfig"]["Init"] is True and c["Path"] == "sh"
    assert cli("logs", n).stdout.strip() == "got-term"


@pytest.mark.parametrize("flags, message", [
    (["--cpus", "99"], "Range of CPUs is from 0.01 to "),
    (["--memory", "1k"], "Minimum memory limit allowed is 6MB"),
    (["--memory-swap", "20m"], "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (["--memory", "10m", "--memory-swap", "8m"], "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (["--memory-reservation", "1k"], "Minimum memory reservation allowed is 6MB"),
    (["--memory", "8m", "--memory-reservation", "10m"],
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    (["--blkio-weight", "5"], "Range of blkio weight is from 10 to 1000"),
    (["--cpuset-cpus", "99"], "Requested CPUs are not available - requested 99, available: "),
    (["--cpu-shares", "-5"], "shares: invalid argument"),
    (["--cpu-period", "10"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    (["--cpu-quota", "10"], "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (["--device", "/dev/nonexist"],
     'error gathering device information while adding custom device "/dev/nonexist": no such file or directory'),
    (["--cap-add", "FOO"], 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    (["--cap-drop", "BAR"], 'invalid CapDrop: unknown capability: "CAP_BAR"'),
    (["--security-opt", "no-new-privileges=bogus"], 'invalid --security-opt 2: "no-new-privileges=bogus"'),
    (["--oom-score-adj", "2000"], "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
    (["--stop-signal", "FOO"], "Invalid signal: FOO"),
    (["--group-add", "nosuchgroup"], "Unable to find group nosuchgroup: no matching entries in group file"),
])
def test_bad_values_get_dockers_errors(cli, flags, message):
    out = cli("run", "--rm", *flags, "busybox", "true", check=False, timeout=30)
    assert out.returncode in (125, 127), out   # the CLI says 127 for "no such file"
    assert f"Error response from daemon: {message}" in out.stderr, out.stderr


def test_daemon_init_default_and_init_path():
    """daemon.json `init: true` gives every container docker-init (`--init=false` opts out);
    `init-path` names the binary bound at /sbin/docker-init."""
    from .conftest import docker, private_daemon

    with private_daemon("i", daemon_json={"init": True, "init-path": "/usr/bin/tini-static"}) as d:
        out = docker(d, "run", "--rm", "busybox", "sh", "-c", "ps -o pid,comm | sed -n 2p; "
                     "/sbin/docker-init --version").stdout.splitlines()
        assert out[0].split() == ["1", "docker-init"] and out[1].startswith("tini version")
        out = docker(d, "run", "--rm", "--init=false", "busybox", "ps", "-o", "pid,comm").stdout.splitlines()
        assert out[1].split() == ["1", "ps"]


def test_oom_of_a_child_is_reported_while_the_container_lives(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    events = subprocess.Popen([DOCKER, "events", "--filter", f"container={n}", "--filter", "event=oom",
                               "--format", "{{.Action}}"], stdout=subprocess.PIPE, text=True, env=daemon.env)
    try:
        time.sleep(0.3)
        cli("run", "-d", "--name", n, "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
            "sh -c 'x=0123456789abcdef; while :; do x=$x$x; done'; echo child-killed; sleep 100")
        threading.Timer(10, events.terminate).start()
        assert events.stdout.readline().strip() == "oom"
        state = inspect(daemon, n)["State"]
        assert state["Running"] is True and state["OOMKilled"] is True
        cli("kill", n)
        assert inspect(daemon, n)["State"]["OOMKilled"] is True
        assert "child-killed" in cli("logs", n).stdout
    finally:
        events.terminate()
        events.wait()
    # one oom event for one kill, none added at exit
    out = cli("events", "--since", "60s", "--until", str(int(time.time()) + 1), "--filter", f"container={n}",
              "--format", "{{.Action}}").stdout.split()
    assert out.count("oom") == 1 and out.index("oom") < out.index("die"), out
