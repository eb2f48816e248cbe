"""User namespaces: uid/gid maps written by the parent, a rootfs chowned to the
mapped range, joining by path, exec into it; each compared with runc."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import HOST_BASE, reap, run_in

SCRIPT = ("id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
          "ls -ln / | awk 'NR>1 {print $3, $4, $9}'; ls -ln /dev | awk 'NR>1 {print $1, $3, $4, $9}'; "
          "grep Cap /proc/self/status; hostname; cat /sys/fs/cgroup/pids/pids.max 2>&1 | head -1; "
          "echo hi > /tmp/made-inside; ls -ln /tmp/made-inside | awk '{print $3, $4}'; "
          "mount | grep -E ' on / | on /dev/null ' | cut -d' ' -f1-5")


def test_userns_matches_runc(pair, ubundle, userns_rootfs):
    outputs = []
    for rt in pair:
        res = run_in(rt, ubundle, SCRIPT)
        assert res.returncode == 0, (rt, res.stderr)
        outputs.append(res.stdout)
        made = os.path.join(userns_rootfs, "tmp", "made-inside")
        st = os.stat(made)
        assert (st.st_uid, st.st_gid) == (HOST_BASE, HOST_BASE), rt  # root inside = 100000 outside
        os.unlink(made)
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert lines[0] == "uid=0(root) gid=0(root)"
    assert lines[1].split() == ["0", str(HOST_BASE), "65536"]


def test_userns_exit_code_and_exec(pair, ubundle):
    results = []
    for rt in pair:
        res = run_in(rt, ubundle, "exit 7")
        cid = rt.new_id()
        ubundle.args("sleep", "30").write(cid)
        rt.ok("run", "--detach", "--bundle", ubundle.path, cid)
        ex = rt.cmd("exec", cid, "sh", "-c", "id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map")
        init_ns = os.readlink(f"/proc/{rt.state(cid)['pid']}/ns/user")
        assert ex.stdout.splitlines()[1] == init_ns, rt  # exec joined the container's user namespace
        results.append((res.returncode, ex.returncode, ex.stdout.splitlines()[0], ex.stdout.splitlines()[2].split()))
        rt.ok("delete", "--force", cid)
    assert results[0] == results[1] == (7, 0, "0", ["0", str(HOST_BASE), "65536"])


def test_userns_join_by_path(pair, ubundle):
    holder = subprocess.Popen(["unshare", "--user", "sleep", "60"])
    try:
        for _ in range(100):
            if os.readlink(f"/proc/{holder.pid}/ns/user") != os.readlink("/proc/self/ns/user"):
                break
            time.sleep(0.01)
        for kind in ("uid", "gid"):
            with open(f"/proc/{holder.pid}/{kind}_map", "w") as f:
                f.write(f"0 {HOST_BASE} 65536\n")
        ns_path = f"/proc/{holder.pid}/ns/user"
        ubundle.spec["linux"]["namespaces"][-1] = {"type": "user", "path": ns_path}
        outputs = []
        for rt in pair:
            res = run_in(rt, ubundle, "id -u; readlink /proc/self/ns/user")
            assert res.returncode == 0, (rt, res.stderr)
            outputs.append(res.stdout)
        assert outputs[0] == outputs[1] == f"0\n{os.readlink(ns_path)}\n"
    finally:
        holder.kill()
        holder.wait()
        reap()


@pytest.mark.parametrize("drop", ["uidMappings", "gidMappings"])
def test_userns_without_mappings_refused(pair, ubundle, drop):
    del ubundle.spec["linux"][drop]
    results = []
    for rt in pair:
        cid = rt.new_id()
        ubundle.write(cid)
        res = rt.cmd("create", "--bundle", ubundle.path, cid)
        kind = drop[:3]
        results.append((res.returncode, f"User namespaces enabled, but no {kind} mappings found." in res.stderr,
                        os.path.exists(os.path.join(rt.root, cid))))
    assert results[0] == results[1] == (1, True, False)


def test_userns_bad_mappings_leave_nothing(pair, ubundle):
    """Overlapping maps: the kernel refuses them; both fail with exit 1 and leave nothing."""
    ubundle.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536},
                                            {"containerID": 10, "hostID": 300000, "size": 5}]
    for rt in pair:
        res = run_in(rt, ubundle, "true")
        cid = rt.ids[-1]
        assert res.returncode == 1 and "uid_map" in res.stderr, (rt, res.stderr)
        assert not os.path.exists(os.path.join(rt.root, cid))
