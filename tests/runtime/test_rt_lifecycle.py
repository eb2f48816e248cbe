"""Lifecycle verbs: create/start/state/kill/delete/list/ps/pause/resume/run."""

from __future__ import annotations

import json
import os
import re
import time

from conftest import CGROUP_PARENT, CGROUP_V2, cgroup_exists, reap, run_in

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_create_start_kill_delete(rt, bundle, tmp_path):
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    pid_file = str(tmp_path / "init.pid")
    before = _children()
    rt.ok("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)

    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == bundle.path
    assert st["rootfs"] == bundle.spec["root"]["path"]
    assert st["ociVersion"].startswith("1.")
    assert RFC3339NANO.match(st["created"]), st["created"]
    assert st["owner"] == ""
    pid = st["pid"]
    assert open(pid_file).read().strip() == str(pid)
    # init is our direct child (we are the subreaper) and nothing else is left around
    assert _ppid(pid) == os.getpid()
    assert _children() - before == {pid}
    assert os.path.isdir(os.path.join(rt.root, cid))

    listed = json.loads(rt.ok("list", "--format", "json"))
    assert [(c["id"], c["status"], c["pid"]) for c in listed] == [(cid, "created", pid)]
    assert re.search(rf"^{cid}\s+{pid}\s+created\s+", rt.ok("list"), re.M)
    assert json.loads(rt.ok("ps", "--format", "json", cid)) == [pid]

    rt.ok("start", cid)
    assert rt.state(cid)["status"] == "running"
    assert _comm(pid) == "sleep"
    assert rt.cmd("start", cid).returncode != 0

    rt.ok("kill", cid, "KILL")
    st = rt.wait_status(cid, "stopped")
    assert st["status"] == "stopped" and st["pid"] == 0
    assert rt.cmd("kill", cid, "TERM").returncode != 0
    rt.ok("delete", cid)
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")
    res = rt.cmd("state", cid)
    assert res.returncode != 0 and "does not exist" in res.stderr


def test_delete_created_container(rt, bundle):
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("create", "--bundle", bundle.path, cid)
    pid = rt.state(cid)["pid"]
    rt.ok("delete", cid)
    reap()
    assert not os.path.exists(f"/proc/{pid}") or _state_letter(pid) == "Z"
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_delete_running_needs_force(rt, bundle):
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    res = rt.cmd("delete", cid)
    assert res.returncode == 1 and "running" in res.stderr
    rt.ok("delete", "--force", cid)
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


def test_kill_signal_names(rt, bundle):
    cid = rt.new_id()
    # init (pid 1) only gets signals it handles: trap them
    bundle.args("sh", "-c", "trap 'exit 7' USR1; trap 'exit 9' TERM; while true; do sleep 0.05; done").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    time.sleep(0.2)
    rt.ok("kill", cid, "SIGUSR1")
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"


def test_kill_default_sigterm(rt, bundle):
    cid = rt.new_id()
    bundle.args("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    time.sleep(0.2)
    rt.ok("kill", cid)
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"


def test_kill_all_and_ps(rt, bundle):
    cid = rt.new_id()
    bundle.args("sh", "-c", "sleep 100 & sleep 100 & wait").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    deadline = time.monotonic() + 5
    while len(json.loads(rt.ok("ps", "--format", "json", cid))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = json.loads(rt.ok("ps", "--format", "json", cid))
    assert len(pids) == 3 and rt.state(cid)["pid"] in pids
    rt.ok("kill", "--all", cid, "9")
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    time.sleep(0.05)
    assert all(not os.path.exists(f"/proc/{p}") or _state_letter(p) == "Z" for p in pids)


def test_pause_resume(rt, bundle):
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    rt.ok("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    freezer, frozen, thawed = (f"/sys/fs/cgroup{CGROUP_PARENT}/{cid}/cgroup.freeze", "1", "0") if CGROUP_V2 else \
        (f"/sys/fs/cgroup/freezer{CGROUP_PARENT}/{cid}/freezer.state", "FROZEN", "THAWED")
    assert open(freezer).read().strip() == frozen
    assert rt.cmd("pause", cid).returncode != 0 or rt.name == "runc"
    rt.ok("resume", cid)
    assert open(freezer).read().strip() == thawed
    assert rt.state(cid)["status"] == "running"
    assert rt.cmd("resume", cid).returncode != 0
    rt.ok("pause", cid)
    rt.ok("delete", "--force", cid)
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


def test_sigkill_ends_a_paused_container(rt, bundle):
    """runc thaws the cgroup after a SIGKILL to a paused init (a frozen task dies only once thawed)."""
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    rt.ok("pause", cid)
    rt.ok("kill", cid, "KILL")
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    rt.ok("delete", cid)


def test_run_foreground_exit_code(rt, bundle):
    res = run_in(rt, bundle, "echo out; echo err >&2; exit 3")
    assert res.returncode == 3
    assert res.stdout == "out\n"
    assert "err" in res.stderr
    assert os.listdir(rt.root) == []


def test_run_stdin_inherited(rt, bundle):
    res = run_in(rt, bundle, "read x; echo got:$x", input="hello\n")
    assert res.returncode == 0 and res.stdout == "got:hello\n"


def test_exec_not_found(rt, bundle):
    cid = rt.new_id()
    bundle.args("no-such-binary").write(cid)
    res = rt.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1
    assert "executable file not found" in res.stderr
    assert os.listdir(rt.root) == []
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


def test_duplicate_id(rt, bundle):
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("create", "--bundle", bundle.path, cid)
    res = rt.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1 and "exists" in res.stderr
    assert rt.state(cid)["status"] == "created"


def test_state_annotations(rt, bundle):
    cid = rt.new_id()
    bundle.spec["annotations"] = {"org.example/k": "v"}
    bundle.args("sleep", "100").write(cid)
    rt.ok("create", "--bundle", bundle.path, cid)
    assert rt.state(cid)["annotations"] == {"org.example/k": "v"}


def test_version_and_features(rt):
    assert rt.ok("--version")
    feats = json.loads(rt.ok("features"))
    assert feats["ociVersionMin"].startswith("1.") and "prestart" in feats["hooks"]
    assert "mountOptions" in feats


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _state_letter(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "X"


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def _children() -> set[int]:
    me = os.getpid()
    out = set()
    for task in os.listdir(f"/proc/{me}/task"):
        with open(f"/proc/{me}/task/{task}/children") as f:
            out |= {int(p) for p in f.read().split()}
    return {p for p in out if _state_letter(p) != "Z"}


def test_run_forwards_signals(rt, bundle, tmp_path):
    import signal
    import subprocess

    cid = rt.new_id()
    bundle.args("sh", "-c", "trap 'exit 4' TERM; echo ready; while true; do sleep 0.05; done").write(cid)
    out = open(tmp_path / "out", "w+")
    proc = subprocess.Popen([rt.binary, "--root", rt.root, "run", "--bundle", bundle.path, cid],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while "ready" not in open(tmp_path / "out").read() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 4
    reap()
    assert os.listdir(rt.root) == []
