"""`docker update`: new limits visible in the container's cgroup and in inspect; Docker's refusals."""

import os
import time
import uuid

import pytest

from .conftest import host_takes_blkio_weight, inspect

v1_only = pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                             reason="reads cgroup v1 files (v2: test_cgroup_v2.py)")


def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def cgroup_file(daemon, container_id: str, controller: str, fname: str) -> str:
    parent = daemon.args[daemon.args.index("--cgroup-parent") + 1]
    with open(f"/sys/fs/cgroup/{controller}{parent}/{container_id}/{fname}") as f:
        return f.read().strip()


@v1_only
def test_update_memory_of_running_container(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "-m", "64m", "busybox", "sh", "-c",
              "while :; do cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 0.1; done").stdout.strip()
    assert cli("update", "--memory", "96m", "--memory-swap", "192m", n).stdout.strip() == n
    assert cgroup_file(daemon, cid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert cgroup_file(daemon, cid, "memory", "memory.memsw.limit_in_bytes") == str(192 << 20)
    hc = inspect(daemon, n)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"]) == (96 << 20, 192 << 20)
    # seen from inside the container too: it prints its own cgroup's limit
    deadline = time.monotonic() + 5
    while str(96 << 20) not in cli("logs", n).stdout.split() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli("logs", n).stdout.split()[-1] == str(96 << 20)
    limit = cli("stats", "--no-stream", "--format", "{{.MemUsage}}", n).stdout.split("/")[1].strip()
    assert limit == "96MiB"


@v1_only
def test_update_cpu_pids_and_restart_policy(daemon, cli, container_cleanup, client):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "busybox", "sleep", "100").stdout.strip()
    cli("update", "--cpus", "0.5", "--cpu-shares", "256", "--pids-limit", "20", "--cpuset-cpus", "0",
        "--memory-reservation", "16m", "--restart", "on-failure:3", n)
    assert cgroup_file(daemon, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(daemon, cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup_file(daemon, cid, "cpu", "cpu.shares") == "256"
    assert cgroup_file(daemon, cid, "pids", "pids.max") == "20"
    assert cgroup_file(daemon, cid, "cpuset", "cpuset.cpus") == "0"
    assert cgroup_file(daemon, cid, "memory", "memory.soft_limit_in_bytes") == str(16 << 20)
    hc = inspect(daemon, n)["HostConfig"]
    assert hc["NanoCpus"] == 500_000_000 and hc["CpuShares"] == 256 and hc["PidsLimit"] == 20
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    # docker-py: the same endpoint, answer {"Warnings": null}
    assert client.api.update_container(n, mem_limit="80m", memswap_limit="160m") == {"Warnings": None}
    assert cgroup_file(daemon, cid, "memory", "memory.limit_in_bytes") == str(80 << 20)
    # the update event
    events = cli("events", "--since", "60s", "--until", str(int(time.time()) + 1), "--filter", f"container={n}",
                 "--filter", "event=update", "--format", "{{.Action}}").stdout.split()
    assert events == ["update", "update"]


@v1_only
def test_update_below_usage_is_refused_and_nothing_changes(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "-m", "64m", "busybox", "sh", "-c",
              "dd if=/dev/zero of=/dev/shm/fill bs=1M count=30 2>/dev/null; sleep 100").stdout.strip()
    deadline = time.monotonic() + 10
    while int(cgroup_file(daemon, cid, "memory", "memory.usage_in_bytes")) < 28 << 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    out = cli("update", "--memory", "8m", "--memory-swap", "16m", n, check=False)
    assert out.returncode == 1
    assert f"Error response from daemon: Cannot update container {cid}: unable to set memory limit to 8388608 " \
           "(current usage: " in out.stderr
    assert cgroup_file(daemon, cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    hc = inspect(daemon, n)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"]) == (64 << 20, 128 << 20)
    assert inspect(daemon, n)["State"]["Running"]


@v1_only
def test_update_stopped_container_applies_at_start(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("create", "--name", n, "busybox", "sleep", "100").stdout.strip()
    cli("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "33", n)
    assert inspect(daemon, n)["HostConfig"]["Memory"] == 48 << 20
    cli("start", n)
    assert cgroup_file(daemon, cid, "memory", "memory.limit_in_bytes") == str(48 << 20)
    assert cgroup_file(daemon, cid, "pids", "pids.max") == "33"


def test_update_refusals(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cid = cli("run", "-d", "--name", n, "--cpus", "1", "busybox", "sleep", "100").stdout.strip()
    cases = [
        (["--memory", "100m"], f"Cannot update container {cid}: Memory limit should be smaller than already set "
                               "memoryswap limit, update the memoryswap at the same time"),
        (["--cpu-quota", "50000"], f"Cannot update container {cid}: Conflicting options: CPU Quota cannot be "
                                   "updated as NanoCPUs has already been set"),
        (["--memory", "1k", "--memory-swap", "2m"], "Minimum memory limit allowed is 6MB"),
        (["--restart", "sometimes"], "invalid restart policy: unknown policy 'sometimes'; use one of 'no', "
                                     "'always', 'on-failure', or 'unless-stopped'"),
        (["--cpuset-cpus", "99"], "Requested CPUs are not available - requested 99, available: "),
        (["--blkio-weight", "5"], "Range of blkio weight is from 10 to 1000"),
    ]
    for flags, message in cases:
        out = cli("update", *flags, n, check=False)
        assert out.returncode == 1, flags
        assert f"Error response from daemon: {message}" in out.stderr, (flags, out.stderr)
    assert cli("update", "--memory", "10m", "nosuchctr", check=False).stderr.strip().endswith(
        "No such container: nosuchctr")
    hc = inspect(daemon, n)["HostConfig"]
    assert hc["Memory"] == 0 and hc["NanoCpus"] == 10**9 and hc["RestartPolicy"]["Name"] == "no"


def test_a_blkio_weight_the_host_cannot_apply_is_discarded_with_a_warning(daemon, cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "100")
    out = cli("update", "--blkio-weight", "300", n).stdout
    warning = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
    if host_takes_blkio_weight():
        assert inspect(daemon, n)["HostConfig"]["BlkioWeight"] == 300 and out == f"{n}\n"
    else:   # as Docker's update (verifyPlatformContainerResources): warned, stored as 0, nothing applied
        assert inspect(daemon, n)["HostConfig"]["BlkioWeight"] == 0 and out == f"{n}\n{warning}\n"
