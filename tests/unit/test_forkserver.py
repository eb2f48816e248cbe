"""The shim fork server (dockerd_py/shim/forkserver.py) and its launcher.

Run as root: `pytest tests/unit/test_forkserver.py`. Every process started here is
stopped by PID; the session is a subreaper (test_shim's fixture), so the fork servers
and shims that outlive their parents are re-parented to it and reaped here.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dockerd_py.lifecycle import ShimClient, ShimLauncher
from dockerd_py.lifecycle import forkserver_client
from dockerd_py.lifecycle.forkserver_client import forkserver_cmd

from test_shim import (SHIM_CMD, Tasks, _gone, _read_int, base_spec, demux, read_all,  # noqa: F401
                       rootfs, subreaper, wait_for, workdir)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

RUNC = "/usr/sbin/runc"


@pytest.fixture
def exec_root(tmp_path):
    return str(tmp_path / "x")


@pytest.fixture
def launchers(exec_root):
    """Launchers on exec_root; closed at the end, every fork server they saw stopped."""
    made: list[ShimLauncher] = []
    pids: set[int] = set()

    def make(**kw) -> ShimLauncher:
        kw.setdefault("shim_cmd", SHIM_CMD)
        launcher = ShimLauncher(kw.pop("root", exec_root), **kw)
        made.append(launcher)
        return launcher

    make.pids = pids
    yield make
    for launcher in made:
        if launcher.server_pid():
            pids.add(launcher.server_pid())
        launcher.close(stop=True)
    left = [pid for pid in pids if not _gone(pid, 10)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # a fork server this test started
        _gone(pid, 5)
    assert not left, f"fork servers left running: {left}"


@pytest.fixture
def rtasks(workdir, rootfs, base_spec):
    if not os.path.exists(RUNC):
        pytest.skip("needs runc")
    made: list[Tasks] = []

    def make(launcher) -> Tasks:
        t = Tasks(RUNC, workdir, rootfs, base_spec, launcher)
        made.append(t)
        return t

    yield make
    problems = [p for t in made for p in t.cleanup()]
    assert not problems, problems


def fds(pid: int) -> dict[str, str]:
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return out


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # [state, ppid, pgrp, session, ...]


def ping(sock_path: str) -> dict | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(b'{"op":"ping"}\n')
        return json.loads(s.makefile().readline())
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def test_forked_shim_holds_nothing_of_the_fork_server(launchers, rtasks):
    launcher = launchers()
    t = rtasks(launcher)
    cfg, c = t.spawn(["sleep", "1000"])
    fs = launcher.server_pid()
    assert fs and launcher.exec_fallbacks == 0
    c.start()
    shim = _read_int(os.path.join(cfg.state_dir, "shim.pid"))
    assert shim and shim != fs
    # Its own session, not a child of the fork server, no fd of the fork server's.
    state, ppid, pgrp, sid = stat_fields(shim)[:4]
    assert int(sid) == shim and int(ppid) != fs and shim not in children(fs)
    assert int(stat_fields(fs)[3]) == fs  # the fork server has its own session too
    # (anon inodes all look alike: the shim has exactly one epoll, its own selector's)
    fs_fds = {target for target in fds(fs).values()
              if target != "/dev/null" and not target.startswith("anon_inode:")}
    shim_fds = fds(shim)
    shared = {fd: target for fd, target in shim_fds.items() if target in fs_fds}
    assert not shared, (shared, fs_fds)
    assert sum(target == "anon_inode:[eventpoll]" for target in shim_fds.values()) == 1
    assert not any("forkserver" in target for target in shim_fds.values()), shim_fds
    assert shim_fds["1"].endswith("/shim.log") and shim_fds["2"].endswith("/shim.log")
    # Default signal dispositions as an exec'd shim has them (SIGCHLD is the shim's own).
    with open(f"/proc/{shim}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    caught = int(status["SigCgt"], 16)
    assert not caught & (1 << (signal.SIGTERM - 1)), status["SigCgt"]
    c.kill(signal.SIGKILL)
    assert c.wait().exit_code == 137


def test_no_zombies_and_reuse_by_a_second_launcher(launchers, rtasks):
    first = launchers()
    t = rtasks(first)
    clients = [t.spawn(["true"])[1] for _ in range(5)]
    fs = first.server_pid()
    for c in clients:
        c.start()
        assert c.wait().exit_code == 0
    # Its direct children exit once their shim reported, and it reaps them.
    assert wait_for(lambda: children(fs) == [], 5), children(fs)
    second = launchers()
    assert second.ensure_server() == fs  # reused, not replaced
    t2 = rtasks(second)
    _, c = t2.spawn(["sh", "-c", "exit 3"])
    c.start()
    assert c.wait().exit_code == 3
    assert second.exec_fallbacks == 0 and ping(second.sock_path)["spawned"] == 6
    first.close()  # no stop: the second launcher still uses it
    assert ping(second.sock_path)["pid"] == fs


def test_concurrent_spawns_from_20_threads(launchers, rtasks):
    launcher = launchers()
    t = rtasks(launcher)
    cfgs = [t.config(["sh", "-c", f"echo {i}"]) for i in range(20)]
    barrier = threading.Barrier(20)

    def run(cfg):
        barrier.wait()
        c = ShimClient.spawn(cfg, launcher)
        c.start()
        return c.wait().exit_code, c.pid

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(run, cfgs))
    assert [code for code, _ in results] == [0] * 20
    assert len({pid for _, pid in results}) == 20
    assert launcher.exec_fallbacks == 0
    for i, cfg in enumerate(cfgs):
        with open(cfg.log_path) as f:
            assert json.loads(f.readline())["log"] == f"{i}\n"
    fs = launcher.server_pid()
    assert wait_for(lambda: children(fs) == [], 5)


def test_stale_socket_is_replaced(launchers, rtasks, exec_root):
    os.makedirs(exec_root)
    sock_path = os.path.join(exec_root, "shim-forkserver.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)  # a socket file nobody listens on: a fork server killed by -9
    dead.close()
    launcher = launchers()
    _, c = rtasks(launcher).spawn(["true"])
    assert launcher.exec_fallbacks == 0 and ping(sock_path)["pid"] == launcher.server_pid()
    c.start()
    assert c.wait().exit_code == 0


def test_other_version_is_replaced(launchers, exec_root):
    os.makedirs(exec_root)
    sock_path = os.path.join(exec_root, "shim-forkserver.sock")
    out = subprocess.run([*forkserver_cmd(), sock_path, os.path.join(exec_root, "fs.log"),
                          "old-version", "30"], capture_output=True, check=True, text=True)
    old = json.loads(out.stdout)["pid"]
    launchers.pids.add(old)
    assert ping(sock_path)["version"] == "old-version"
    launcher = launchers()
    new = launcher.ensure_server()
    assert new != old and ping(sock_path)["version"] == launcher.version
    assert _gone(old, 10)  # told to exit


def test_fork_server_leaves_when_unwatched_or_its_socket_goes(launchers, exec_root):
    launcher = launchers(grace=0.5)
    pid = launcher.ensure_server()
    time.sleep(1.0)
    assert ping(launcher.sock_path)["pid"] == pid  # watched: stays
    launcher.close()  # the daemon went away (as if killed): gone after the grace period
    assert _gone(pid, 10)
    assert not os.path.exists(launcher.sock_path)
    other = launchers(grace=60)
    pid2 = other.ensure_server()
    os.unlink(other.sock_path)  # e.g. the exec-root was cleaned up
    assert _gone(pid2, 15)


def test_falls_back_to_exec_when_no_fork_server_starts(launchers, rtasks, monkeypatch, caplog):
    monkeypatch.setattr(forkserver_client, "forkserver_cmd", lambda: ["/bin/false"])
    launcher = launchers()
    t = rtasks(launcher)
    with caplog.at_level(logging.WARNING, logger="dockerd_py.lifecycle"):
        _, c = t.spawn(["sh", "-c", "exit 4"])
    assert launcher.exec_fallbacks == 1 and launcher.server_pid() is None
    assert any("by exec" in r.getMessage() for r in caplog.records), caplog.text
    c.start()
    assert c.wait().exit_code == 4
    _, c2 = t.spawn(["true"])  # within RETRY_AFTER: straight to exec
    assert launcher.exec_fallbacks == 2
    c2.start()
    assert c2.wait().exit_code == 0


def test_create_failure_through_the_fork_server(launchers, rtasks):
    launcher = launchers()
    t = rtasks(launcher)
    cfg = t.config(["/no/such/binary"])
    with pytest.raises(Exception) as exc:
        ShimClient.spawn(cfg, launcher)
    assert "no such file or directory" in str(exc.value.message), exc.value.message
    assert launcher.exec_fallbacks == 0


def test_clean_stop_leaves_containers_running(launchers, rtasks):
    launcher = launchers()
    t = rtasks(launcher)
    cfg, c = t.spawn(["sh", "-c", "trap 'exit 9' TERM; while true; do sleep 0.1; done"])
    c.start()
    fs = launcher.server_pid()
    launcher.close(stop=True)  # Engine.shutdown()
    assert _gone(fs, 10) and not os.path.exists(launcher.sock_path)
    c2 = ShimClient(cfg.state_dir)
    assert c2.state()["status"] == "running"
    a = c2.attach(stdin=False, stdout=True, stderr=True)
    c2.kill(signal.SIGTERM)
    assert c2.wait().exit_code == 9
    assert demux(read_all(a)) == {1: b"", 2: b""}


def test_forkserver_imports_stay_lean():
    code = ("import sys; import dockerd_py.shim.forkserver; "
            "print('\\n'.join(sorted(sys.modules)))")
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    mods = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": repo}).stdout.split()
    ours = [m for m in mods if m.startswith("dockerd_py")]
    # the shim's own package, plus the stdlib-only atomic writer all persisted state shares
    allowed = ("dockerd_py", "dockerd_py.state", "dockerd_py.state.atomic")
    assert all(m in allowed or m.startswith("dockerd_py.shim") for m in ours), ours
    for heavy in ("flask", "pluggy", "pyroute2", "subprocess", "threading", "typing", "asyncio"):
        assert heavy not in mods, heavy
