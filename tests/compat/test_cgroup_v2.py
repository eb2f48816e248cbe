"""Docker on a pure cgroup v2 host: run flags in the v2 files, `docker stats`, `docker update`,
OOMKilled, the cgroup namespace, devices. Skipped off v2 (they run in the tests/vm guest)."""

import os
import uuid

import pytest

from .conftest import inspect

pytestmark = pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                                reason="needs a pure cgroup v2 host (the tests/vm guest)")


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def cgroup_file(daemon, container_id: str, fname: str) -> str:
    parent = daemon.args[daemon.args.index("--cgroup-parent") + 1]
    with open(f"/sys/fs/cgroup{parent}/{container_id}/{fname}") as f:
        return f.read().strip()


def test_run_flags_in_v2_files(cli):
    """Seen from inside (a private cgroup namespace by default on v2: /sys/fs/cgroup is the container's)."""
    lines = cli("run", "--rm", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--memory", "32m",
                "--memory-swap", "64m", "--memory-reservation", "16m", "--pids-limit", "42", "busybox", "sh", "-c",
                "cd /sys/fs/cgroup; cat cpu.max cpu.weight cpuset.cpus memory.max memory.swap.max memory.low "
                "pids.max; cat /proc/self/cgroup").stdout.splitlines()
    assert lines == ["50000 100000", "20", "0", str(32 << 20), str(32 << 20), str(16 << 20), "42", "0::/"]


def test_stats_and_update(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "-m", "64m", "busybox", "sleep", "100").stdout.strip()
    assert cli("stats", "--no-stream", "--format", "{{.MemUsage}}", n).stdout.split("/")[1].strip() == "64MiB"
    cli("update", "--memory", "96m", "--memory-swap", "192m", "--cpu-shares", "100", "--pids-limit", "9", n)
    assert cgroup_file(daemon, cid, "memory.max") == str(96 << 20)
    assert cgroup_file(daemon, cid, "memory.swap.max") == str(96 << 20)
    assert cgroup_file(daemon, cid, "cpu.weight") == "4"
    assert cgroup_file(daemon, cid, "pids.max") == "9"
    assert cli("stats", "--no-stream", "--format", "{{.MemUsage}}", n).stdout.split("/")[1].strip() == "96MiB"
    cli("pause", n)
    assert cgroup_file(daemon, cid, "cgroup.freeze") == "1"
    cli("unpause", n)
    assert cgroup_file(daemon, cid, "cgroup.freeze") == "0"


def test_oom_killed(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    out = cli("run", "--name", n, "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
              "x=0123456789abcdef; while :; do x=$x$x; done", check=False, timeout=60)
    assert out.returncode == 137
    state = inspect(daemon, n)["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_devices_default_and_device_flag(cli):
    out = cli("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
              "echo x > /dev/mynull && echo mynull-ok; mknod /dev/kmsgx c 1 11 && echo mknod-ok; "
              "cat /dev/kmsgx; echo rc=$?", check=False)
    assert out.stdout.splitlines() == ["mynull-ok", "mknod-ok", "rc=1"], out
    assert "Operation not permitted" in out.stderr
