"""cgroup v2 for real, in the guest: every resource (rdma on a soft-RoCE device), `update`, freeze,
OOM events, stats, the device eBPF program and the cgroup mount, each against runc
(tests/runtime/test_rt_cgroups_v2.py), and the daemon on v2: run flags, `docker stats`,
`docker update`, OOMKilled, devices (tests/compat/test_cgroup_v2.py). ~3 min under TCG."""

from __future__ import annotations

import sys

V2_TESTS = "tests/runtime/test_rt_cgroups_v2.py tests/compat/test_cgroup_v2.py"


def test_cgroup_v2_runtime_and_daemon(guest):
    # loop: a block device for io.max; only the hybrid-host rerun of the module skips
    res = guest(f"modprobe loop; {sys.executable} -m pytest -q -p no:cacheprovider -rfEs {V2_TESTS}", timeout=1200)
    assert res.returncode == 0, res.output[-8000:] + res.console[-2000:]
    assert "1 skipped" in res.output and "only on a hybrid host" in res.output, res.output[-3000:]
