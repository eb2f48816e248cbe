"""Any runc-compatible runtime can stand in for ours: run, stop and logs with runc and crun."""

import uuid

import pytest

from .conftest import CRUN, RUNC, inspect

def _crun_usable() -> bool:
    """crun refuses hybrid cgroup hosts whose v2 hierarchy holds a controller (hugetlb, here)."""
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            return not f.read().strip()
    except FileNotFoundError:
        return True


RUNTIMES = ["dockerd-py-runc"] + (["runc"] if RUNC else []) + [
    pytest.param("crun", marks=pytest.mark.skipif(not CRUN or not _crun_usable(),
                                                  reason="crun is missing or refuses this host's hybrid cgroups"))]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_run_stop_logs_with_runtime(daemon, cli, container_cleanup, runtime):
    assert cli("run", "--rm", "--runtime", runtime, "busybox", "echo", "hi").stdout == "hi\n"
    n = "rt" + uuid.uuid4().hex[:8]
    container_cleanup.append(n)
    cli("run", "-d", "--runtime", runtime, "--name", n, "busybox", "sh", "-c",
        "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done")
    assert inspect(daemon, n)["HostConfig"]["Runtime"] == runtime
    cli("stop", "-t", "5", n)
    assert cli("logs", n).stdout == "up\nbye\n"
    assert inspect(daemon, n)["State"]["ExitCode"] == 0


def test_unknown_runtime_is_400(cli):
    out = cli("run", "--rm", "--runtime", "nosuch", "busybox", "true", check=False)
    assert out.returncode != 0 and "Unknown runtime specified nosuch" in out.stderr
