"""cgroup v1 resources, as seen from the host and from inside (v2: test_rt_cgroups_v2.py)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import CGROUP_PARENT, CGROUP_V2, cgroup_exists, run_in, v1_only

from dockerd_runtime.cgroups.manager import own_cgroups
from dockerd_runtime.cgroups.v1 import hierarchies


def _cg(controller, cid, name):
    with open(f"/sys/fs/cgroup/{controller}{CGROUP_PARENT}/{cid}/{name}") as f:
        return f.read().strip()


@v1_only
def test_resources_applied(rt, bundle):
    cid = rt.new_id()
    bundle.spec["linux"]["resources"].update({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 50},
    })
    bundle.args("sleep", "100").write(cid)
    rt.ok("create", "--bundle", bundle.path, cid)
    pid = rt.state(cid)["pid"]
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(64 << 20)
    assert _cg("memory", cid, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _cg("cpu", cid, "cpu.shares") == "512"
    assert _cg("cpu", cid, "cpu.cfs_quota_us") == "50000"
    assert _cg("cpuset", cid, "cpuset.cpus") == "0"
    assert _cg("pids", cid, "pids.max") == "50"
    for controller in ("memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio"):
        assert str(pid) in _cg(controller, cid, "cgroup.procs").split(), controller
    rt.ok("delete", "--force", cid)
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


@v1_only
def test_memory_limit_visible_inside(rt, bundle):
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 48 << 20}
    res = run_in(rt, bundle, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /proc/self/cgroup | grep -c memory")
    assert res.stdout.split()[0] == str(48 << 20), res.stderr


def test_device_cgroup_denies(rt, bundle):
    # deny-all plus runc's defaults: /dev/null usable, a mknod'd disk node not
    bundle.spec["linux"]["devices"] = [{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 200,
                                        "fileMode": 0o600, "uid": 0, "gid": 0}]
    res = run_in(rt, bundle, "echo ok > /dev/null && echo null-ok; head -c1 /dev/loopx; echo rc=$?;"
                             " stat -c '%t:%T' /dev/loopx")
    lines = res.stdout.splitlines()
    assert lines[0] == "null-ok" and lines[1] == "rc=1" and lines[2] == "7:c8"
    assert "Operation not permitted" in res.stderr


def _own_cgroup(controller: str) -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path.rstrip("/")
    raise AssertionError(f"no {controller} line in /proc/self/cgroup")


@v1_only
@pytest.mark.parametrize("cgroups_path", [None, "dpr-rel-{pid}/{cid}"])
def test_cgroup_path_relative(rt, bundle, cgroups_path):
    """No cgroupsPath (runc's default: the id) or a relative one: below the
    runtime's own cgroup in each hierarchy, as runc does (the caller here sits in
    a non-root memory cgroup on this host, so the difference shows)."""
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rel = cgroups_path.format(pid=os.getpid(), cid=cid) if cgroups_path else cid
    if cgroups_path:
        bundle.spec["linux"]["cgroupsPath"] = rel
    else:
        del bundle.spec["linux"]["cgroupsPath"]
    bundle.write()
    rt.ok("create", "--bundle", bundle.path, cid)
    try:
        pid = rt.state(cid)["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            inside = {names: path for _, names, path in (line.rstrip("\n").split(":", 2) for line in f)}
        for controller in ("memory", "pids", "cpu"):
            want = f"{_own_cgroup(controller)}/{rel}"
            assert any(controller in names.split(",") and path == want for names, path in inside.items()), \
                (controller, inside)
        assert json.loads(rt.ok("ps", "--format", "json", cid)) == [pid]
    finally:
        rt.ok("delete", "--force", cid)
    for name, mnt in hierarchies().items():
        below = own_cgroups().get("" if name == "unified" else name, "/").rstrip("/")
        assert not os.path.isdir(f"{mnt}{below}/{rel}"), (rt, name)
        if cgroups_path:
            os.rmdir(f"{mnt}{below}/{os.path.dirname(rel)}")


def test_parallel_creates_new_parent(rt, bundle, tmp_path):
    """Concurrent creates under a cgroup parent that does not exist yet."""
    import threading

    parent = f"/dpr-par-{rt.name}-{os.getpid()}"
    ids = [rt.new_id() for _ in range(6)]
    results = {}

    def one(cid):
        b = tmp_path / cid
        b.mkdir()
        cfg = json.loads(json.dumps(bundle.spec))
        cfg["process"]["args"] = ["true"]
        cfg["linux"]["cgroupsPath"] = f"{parent}/{cid}"
        (b / "config.json").write_text(json.dumps(cfg))
        results[cid] = rt.cmd("run", "--bundle", str(b), cid)

    threads = [threading.Thread(target=one, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
    finally:
        for c in ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio", "systemd",
                  "unified", ""):  # "": a v2 host
            for cid in ids:
                try:
                    os.rmdir(f"/sys/fs/cgroup/{c}{parent}/{cid}")
                except OSError:
                    pass
            try:
                os.rmdir(f"/sys/fs/cgroup/{c}{parent}")
            except OSError:
                pass


@v1_only
@pytest.mark.skipif("rdma" in hierarchies(), reason="an rdma hierarchy is mounted here")
def test_rdma_limit_without_rdma_hierarchy(rt, bundle):
    """cgroup v1 without an rdma hierarchy: limits that cannot be written are refused, as runc does."""
    bundle.spec["linux"]["resources"]["rdma"] = {"mlx4_0": {"hcaHandles": 3}}
    res = run_in(rt, bundle, "true")
    assert res.returncode == 1
    assert "cannot set rdma limit: container could not join or create cgroup" in res.stderr


rdma_v1 = pytest.mark.skipif(CGROUP_V2 or "rdma" not in hierarchies(),
                             reason="needs a cgroup v1 rdma hierarchy (tests/vm mounts one in a guest)")


@rdma_v1
def test_rdma_v1_limits_create_update_delete(pair, bundle, rxe):
    """rdma.max of a v1 rdma hierarchy as runc writes it; `update` leaves it (as runc 1.1)."""
    seen, made = [], []
    for rt in pair:
        cid = rt.new_id()
        bundle.spec["linux"]["resources"]["rdma"] = {rxe.name: {"hcaHandles": 3, "hcaObjects": 7}}
        bundle.args("sleep", "100").write(cid)
        rt.ok("run", "--detach", "--bundle", bundle.path, cid)
        row = [_cg("rdma", cid, "rdma.max"), str(rt.state(cid)["pid"]) in _cg("rdma", cid, "cgroup.procs").split()]
        rt.ok("update", "--resources", "-", cid, input=json.dumps({"rdma": {rxe.name: {"hcaHandles": 9}}}))
        row.append(_cg("rdma", cid, "rdma.max"))
        seen.append(row)
        made.append((rt, cid))
    limits = f"{rxe.name} hca_handle=3 hca_object=7"
    assert seen[0] == seen[1] == [limits, True, limits]
    rxe.remove()  # before the cgroups go (see conftest.SoftRoce)
    for rt, cid in made:
        rt.ok("delete", "--force", cid)
        assert not os.path.exists(f"/sys/fs/cgroup/rdma{CGROUP_PARENT}/{cid}")


@rdma_v1
def test_rdma_v1_unknown_device(pair, bundle):
    results = []
    for rt in pair:
        bundle.spec["linux"]["resources"]["rdma"] = {"nosuchhca0": {"hcaHandles": 1}}
        res = run_in(rt, bundle, "true")
        err = res.stderr.lower()
        results.append((res.returncode, "nosuchhca0 hca_handle=1" in err, "no such device" in err,
                        os.path.exists(f"/sys/fs/cgroup/rdma{CGROUP_PARENT}/{rt.ids[-1]}")))
    assert results[0] == results[1] == (1, True, True, False), results
