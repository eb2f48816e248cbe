"""exec: a new process in a running container (as the shim uses it)."""

from __future__ import annotations

import json
import os
import time

from conftest import reap


def _running(rt, bundle):
    cid = rt.new_id()
    bundle.spec["process"]["capabilities"]["bounding"].append("CAP_CHOWN")
    bundle.args("sleep", "100").write(cid)
    rt.ok("run", "-d", "--bundle", bundle.path, cid)
    return cid


def test_exec_args(rt, bundle):
    cid = _running(rt, bundle)
    res = rt.cmd("exec", cid, "sh", "-c", "echo pid=$$; hostname; cat /proc/1/comm; exit 3")
    assert res.returncode == 3, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] != "pid=1" and lines[1:] == ["ctr", "sleep"]


def test_exec_process_file_detached(rt, bundle, tmp_path):
    """What the shim runs: exec --process F --detach --pid-file P ID."""
    cid = _running(rt, bundle)
    proc = dict(bundle.spec["process"])
    proc.update(args=["sh", "-c", "id -u; pwd; echo $FOO; grep CapEff /proc/self/status; sleep 30"],
                cwd="/tmp", env=["PATH=/bin:/usr/bin", "FOO=bar"], user={"uid": 65534, "gid": 65534},
                capabilities={k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")})
    (tmp_path / "proc.json").write_text(json.dumps(proc))
    out = tmp_path / "out"
    pid_file = tmp_path / "exec.pid"
    res = rt.cmd("exec", "--process", str(tmp_path / "proc.json"), "--detach", "--pid-file", str(pid_file), cid,
                 stdout_path=str(out))
    assert res.returncode == 0, res.stderr
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while len(out.read_text().splitlines()) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_text().splitlines() == ["65534", "/tmp", "bar", "CapEff:\t0000000000000000"]  # no ambient: execve clears them
    assert pid in json.loads(rt.ok("ps", "--format", "json", cid))
    with open(f"/proc/{pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()  # reparented to us
    rt.ok("kill", "--all", cid, "KILL")
    reap()


def test_exec_errors(rt, bundle):
    cid = _running(rt, bundle)
    res = rt.cmd("exec", cid, "no-such-binary")
    assert res.returncode == 255 and "executable file not found" in res.stderr
    rt.ok("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    res = rt.cmd("exec", cid, "true")
    assert res.returncode == 255 and "stopped" in res.stderr
    reap()


def test_exec_tty_console_socket(rt, bundle, tmp_path):
    import socket

    from test_rt_console import _read_all, _receive

    cid = _running(rt, bundle)
    sock_path = str(tmp_path / "c.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    proc = dict(bundle.spec["process"], terminal=True, args=["sh", "-c", "tty; echo tty-ok"])
    (tmp_path / "proc.json").write_text(json.dumps(proc))
    res = rt.cmd("exec", "--process", str(tmp_path / "proc.json"), "--detach", "--console-socket", sock_path,
                 "--pid-file", str(tmp_path / "pid"), cid)
    assert res.returncode == 0, res.stderr
    master = _receive(listener)
    listener.close()
    try:
        out = _read_all(master, time.monotonic() + 5).decode().replace("\r", "")
    finally:
        os.close(master)
        reap()
    lines = [line for line in out.splitlines() if line]
    assert lines[0].startswith("/dev/pts/") and lines[1] == "tty-ok"
