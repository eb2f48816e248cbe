"""cgroup v2: every resource, `update`, pause, OOM, device eBPF, delete, each against runc.

These need a pure v2 host (/sys/fs/cgroup a cgroup2 mount with controllers): they run
inside the tests/vm guest (`tests/vm`); elsewhere they skip. The device program tests
at the end need only some cgroup2 mount (a hybrid host's /sys/fs/cgroup/unified too).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from conftest import CGROUP_PARENT, CGROUP_V2, OOM_ON_GO, cgroup_exists, events_until_oom, reap, run_in, stats_keys

ROOT = "/sys/fs/cgroup"


def _controllers() -> set[str]:
    try:
        with open(f"{ROOT}/cgroup.controllers") as f:
            return set(f.read().split())
    except OSError:
        return set()


CONTROLLERS = _controllers()
v2 = pytest.mark.skipif(not CGROUP_V2, reason="needs a pure cgroup v2 host (the tests/vm guest)")


def needs(*ctrls: str):
    return pytest.mark.skipif(not CGROUP_V2 or not set(ctrls) <= CONTROLLERS,
                              reason=f"needs cgroup v2 with {', '.join(ctrls)}")


def _cg(cid: str, name: str) -> str:
    with open(f"{ROOT}{CGROUP_PARENT}/{cid}/{name}") as f:
        return f.read().strip()


def _create(rt, bundle, resources, script="sleep 100"):
    cid = rt.new_id()
    bundle.spec["linux"]["resources"] = {**bundle.spec["linux"]["resources"], **resources}
    bundle.args("sh", "-c", script).write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    return cid


FILES = ["memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems",
         "pids.max", "memory.high"]


@needs("memory", "cpu", "cpuset", "pids")
def test_resources_same_files_as_runc(pair, bundle):
    resources = {"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
                 "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
                 "pids": {"limit": 50}, "unified": {"memory.high": str(60 << 20)}}
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, resources)
        seen.append({name: _cg(cid, name) for name in FILES})
        pid = rt.state(cid)["pid"]
        assert str(pid) in _cg(cid, "cgroup.procs").split()
        rt.ok("delete", "--force", cid)
        assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")
    assert seen[0] == seen[1]
    assert seen[0] == {"memory.max": str(64 << 20), "memory.low": str(32 << 20), "memory.swap.max": str(32 << 20),
                       "cpu.weight": "20", "cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0",
                       "pids.max": "50", "memory.high": str(60 << 20)}


@needs("memory")
@pytest.mark.parametrize("memory,want", [
    ({"limit": 64 << 20, "swap": 64 << 20}, "0"),  # swap == limit: no swap
    ({"limit": 64 << 20, "swap": -1}, "max"),
    ({"limit": -1}, "max"),
])
def test_swap_semantics(pair, bundle, memory, want):
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, {"memory": memory})
        seen.append(_cg(cid, "memory.swap.max"))
    assert seen == [want, want]


@needs("memory")
def test_swap_below_limit_refused(pair, bundle):
    results = []
    for rt in pair:
        bundle.spec["linux"]["resources"]["memory"] = {"limit": 64 << 20, "swap": 32 << 20}
        res = run_in(rt, bundle, "true")
        results.append((res.returncode != 0, "memory+swap limit should be >= memory limit" in res.stderr))
    assert results == [(True, True), (True, True)]


@needs("io")
def test_blkio_weight_converted(pair, bundle):
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, {"blockIO": {"weight": 500}})
        bfq = os.path.exists(f"{ROOT}{CGROUP_PARENT}/{cid}/io.bfq.weight")
        seen.append(_cg(cid, "io.bfq.weight" if bfq else "io.weight"))
    assert seen[0] == seen[1]
    assert seen[0] in ("default 4950", "default 500")


@needs("io")
def test_io_max_throttle(pair, bundle):
    devices = sorted(os.listdir("/sys/dev/block")) if os.path.isdir("/sys/dev/block") else []
    if not devices:
        pytest.skip("no block device (in the guest: modprobe loop)")
    major, minor = (int(n) for n in devices[0].split(":"))
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, {"blockIO": {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}})
        seen.append(_cg(cid, "io.max"))
    assert seen[0] == seen[1] == f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100"


@needs("hugetlb")
def test_hugepage_limits(pair, bundle):
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
        seen.append(_cg(cid, "hugetlb.2MB.max"))
    assert seen == [str(4 << 20)] * 2


@v2
@pytest.mark.parametrize("key", ["../memory.max", "nosuchctl.max", "nodot"])
def test_unified_bad_keys(pair, bundle, key):
    errors = []
    for rt in pair:
        bundle.spec["linux"]["resources"]["unified"] = {key: "1"}
        res = run_in(rt, bundle, "true")
        assert res.returncode != 0
        errors.append(res.stderr)
    want = {"../memory.max": 'unified resource "../memory.max" must be a file name (no slashes)',
            "nosuchctl.max": 'unified resource "nosuchctl.max" can\'t be set: controller "nosuchctl" not available',
            "nodot": 'unified resource "nodot" must be in the form CONTROLLER.PARAMETER'}[key]
    assert all(want in e.replace('\\"', '"') for e in errors), errors


@needs("memory", "cpu", "pids")
def test_update_same_files_as_runc(pair, bundle):
    seen = []
    for rt in pair:
        cid = _create(rt, bundle, {"memory": {"limit": 64 << 20, "swap": 128 << 20},
                                   "cpu": {"shares": 1024, "quota": 20000, "period": 50000}})
        rt.ok("update", "--memory", "96m", "--memory-swap", "192m", "--cpu-share", "100", "--pids-limit", "10", cid)
        first = {name: _cg(cid, name) for name in ("memory.max", "memory.swap.max", "cpu.weight", "pids.max")}
        rt.ok("update", "--cpu-quota", "30000", cid)  # the period stays
        first["cpu.max"] = _cg(cid, "cpu.max")
        rt.ok("update", "--cpu-period", "80000", cid)  # the quota stays
        first["cpu.max 2"] = _cg(cid, "cpu.max")
        rt.ok("update", "--resources", "-", cid, input=json.dumps({"memory": {"limit": 32 << 20, "swap": -1},
                                                                   "pids": {"limit": -1}}))
        first.update({f"{n} 2": _cg(cid, n) for n in ("memory.max", "memory.swap.max", "pids.max")})
        assert rt.state(cid)["status"] == "running"
        seen.append(first)
    # runc 1.1 resets the half not given to its default (period 100000, quota max); ours keeps it,
    # as later runc does (Docker always sends both)
    cpu = [(s.pop("cpu.max"), s.pop("cpu.max 2")) for s in seen]
    assert cpu[0] == ("30000 50000", "30000 80000")
    assert seen[0] == seen[1]
    assert seen[0] == {"memory.max": str(96 << 20), "memory.swap.max": str(96 << 20), "cpu.weight": "4",
                       "pids.max": "10", "memory.max 2": str(32 << 20), "memory.swap.max 2": "max",
                       "pids.max 2": "max"}


@v2
def test_pause_resume_cgroup_freeze(pair, bundle):
    for rt in pair:
        cid = _create(rt, bundle, {})
        rt.ok("pause", cid)
        assert rt.state(cid)["status"] == "paused"
        assert _cg(cid, "cgroup.freeze") == "1"
        assert "frozen 1" in _cg(cid, "cgroup.events").splitlines()
        rt.ok("resume", cid)
        assert rt.state(cid)["status"] == "running"
        assert "frozen 0" in _cg(cid, "cgroup.events").splitlines()


@needs("memory")
def test_oom_kill_in_events(pair, bundle, tmp_path):
    """An OOM kill inside shows as an "oom" event (memory.events oom_kill) and in memory.events.
    The kill is triggered once `events` runs (its first stats line): earlier kills are not reported."""
    for rt in pair:
        cid = _create(rt, bundle, {"memory": {"limit": 16 << 20, "swap": 16 << 20}}, OOM_ON_GO.format(size=64))
        events = events_until_oom(rt, cid, tmp_path / f"events-{rt.name}", "1s")
        assert {"type": "oom", "id": cid} in events, (rt, events)
        kills = dict(line.split() for line in _cg(cid, "memory.events").splitlines())
        assert int(kills["oom_kill"]) >= 1


@needs("memory", "pids")
def test_stats_match_runc(pair, bundle):
    samples = []
    for rt in pair:
        cid = _create(rt, bundle, {"memory": {"limit": 64 << 20, "swap": 96 << 20}, "pids": {"limit": 20}})
        samples.append(json.loads(rt.ok("events", "--stats", cid))["data"])
    ours, runc = samples
    volatile = {".memory.cache", ".cpu.throttling"}
    assert {k for k in stats_keys(ours) if not any(k.startswith(v) for v in volatile)} == \
        {k for k in stats_keys(runc) if not any(k.startswith(v) for v in volatile)}
    for part in ("pids", "hugetlb"):
        assert ours[part] == runc[part], part
    for entry in ("usage", "swap"):
        assert ours["memory"][entry]["limit"] == runc["memory"][entry]["limit"]
    assert ours["memory"]["swap"]["limit"] == 96 << 20


@v2
@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_mount_inside(pair, bundle, cgroupns):
    """/sys/fs/cgroup inside: a cgroup2 mount, the container's own cgroup as root with a cgroup namespace."""
    namespaces = [ns for ns in bundle.spec["linux"]["namespaces"] if ns["type"] != "cgroup"]
    bundle.spec["linux"]["namespaces"] = namespaces + ([{"type": "cgroup"}] if cgroupns else [])
    views = []
    for rt in pair:
        res = run_in(rt, bundle, "grep '^0::' /proc/self/cgroup; awk '$5 == \"/sys/fs/cgroup\" "
                                 "{for (i = 7; i <= NF; i++) if ($i == \"-\") print $4, $(i + 1)}' /proc/self/mountinfo;"
                                 f" test -d /sys/fs/cgroup{CGROUP_PARENT} && echo whole-tree; test -e /sys/fs/cgroup/cgroup.procs && echo procs")
        assert res.returncode == 0, res.stderr
        views.append(res.stdout.replace(rt.ids[-1], "CID"))
    assert views[0] == views[1]
    if cgroupns:
        assert views[0] == "0::/\n/ cgroup2\nprocs\n"
    else:
        assert views[0] == f"0::{CGROUP_PARENT}/CID\n/ cgroup2\nwhole-tree\nprocs\n"


# --- the device program ---------------------------------------------------
def _with_mknod(bundle):
    for kind in ("bounding", "effective", "permitted"):
        bundle.spec["process"]["capabilities"][kind].append("CAP_MKNOD")


@v2
def test_devices_default_rules(pair, bundle):
    """Docker's shape: deny all, then runc's defaults: /dev/null usable, other nodes refused."""
    bundle.spec["linux"]["devices"] = [{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 200,
                                        "fileMode": 0o600, "uid": 0, "gid": 0}]
    _with_mknod(bundle)
    outs = []
    for rt in pair:
        res = run_in(rt, bundle, "echo ok > /dev/null && echo null-ok; head -c1 /dev/loopx; echo rc=$?;"
                                 " mknod /dev/kmsgx c 1 11 && echo mknod-ok; cat /dev/kmsgx; echo rc=$?;"
                                 " head -c1 /dev/zero | wc -c")
        outs.append(res.stdout)
        assert "Operation not permitted" in res.stderr
    assert outs[0] == outs[1] == "null-ok\nrc=1\nmknod-ok\nrc=1\n1\n"


@v2
def test_devices_allow_and_deny(pair, bundle):
    """A rule allowing one device, another taking read access away again."""
    bundle.spec["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "r"}]
    _with_mknod(bundle)
    outs = []
    for rt in pair:
        res = run_in(rt, bundle, "mknod /dev/kmsgx c 1 11; echo hi > /dev/kmsgx; echo w=$?; cat /dev/kmsgx; echo r=$?")
        outs.append(res.stdout)
    assert outs[0] == outs[1] == "w=0\nr=1\n"


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return left.split()[4]
    return None


CG2 = _cgroup2_mount()


@pytest.mark.skipif(CG2 is None, reason="no cgroup2 mount")
@pytest.mark.parametrize("rules,want", [
    # runc's defaults after deny-all: null/zero open, other nodes refused, mknod of any node allowed
    ("default", {"/dev/null": 0, "/dev/zero": 0, "kmsg": errno.EPERM, "mknod-c": 0, "mknod-b": 0}),
    ([{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "r"},
      {"allow": False, "type": "b", "access": "m"}],
     {"/dev/null": 0, "/dev/zero": errno.EPERM, "kmsg": 0, "mknod-c": 0, "mknod-b": errno.EPERM}),
    ([{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}],
     {"/dev/null": 0, "/dev/zero": errno.EPERM, "kmsg": errno.EPERM, "mknod-c": errno.EPERM,
      "mknod-b": errno.EPERM}),
])
def test_device_program_verdicts(tmp_path, rules, want):
    """The program alone, attached to a scratch cgroup that a forked child joins."""
    from dockerd_runtime.cgroups import devices_bpf
    from dockerd_runtime.cgroups.v1 import RUNTIME_DEVICE_RULES
    from dockerd_runtime.linux import syscalls

    if rules == "default":
        rules = [{"allow": False, "access": "rwm"}] + [devices_bpf.parse_rule(r) for r in RUNTIME_DEVICE_RULES]
    cg = f"{CG2}{CGROUP_PARENT}-bpf"
    os.makedirs(cg)
    try:
        devices_bpf.attach(syscalls.default(), cg, rules)
        kmsg = str(tmp_path / "kmsg")
        os.mknod(kmsg, 0o20600, os.makedev(1, 11))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            with open(f"{cg}/cgroup.procs", "w") as f:
                f.write("0")
            got = {}
            for name, path in (("/dev/null", "/dev/null"), ("/dev/zero", "/dev/zero"), ("kmsg", kmsg)):
                try:
                    os.close(os.open(path, os.O_RDONLY))
                    got[name] = 0
                except OSError as e:
                    got[name] = e.errno
            for name, mode in (("mknod-c", 0o20600), ("mknod-b", 0o60600)):
                node = str(tmp_path / name)
                try:
                    os.mknod(node, mode, os.makedev(7, 200))
                    got[name] = 0
                except OSError as e:
                    got[name] = e.errno
            os.write(w, json.dumps(got).encode())
            os._exit(0)
        os.close(w)
        got = json.loads(os.read(r, 4096))
        os.close(r)
        os.waitpid(pid, 0)
        assert got == want
    finally:
        reap()
        os.rmdir(cg)


def test_device_rules_reduced_as_v1():
    from dockerd_runtime.cgroups import devices_bpf

    state = devices_bpf.reduce([{"allow": False, "access": "rwm"},
                                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "m"},
                                {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
                                {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"}])
    assert not state.default_allow
    assert state.exceptions == {("c", 1, 3): 3, ("b", -1, -1): 1}  # r|m, m
    with pytest.raises(Exception, match="cannot punch hole in existing wildcard rule"):
        devices_bpf.reduce([{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "access": "rwm"},
                            {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}])
    assert devices_bpf.reduce([{"allow": False, "type": "c"}, {"allow": True, "access": "rwm"}]).default_allow


@pytest.mark.skipif(CGROUP_V2 or CG2 != f"{ROOT}/unified", reason="only on a hybrid host")
def test_v2_view_of_a_hybrid_host(tmp_path):
    """This module again, in a private mount namespace where /sys/fs/cgroup is the hybrid
    host's cgroup2 tree (the host's mounts are not touched): both runtimes then run in
    v2 mode, so freezing, the device program, the cgroup mount inside, unified and
    hugetlb (the controllers v1 leaves to v2) run for real here too; the rest skips."""
    here = os.path.dirname(__file__)
    script = (f"mount --bind {ROOT}/unified {ROOT} && exec {sys.executable} -m pytest -q -p no:cacheprovider "
              f"-rs --basetemp {tmp_path}/nested {os.path.join(here, os.path.basename(__file__))}")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "failed" not in res.stdout


@v2
def test_exec_into_sub_cgroup(pair, bundle):
    """`exec --cgroup SUB` joins an existing sub-cgroup of the container's (v2: a path, no controller)."""
    outputs = []
    for rt in pair:
        cid = _create(rt, bundle, {})
        os.mkdir(f"{ROOT}{CGROUP_PARENT}/{cid}/sub")
        res = rt.cmd("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup")
        missing = rt.cmd("exec", "--cgroup", "nope", cid, "true")
        outputs.append((res.returncode, res.stdout.endswith("/sub\n"), missing.returncode != 0))  # "0::/sub" in a cgroupns
        rt.ok("delete", "--force", cid)  # removes the sub-cgroup too
        assert not os.path.exists(f"{ROOT}{CGROUP_PARENT}/{cid}")
    assert outputs[0] == outputs[1] == (0, True, True)


# --- rdma ------------------------------------------------------------------
@needs("rdma")
def test_rdma_limits_create_update_delete(pair, bundle, rxe):
    """rdma.max as runc writes it; `update` leaves it (runc 1.1 takes no rdma limits there)."""
    seen, made = [], []
    for rt in pair:
        both = _create(rt, bundle, {"rdma": {rxe.name: {"hcaHandles": 3, "hcaObjects": 7}}})
        handles = _create(rt, bundle, {"rdma": {rxe.name: {"hcaHandles": 2}}})
        row = [_cg(both, "rdma.max"), _cg(handles, "rdma.max")]
        rt.ok("update", "--resources", "-", both, input=json.dumps({"rdma": {rxe.name: {"hcaHandles": 9}},
                                                                    "pids": {"limit": 20}}))
        row += [_cg(both, "rdma.max"), _cg(both, "pids.max")]
        seen.append(row)
        made += [(rt, both), (rt, handles)]
    assert seen[0] == seen[1] == [f"{rxe.name} hca_handle=3 hca_object=7", f"{rxe.name} hca_handle=2 hca_object=max",
                                  f"{rxe.name} hca_handle=3 hca_object=7", "20"]
    rxe.remove()  # before the cgroups go (see SoftRoce)
    for rt, cid in made:
        rt.ok("delete", "--force", cid)
        assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


@needs("rdma")
def test_rdma_limit_unknown_device(pair, bundle):
    """Both fail to start, with the kernel's ENODEV, and leave no cgroup (pair checks)."""
    results = []
    for rt in pair:
        bundle.spec["linux"]["resources"]["rdma"] = {"nosuchhca0": {"hcaHandles": 1}}
        res = run_in(rt, bundle, "true")
        err = res.stderr.lower()
        results.append((res.returncode, "nosuchhca0 hca_handle=1" in err, "no such device" in err))
    assert results[0] == results[1] == (1, True, True), results
