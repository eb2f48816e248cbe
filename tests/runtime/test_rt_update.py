"""`update`: new limits in a live container's cgroups, as runc writes them (runc is the oracle)."""

from __future__ import annotations

import json
import time

from conftest import CGROUP_PARENT, reap, v1_only


def _cg(controller, cid, name):
    with open(f"/sys/fs/cgroup/{controller}{CGROUP_PARENT}/{cid}/{name}") as f:
        return f.read().strip()


def _running(rt, bundle, script="sleep 100", memory=64 << 20):
    cid = rt.new_id()
    bundle.spec["linux"]["resources"]["memory"] = {"limit": memory, "swap": 2 * memory}
    bundle.spec["linux"]["resources"]["cpu"] = {"shares": 1024}
    bundle.args("sh", "-c", script).write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    return cid


@v1_only
def test_update_resources_json(rt, bundle):
    cid = _running(rt, bundle)
    resources = {"memory": {"limit": 128 << 20, "swap": 256 << 20, "reservation": 32 << 20},
                 "cpu": {"shares": 256, "quota": 20000, "period": 50000, "cpus": "0"},
                 "pids": {"limit": 20}}
    rt.ok("update", "--resources", "-", cid, input=json.dumps(resources))
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(128 << 20)
    assert _cg("memory", cid, "memory.memsw.limit_in_bytes") == str(256 << 20)
    assert _cg("memory", cid, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _cg("cpu", cid, "cpu.shares") == "256"
    assert _cg("cpu", cid, "cpu.cfs_quota_us") == "20000"
    assert _cg("cpu", cid, "cpu.cfs_period_us") == "50000"
    assert _cg("cpuset", cid, "cpuset.cpus") == "0"
    assert _cg("pids", cid, "pids.max") == "20"
    # lowering both again: the limit goes first, then swap
    rt.ok("update", "--resources", "-", cid, input=json.dumps({"memory": {"limit": 16 << 20, "swap": 32 << 20}}))
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(16 << 20)
    assert _cg("memory", cid, "memory.memsw.limit_in_bytes") == str(32 << 20)
    assert rt.state(cid)["status"] == "running"


@v1_only
def test_update_flags(rt, bundle):
    cid = _running(rt, bundle)
    rt.ok("update", "--memory", "96m", "--memory-swap", "192m", "--cpu-share", "100", "--pids-limit", "10",
          "--cpu-quota", "30000", cid)
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(96 << 20)
    assert _cg("memory", cid, "memory.memsw.limit_in_bytes") == str(192 << 20)
    assert _cg("cpu", cid, "cpu.shares") == "100"
    assert _cg("cpu", cid, "cpu.cfs_quota_us") == "30000"
    assert _cg("pids", cid, "pids.max") == "10"
    # unchanged values stay
    rt.ok("update", "--pids-limit", "12", cid)
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(96 << 20)
    assert _cg("pids", cid, "pids.max") == "12"


@v1_only
def test_update_below_usage_fails(rt, bundle):
    cid = _running(rt, bundle, "dd if=/dev/zero of=/dev/shm/x bs=1M count=24 2>/dev/null; touch /dev/shm/done; sleep 100")
    deadline = time.monotonic() + 10
    while int(_cg("memory", cid, "memory.usage_in_bytes")) < 20 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    res = rt.cmd("update", "--memory", "8m", cid)
    assert res.returncode != 0
    assert "unable to set memory limit to 8388608 (current usage: " in res.stderr, res.stderr
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(64 << 20)
    assert rt.state(cid)["status"] == "running"


def test_update_stopped_or_missing(rt, bundle):
    cid = rt.new_id()
    bundle.args("true").write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    rt.wait_status(cid, "stopped")
    reap()
    assert rt.cmd("update", "--memory", "32m", cid).returncode != 0
    assert rt.cmd("update", "--memory", "32m", "nosuchctr").returncode != 0
