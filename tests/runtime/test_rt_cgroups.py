"""cgroup v1 resources, as seen from the host and from inside (v2: test_rt_cgroups_v2.py)."""

from __future__ import annotations

import json
import os

from conftest import CGROUP_PARENT, cgroup_exists, run_in, v1_only


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


@v1_only
def test_cgroup_path_default(ours, bundle):
    """No cgroupsPath: ours uses /<id> (runc 1.1 nests it under its own cgroup)."""
    rt = ours
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    del bundle.spec["linux"]["cgroupsPath"]
    bundle.write()
    rt.ok("create", "--bundle", bundle.path, cid)
    try:
        assert os.path.isdir(f"/sys/fs/cgroup/memory/{cid}")
        assert json.loads(rt.ok("ps", "--format", "json", cid)) == [rt.state(cid)["pid"]]
    finally:
        rt.ok("delete", "--force", cid)
    assert not os.path.isdir(f"/sys/fs/cgroup/memory/{cid}")


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
