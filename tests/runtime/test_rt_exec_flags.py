"""runc's exec and run flags beyond the basics: --cap, --additional-gids,
--cgroup, --ignore-paused, run --keep; ours and runc in the same test."""

from __future__ import annotations

import os

from conftest import reap, v1_only


def _running(rt, bundle):
    cid = rt.new_id()
    bundle.args("sleep", "30").write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    return cid


def _status_field(text, name):
    return next(line.split(":\t")[1] for line in text.splitlines() if line.startswith(name + ":"))


def test_exec_cap_and_additional_gids(pair, bundle):
    outputs = []
    for rt in pair:
        cid = _running(rt, bundle)
        mixed = rt.cmd("exec", "--cap", "CAP_SYS_ADMIN", "-c", "CAP_CHOWN", cid, "true")
        assert mixed.returncode == 1 and "Cannot use two forms of the same flag: c cap" in mixed.stderr, rt
        res = rt.cmd("exec", "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_CHOWN", "-u", "1000:1000", "-g", "5",
                     "-g", "7", cid, "sh", "-c", "cat /proc/self/status; id -G")
        assert res.returncode == 0, (rt, res.stderr)
        outputs.append((_status_field(res.stdout, "CapEff"), _status_field(res.stdout, "CapBnd"),
                        res.stdout.splitlines()[-1]))
    assert outputs[0] == outputs[1]
    assert int(outputs[0][1], 16) & (1 << 21 | 1 << 0) == (1 << 21 | 1 << 0)  # added to the bounding set


@v1_only  # v2: test_rt_cgroups_v2.py
def test_exec_into_sub_cgroup(pair, bundle):
    outputs = []
    for rt in pair:
        cid = _running(rt, bundle)
        pids_dir = next(line.split(":")[2].strip() for line in open(f"/proc/{rt.state(cid)['pid']}/cgroup")
                        if ":pids:" in line)
        os.mkdir(f"/sys/fs/cgroup/pids{pids_dir}/sub")
        res = rt.cmd("exec", "--cgroup", "pids:sub", cid, "sh", "-c", "grep :pids: /proc/self/cgroup")
        bad = rt.cmd("exec", "--cgroup", "a:b:c", cid, "true")
        missing = rt.cmd("exec", "--cgroup", "pids:nope", cid, "true")
        outputs.append((res.returncode, res.stdout.endswith("/sub\n"), bad.returncode,
                        "invalid --cgroup argument: a:b:c" in bad.stderr, missing.returncode != 0))
        rt.ok("delete", "--force", cid)  # removes the sub-cgroup too
        assert not os.path.exists(f"/sys/fs/cgroup/pids{pids_dir}")
    assert outputs[0] == outputs[1] == (0, True, 255, True, True)  # runc: every exec failure is 255


def test_exec_paused_needs_ignore_paused(pair, bundle):
    results = []
    for rt in pair:
        cid = _running(rt, bundle)
        rt.ok("pause", cid)
        res = rt.cmd("exec", cid, "true")
        rt.ok("resume", cid)
        results.append((res.returncode, "cannot exec in a paused container (use --ignore-paused to override)"
                        in res.stderr))
    assert results[0] == results[1] == (255, True)


def test_run_keep(pair, bundle):
    results = []
    for rt in pair:
        cid = rt.new_id()
        bundle.args("sh", "-c", "exit 3").write(cid)
        res = rt.cmd("run", "--keep", "--bundle", bundle.path, cid)
        reap()
        results.append((res.returncode, rt.state(cid)["status"]))
        rt.ok("delete", cid)
    assert results[0] == results[1] == (3, "stopped")
