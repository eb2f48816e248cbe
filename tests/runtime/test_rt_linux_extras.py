"""personality, intelRdt, time namespaces. runc 1.1 (the oracle here) ignores
personality and has no time namespaces (runc 1.2 and the runtime-spec have
both): those are checked against what the kernel shows; intelRdt against runc."""

from __future__ import annotations

import os

import pytest

from conftest import cgroup_exists, CGROUP_PARENT, run_in


def test_personality_linux32(ours, bundle):
    bundle.spec["linux"]["personality"] = {"domain": "LINUX32"}
    res = run_in(ours, bundle, "uname -m")
    assert (res.returncode, res.stdout) == (0, "i686\n")


def test_personality_linux_same_as_runc(pair, bundle):
    bundle.spec["linux"]["personality"] = {"domain": "LINUX"}
    outputs = [(r.returncode, r.stdout) for r in (run_in(rt, bundle, "uname -m") for rt in pair)]
    assert outputs[0] == outputs[1] == (0, os.uname().machine + "\n")


def test_personality_bad_domain_refused(ours, bundle):
    cid = ours.new_id()
    bundle.spec["linux"]["personality"] = {"domain": "SVR4"}
    bundle.write(cid)
    res = ours.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1 and "personality" in res.stderr
    assert not os.path.exists(os.path.join(ours.root, cid))


@pytest.mark.skipif(any(" - resctrl " in line for line in open("/proc/self/mountinfo")),
                    reason="resctrl is mounted here")
@pytest.mark.parametrize("rdt,needle,code", [
    ({"l3CacheSchema": "L3:0=f"}, "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled", 1),
    ({"memBwSchema": "MB:0=50"}, "intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled", 1),
    ({"closID": "x"}, "", 0),
])
def test_intel_rdt_without_resctrl_as_runc(pair, bundle, rdt, needle, code):
    bundle.spec["linux"]["intelRdt"] = rdt
    for rt in pair:
        cid = rt.new_id()
        bundle.args("true").write(cid)
        res = rt.cmd("run", "--bundle", bundle.path, cid)
        assert res.returncode == code, (rt, res.stderr)
        assert needle in res.stderr
        assert not os.path.exists(os.path.join(rt.root, cid))
        assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


needs_timens = pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces")


@needs_timens
def test_time_namespace_offsets(ours, bundle):
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    bundle.spec["linux"]["namespaces"].append({"type": "time"})
    bundle.spec["linux"]["timeOffsets"] = {"boottime": {"secs": 1_000_000, "nanosecs": 0},
                                           "monotonic": {"secs": 3600, "nanosecs": 0}}
    cid = ours.new_id()
    bundle.args("sleep", "30").write(cid)
    ours.ok("run", "--detach", "--bundle", bundle.path, cid)
    pid = ours.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/time") != os.readlink("/proc/self/ns/time")
    ex = ours.cmd("exec", cid, "sh", "-c", "cat /proc/uptime; readlink /proc/self/ns/time")
    uptime, ns = ex.stdout.split()[0], ex.stdout.split()[-1]
    assert 1_000_000 <= float(uptime) - host_uptime < 1_000_100
    assert ns == os.readlink(f"/proc/{pid}/ns/time")  # exec joined it


@needs_timens
def test_time_offsets_without_namespace_refused(ours, bundle):
    cid = ours.new_id()
    bundle.spec["linux"]["timeOffsets"] = {"boottime": {"secs": 1, "nanosecs": 0}}
    bundle.write(cid)
    res = ours.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1 and "time namespace" in res.stderr
