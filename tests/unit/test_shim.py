"""The shim and its client against a real OCI runtime (runc; crun when it works here).

Run as root: `pytest tests/unit/test_shim.py`. SHIM_RUNTIMES=/path/a:/path/b overrides
the runtimes tried (e.g. our own dockerd-py-runc). Every shim test runs twice: shims
exec'd (`SHIM_CMD DIR`) and shims forked by the shim fork server (lifecycle.ShimLauncher).
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from dockerd_py.errors import SystemErr
from dockerd_py.lifecycle import ExitStatus, ShimClient, ShimLauncher, TaskConfig
from dockerd_py.shim.jsonlog import BUF_SIZE, JSONLog, encode_line, encode_lines, rfc3339nano

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootfs import make_rootfs  # noqa: E402

# SHIM_CMD="dockerd-py-shim" runs the tests through the console script instead.
SHIM_CMD = os.environ.get("SHIM_CMD", f"{sys.executable} -m dockerd_py.shim").split()
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _candidate_runtimes() -> list[str]:
    env = os.environ.get("SHIM_RUNTIMES")
    if env:
        return [p for p in env.split(":") if p]
    return [p for p in ("/usr/sbin/runc", "/usr/bin/crun") if os.path.exists(p)]


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def subreaper():
    """Make pytest a subreaper so that exited shims are reaped here, not left as zombies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)
    yield
    libc.prctl(36, 0, 0, 0, 0)


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="shimtest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def rootfs(workdir):
    return make_rootfs(os.path.join(workdir, "rootfs"))


@pytest.fixture(scope="session")
def base_spec(workdir):
    d = os.path.join(workdir, "spec")
    os.makedirs(d)
    subprocess.run(["/usr/sbin/runc", "spec", "--bundle", d], check=True)
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


_probe_cache: dict[str, str | None] = {}


def _probe(runtime: str, workdir: str, rootfs: str, spec: dict) -> str | None:
    """None if `runtime run` works on this machine, else why not."""
    if runtime not in _probe_cache:
        bundle = os.path.join(workdir, f"probe-{os.path.basename(runtime)}")
        os.makedirs(bundle, exist_ok=True)
        s = copy.deepcopy(spec)
        s["root"] = {"path": rootfs, "readonly": True}
        s["process"]["terminal"] = False
        s["process"]["args"] = ["true"]
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(s, f)
        root = os.path.join(workdir, "probe-root")
        p = subprocess.run([runtime, "--root", root, "run", "--bundle", bundle, "probe"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        subprocess.run([runtime, "--root", root, "delete", "--force", "probe"],
                       capture_output=True)
        _probe_cache[runtime] = None if p.returncode == 0 else (p.stderr.strip() or "failed")
    return _probe_cache[runtime]


@pytest.fixture(scope="session")
def forkserver_launcher(workdir):
    """One fork server for the session's forked shims; stopped and reaped at the end."""
    launcher = ShimLauncher(os.path.join(workdir, "exec-root"), SHIM_CMD)
    yield launcher
    pid = launcher.server_pid()
    launcher.close(stop=True)
    assert pid is None or _gone(pid, 10), f"fork server {pid} did not exit"


@pytest.fixture(params=["exec", "forkserver"])
def shim_cmd(request):
    """How shims start: the command line, or the fork server (which must not fall back)."""
    if request.param == "exec":
        yield SHIM_CMD
        return
    launcher = request.getfixturevalue("forkserver_launcher")
    before = launcher.exec_fallbacks
    yield launcher
    assert launcher.exec_fallbacks == before, "the fork server was not used"


@pytest.fixture(params=_candidate_runtimes(), ids=lambda p: os.path.basename(p))
def runtime(request, workdir, rootfs, base_spec):
    why = _probe(request.param, workdir, rootfs, base_spec)
    if why:
        pytest.skip(f"{request.param} does not run containers here: {why}")
    return request.param


class Tasks:
    """Creates bundles + shims and cleans up every container, shim and directory it made."""

    def __init__(self, runtime: str, workdir: str, rootfs: str, spec: dict,
                 shim_cmd: "list[str] | ShimLauncher" = SHIM_CMD) -> None:
        self.runtime = runtime
        self.shim_cmd = shim_cmd
        self.workdir = workdir
        self.rootfs = rootfs
        self.spec = spec
        self.root = os.path.join(workdir, "runtime-root-" + os.path.basename(runtime))
        self.made: list[TaskConfig] = []

    def config(self, args: list[str], *, tty: bool = False, stdin: bool = False,
               stdin_once: bool = False, long_dir: bool = False) -> TaskConfig:
        cid = "t" + uuid.uuid4().hex[:12]
        base = os.path.join(self.workdir, cid)
        if long_dir:  # state dir longer than an AF_UNIX sun_path
            base = os.path.join(base, "x" * 60, "y" * 60)
        bundle = os.path.join(base, "bundle")
        os.makedirs(bundle)
        s = copy.deepcopy(self.spec)
        s["root"] = {"path": self.rootfs, "readonly": True}
        s["process"]["terminal"] = tty
        s["process"]["args"] = args
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(s, f)
        cfg = TaskConfig(state_dir=os.path.join(base, "state"), id=cid, bundle=bundle,
                         runtime=self.runtime, runtime_root=self.root,
                         log_path=os.path.join(base, f"{cid}-json.log"), tty=tty, stdin=stdin,
                         stdin_once=stdin_once)
        self.made.append(cfg)
        return cfg

    def spawn(self, args: list[str], **kw) -> tuple[TaskConfig, ShimClient]:
        cfg = self.config(args, **kw)
        return cfg, ShimClient.spawn(cfg, self.shim_cmd)

    def cleanup(self) -> list[str]:
        problems = []
        for cfg in self.made:
            shim_pid = _read_int(os.path.join(cfg.state_dir, "shim.pid"))
            init_pid = _read_int(os.path.join(cfg.state_dir, "init.pid"))
            client = ShimClient(cfg.state_dir)
            if client.alive():  # a test that left its container running, or a shim exiting
                try:
                    client.kill(9, all=True)
                except SystemErr:
                    pass
                client.wait()
            subprocess.run([self.runtime, "--root", self.root, "delete", "--force", cfg.id],
                           capture_output=True)
            for pid in (shim_pid, init_pid):
                if pid and not _gone(pid, 10):
                    problems.append(f"{cfg.id}: pid {pid} left behind")
                    os.kill(pid, signal.SIGKILL)  # ours: recorded by our shim
                    _gone(pid, 5)
            shutil.rmtree(os.path.join(self.workdir, cfg.id), ignore_errors=True)
        return problems


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _gone(pid: int, timeout: float) -> bool:
    """Wait for pid to disappear, reaping it if it is our (adopted) child."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@pytest.fixture
def tasks(runtime, workdir, rootfs, base_spec, shim_cmd):
    t = Tasks(runtime, workdir, rootfs, base_spec, shim_cmd)
    yield t
    problems = t.cleanup()
    assert not problems, problems


# ---- helpers -------------------------------------------------------------------------------

def read_all(sock: socket.socket, timeout: float = 20) -> bytes:
    sock.settimeout(timeout)
    out = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(out)
        out += chunk


def demux(data: bytes) -> dict[int, bytes]:
    streams: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    i = 0
    while i < len(data):
        kind, size = struct.unpack(">BxxxL", data[i:i + 8])
        assert kind in (1, 2), data[i:i + 8]
        streams[kind] += data[i + 8:i + 8 + size]
        i += 8 + size
    assert i == len(data)
    return {k: bytes(v) for k, v in streams.items()}


def log_records(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    recs = [json.loads(line) for line in lines]
    for line, rec in zip(lines, recs, strict=True):
        assert list(rec) == ["log", "stream", "time"], line
        assert rec["stream"] in ("stdout", "stderr")
        assert TIME_RE.match(rec["time"]), rec["time"]
    return recs


def wait_for(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# ---- json-file log format (no runtime needed) ----------------------------------------------

def test_rfc3339nano_trims_zeros():
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"


def test_encode_line_escapes_like_go():
    raw = encode_line(b"<a>&\"\\\t\x01\xff\xe2\x80\xa8ok\n", "stdout", "T")
    assert raw.endswith(b"\n")
    assert b"\\u003ca\\u003e\\u0026" in raw and b"\\u2028" in raw
    rec = json.loads(raw)
    assert rec == {"log": "<a>&\"\\\t\x01\ufffd\u2028ok\n", "stream": "stdout", "time": "T"}


def test_fast_path_matches_line_by_line_encoding():
    import random
    rng = random.Random(7)
    alphabet = b"ab \t\x00\x1f\x7f\"\\\xc3\xa9\xe2\x82\xac\xff\xfe\xe2\x80"
    for _ in range(200):
        lines = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
                 for _ in range(rng.randrange(1, 6))]
        want = b"".join(encode_line(line + b"\n", "stderr", "T") for line in lines)
        assert encode_lines(lines, "stderr", "T") == want, lines
    lines = [b"<x>", b"a&b"]
    assert encode_lines(lines, "stdout", "T") == b"".join(
        encode_line(line + b"\n", "stdout", "T") for line in lines)


def test_jsonlog_splits_lines_and_partials(tmp_path):
    path = str(tmp_path / "x.log")
    log = JSONLog(path)
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"e1\n")
    log.write("stdout", b"o\nthree")
    log.write("stdout", b"x" * (BUF_SIZE + 10) + b"\n")
    log.write("stderr", b"tail-without-newline")
    log.close()
    recs = [(r["stream"], r["log"]) for r in log_records(path)]
    assert recs == [
        ("stdout", "one\n"), ("stderr", "e1\n"), ("stdout", "two\n"),
        ("stdout", "three" + "x" * (BUF_SIZE - 5)), ("stdout", "x" * 15 + "\n"),
        ("stderr", "tail-without-newline"),
    ]


def test_jsonlog_rotation(tmp_path):
    path = str(tmp_path / "r.log")
    log = JSONLog(path, max_size=300, max_file=3)
    for i in range(40):
        log.write("stdout", f"line {i:02d}\n".encode())
    log.close()
    files = [path, path + ".1", path + ".2"]
    assert not os.path.exists(path + ".3")
    sizes = [os.path.getsize(f) for f in files]
    assert all(0 < sz < 300 + 100 for sz in sizes), sizes
    got = [r["log"] for f in reversed(files) for r in log_records(f)]
    want = [f"line {i:02d}\n" for i in range(40)]
    assert got == want[-len(got):] and len(got) < 40
    batch = JSONLog(str(tmp_path / "b.log"), max_size=300, max_file=2)
    batch.write("stdout", b"".join(f"line {i:02d}\n".encode() for i in range(40)))
    batch.close()
    got = [r["log"] for f in ("b.log.1", "b.log") for r in log_records(str(tmp_path / f))]
    assert got == want[-len(got):] and 0 < len(got) < 40
    assert os.path.getsize(tmp_path / "b.log.1") < 300 + 100
    trunc = JSONLog(str(tmp_path / "t.log"), max_size=200, max_file=1)
    for i in range(40):
        trunc.write("stderr", f"line {i:02d}\n".encode())
    trunc.close()
    assert os.path.getsize(tmp_path / "t.log") < 300
    assert log_records(str(tmp_path / "t.log"))[-1]["log"] == "line 39\n"


# ---- the shim with a real runtime ----------------------------------------------------------

def test_output_to_log_and_attach(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "echo out1; echo err1 >&2; echo '<b>&'; exit 0"])
    assert c.state()["status"] == "created"
    a1 = c.attach(stdin=False, stdout=True, stderr=True)
    a2 = c.attach(stdin=False, stdout=True, stderr=False)
    info = c.start()
    assert info.pid == c.pid and TIME_RE.match(info.started_at)
    st = c.wait()
    assert st.exit_code == 0 and not st.oom_killed and TIME_RE.match(st.exited_at)
    s1, s2 = demux(read_all(a1)), demux(read_all(a2))
    assert s1 == {1: b"out1\n<b>&\n", 2: b"err1\n"}
    assert s2 == {1: b"out1\n<b>&\n", 2: b""}
    recs = log_records(cfg.log_path)
    assert sorted((r["stream"], r["log"]) for r in recs) == [
        ("stderr", "err1\n"), ("stdout", "<b>&\n"), ("stdout", "out1\n")]
    with open(cfg.log_path, "rb") as f:
        assert b"\\u003cb\\u003e\\u0026" in f.read()
    assert wait_for(lambda: not os.path.exists(os.path.join(cfg.state_dir, "shim.sock")))


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code(tasks, code):
    cfg, c = tasks.spawn(["sh", "-c", f"exit {code}"])
    c.start()
    assert c.wait().exit_code == code
    with open(os.path.join(cfg.state_dir, "exit.json")) as f:
        assert json.load(f)["exit_code"] == code


def test_sigkill_is_137_and_state_pids_pause(tasks):
    cfg, c = tasks.spawn(["sleep", "1000"])
    c.start()
    assert c.state() == {"status": "running", "pid": c.pid}
    assert c.pids() == [c.pid]
    c.pause()
    assert c.state()["status"] == "paused"
    c.resume()
    assert c.state()["status"] == "running"
    c.kill(signal.SIGKILL)
    st = c.wait()
    assert st.exit_code == 137
    assert c.wait() == st  # from exit.json (or a late shim reply): same answer


def test_stdin_once_via_attach(tasks):
    cfg, c = tasks.spawn(["cat"], stdin=True, stdin_once=True)
    a = c.attach(stdin=True, stdout=True, stderr=True, stdin_once=True)
    c.start()
    a.sendall(b"hi\n")
    a.shutdown(socket.SHUT_WR)
    assert demux(read_all(a)) == {1: b"hi\n", 2: b""}
    assert c.wait().exit_code == 0
    assert [(r["stream"], r["log"]) for r in log_records(cfg.log_path)] == [("stdout", "hi\n")]


def test_close_stdin_op(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "cat; echo done"], stdin=True)
    a = c.attach(stdin=True, stdout=True, stderr=False)
    c.start()
    a.sendall(b"x\n")
    c.close_stdin()
    assert demux(read_all(a))[1] == b"x\ndone\n"
    assert c.wait().exit_code == 0


def test_tty_resize(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "read line; stty size; exit 5"], tty=True, stdin=True)
    a = c.attach(stdin=True, stdout=True, stderr=True)
    c.start()
    c.resize(33, 101)
    a.sendall(b"go\r")
    out = read_all(a)  # raw: no stdcopy framing with a TTY
    assert b"33 101" in out, out
    assert c.wait().exit_code == 5
    recs = log_records(cfg.log_path)
    assert all(r["stream"] == "stdout" for r in recs)
    assert "33 101\r\n" in "".join(r["log"] for r in recs)


def test_big_output_reaches_log_and_attachers(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "seq 1 50000; seq 1 20000 >&2"])
    a = c.attach(stdin=False, stdout=True, stderr=True)
    c.start()
    s = demux(read_all(a, timeout=60))
    assert c.wait().exit_code == 0
    want_out = "".join(f"{i}\n" for i in range(1, 50001)).encode()
    assert s[1] == want_out
    assert s[2] == "".join(f"{i}\n" for i in range(1, 20001)).encode()
    recs = log_records(cfg.log_path)
    assert "".join(r["log"] for r in recs if r["stream"] == "stdout").encode() == want_out
    assert sum(1 for r in recs if r["stream"] == "stderr") == 20000


def test_wait_after_shim_gone_reads_exit_json(tasks, tmp_path):
    cfg, c = tasks.spawn(["sh", "-c", "exit 7"])
    c.start()
    shim_pid = _read_int(os.path.join(cfg.state_dir, "shim.pid"))
    assert wait_for(lambda: not os.path.exists(os.path.join(cfg.state_dir, "shim.sock")))
    assert shim_pid and _gone(shim_pid, 10)
    c2 = ShimClient(cfg.state_dir)
    assert not c2.alive()
    st = c2.wait()
    assert st.exit_code == 7 and TIME_RE.match(st.exited_at)
    # Neither a shim nor exit.json: the container died with the host.
    lost = ShimClient(str(tmp_path))
    assert lost.wait().exit_code == 255


SPAWNER = r"""
import json, sys, time
from dockerd_py.lifecycle import ShimClient, ShimLauncher, TaskConfig
cfg = TaskConfig(**json.loads(sys.argv[1]))
how = json.loads(sys.argv[2])  # a command, or the exec-root of a fork server of our own
launcher = how if isinstance(how, list) else ShimLauncher(how)
c = ShimClient.spawn(cfg, launcher)
info = c.start()
fs = None if isinstance(how, list) else launcher.server_pid()
assert fs is None or launcher.exec_fallbacks == 0
print(info.pid, fs or 0, flush=True)
time.sleep(1000)
"""


def test_shim_survives_its_spawner(tasks):
    """SIGKILL the daemon (and, with the fork server, the fork server it started): the
    container runs on, a new client reconnects, a new launcher replaces the stale socket."""
    cfg = tasks.config(["sh", "-c", "trap 'echo bye; exit 42' TERM; while true; do sleep 0.1; done"])
    forked = isinstance(tasks.shim_cmd, ShimLauncher)
    exec_root = os.path.join(os.path.dirname(cfg.state_dir), "exec-root")
    spawner = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, json.dumps(cfg.__dict__),
         json.dumps(exec_root if forked else SHIM_CMD)],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        pid, fs_pid = map(int, spawner.stdout.readline().split())
        if forked:
            assert fs_pid > 0
            os.kill(fs_pid, signal.SIGKILL)  # ours: the spawner we started started it
    finally:
        spawner.kill()  # SIGKILL, the daemon crashing
        spawner.wait()
        spawner.stdout.close()
    if forked:
        assert _gone(fs_pid, 10)  # adopted by us (the subreaper): reap it
    time.sleep(0.2)
    os.kill(pid, 0)  # the container is still running
    c = ShimClient(cfg.state_dir)
    assert c.alive()
    assert c.state() == {"status": "running", "pid": pid}
    a = c.attach(stdin=False, stdout=True, stderr=True)  # the restarted daemon re-attaches
    if forked:  # the restarted daemon: the dead fork server's socket is stale
        assert os.path.exists(os.path.join(exec_root, "shim-forkserver.sock"))
        launcher = ShimLauncher(exec_root, SHIM_CMD)
        try:
            cfg2 = tasks.config(["true"])
            c2 = ShimClient.spawn(cfg2, launcher)
            assert launcher.exec_fallbacks == 0 and launcher.server_pid() not in (None, fs_pid)
            c2.start()
            assert c2.wait().exit_code == 0
        finally:
            new_fs = launcher.server_pid()
            launcher.close(stop=True)
            assert new_fs is None or _gone(new_fs, 10)
    c.kill(signal.SIGTERM)
    assert c.wait().exit_code == 42
    assert demux(read_all(a)) == {1: b"bye\n", 2: b""}


def test_create_failure_reports_runtime_message(tasks):
    cfg = tasks.config(["/no/such/binary"])
    with pytest.raises(SystemErr) as exc:
        ShimClient.spawn(cfg, tasks.shim_cmd)
    msg = exc.value.message
    assert "/no/such/binary" in msg and "no such file or directory" in msg, msg
    assert not os.path.exists(os.path.join(cfg.state_dir, "shim.sock"))
    assert not ShimClient(cfg.state_dir).alive()
    st = subprocess.run([tasks.runtime, "--root", tasks.root, "state", cfg.id],
                        capture_output=True)
    assert st.returncode != 0  # nothing left in the runtime


def test_errors_come_back_as_system_err(tasks):
    cfg, c = tasks.spawn(["sleep", "1000"])
    with pytest.raises(SystemErr):
        c.resize(10, 10)  # no TTY
    c.start()
    c.kill(signal.SIGKILL)
    c.wait()
    assert isinstance(c.wait(), ExitStatus)
    with pytest.raises(SystemErr):
        c.kill(signal.SIGKILL)  # shim gone


def test_oom_killed(tasks):
    cfg = tasks.config(["sh", "-c", "head -c 300000000 /dev/zero | tail -c 200000000 >/dev/null"])
    with open(os.path.join(cfg.bundle, "config.json")) as f:
        spec = json.load(f)
    spec["linux"].setdefault("resources", {})["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    with open(os.path.join(cfg.bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    c = ShimClient.spawn(cfg, tasks.shim_cmd)
    c.start()
    st = c.wait()
    assert st.oom_killed, st


def test_kill_before_start(tasks):
    cfg, c = tasks.spawn(["true"])
    c.kill(signal.SIGKILL)
    assert c.wait().exit_code == 137


def test_missing_runtime_binary(tasks):
    cfg = tasks.config(["true"])
    cfg.runtime = "/no/such/runtime"
    with pytest.raises(SystemErr) as exc:
        ShimClient.spawn(cfg, tasks.shim_cmd)
    assert "No such file" in exc.value.message


def test_shim_imports_stay_lean():
    code = ("import sys; import dockerd_py.shim.server, dockerd_py.shim.__main__; "
            "print('\\n'.join(sorted(sys.modules)))")
    mods = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": REPO}).stdout.split()
    ours = [m for m in mods if m.startswith("dockerd_py")]
    # the shim's own package, plus the stdlib-only atomic writer all persisted state shares
    allowed = ("dockerd_py", "dockerd_py.state", "dockerd_py.state.atomic")
    assert all(m in allowed or m.startswith("dockerd_py.shim") for m in ours), ours
    for heavy in ("flask", "pluggy", "pyroute2", "subprocess", "threading", "typing", "asyncio"):
        assert heavy not in mods, heavy


def test_no_pid_namespace_background_child_does_not_hold_the_shim(tasks):
    cfg = tasks.config(["sh", "-c", "sleep 1000 & echo started"])
    with open(os.path.join(cfg.bundle, "config.json")) as f:
        spec = json.load(f)
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"]
                                   if ns["type"] != "pid"]
    with open(os.path.join(cfg.bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    c = ShimClient.spawn(cfg, tasks.shim_cmd)
    a = c.attach(stdin=False, stdout=True, stderr=True)
    c.start()
    t0 = time.monotonic()
    assert demux(read_all(a)) == {1: b"started\n", 2: b""}
    assert c.wait().exit_code == 0
    assert time.monotonic() - t0 < 5


@pytest.fixture
def exec_tasks(tasks):
    """tasks, for a runtime that has the `exec` verb (an extension of contracts.md §1)."""
    p = subprocess.run([tasks.runtime, "exec", "--help"], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"{tasks.runtime} has no exec verb")
    return tasks


def _exec_process(base_spec: dict, args: list[str]) -> dict:
    proc = copy.deepcopy(base_spec["process"])
    proc["args"] = args
    return proc


def test_exec_streams_stdin_and_exit_code(exec_tasks, base_spec):
    cfg, c = exec_tasks.spawn(["sleep", "1000"])
    c.start()
    pid, s = c.exec("e1", _exec_process(base_spec, ["sh", "-c", "cat; echo err >&2; exit 4"]),
                    stdin=True)
    assert pid > 0 and s is not None
    assert c.exec_state("e1")["status"] in ("running", "stopped")
    s.sendall(b"in-exec\n")
    s.shutdown(socket.SHUT_WR)  # exec stdin always closes on half-close
    assert demux(read_all(s)) == {1: b"in-exec\n", 2: b"err\n"}
    assert c.exec_wait("e1").exit_code == 4
    assert c.exec_state("e1")["exit_code"] == 4
    with pytest.raises(SystemErr):
        c.exec("e1", _exec_process(base_spec, ["true"]))  # ids are unique
    # Detached exec, then a TTY exec with resize.
    dpid, none = c.exec("e2", _exec_process(base_spec, ["sh", "-c", "exit 2"]), detach=True)
    assert none is None and c.exec_wait("e2").exit_code == 2
    _, t = c.exec("e3", _exec_process(base_spec, ["sh", "-c", "read x; stty size"]), tty=True,
                  stdin=True)
    c.resize(12, 34, exec_id="e3")
    t.sendall(b"go\r")
    assert b"12 34" in read_all(t)
    assert c.exec_wait("e3").exit_code == 0
    # exec output is not in the container's log
    assert not os.path.exists(cfg.log_path) or os.path.getsize(cfg.log_path) == 0
    c.kill(signal.SIGKILL)
    assert c.wait().exit_code == 137


def test_exec_dies_with_the_container(exec_tasks, base_spec):
    cfg, c = exec_tasks.spawn(["sleep", "1000"])
    c.start()
    _, s = c.exec("long", _exec_process(base_spec, ["sleep", "1000"]))
    with pytest.raises(SystemErr):
        c.exec("bad", _exec_process(base_spec, ["/no/such/exec"]))
    c.kill(signal.SIGKILL)
    assert c.wait().exit_code == 137
    assert read_all(s) == b""  # stream closed


def test_exec_fast_output_delete_and_exit_json(exec_tasks, base_spec):
    """Output a process writes before the runtime's `exec --detach` returns is the process's;
    exec_delete forgets a finished exec; exit.json keeps the exits not deleted."""
    cfg, c = exec_tasks.spawn(["sleep", "1000"])
    c.start()
    for i in range(5):
        _, s = c.exec(f"fast{i}", _exec_process(base_spec, ["echo", f"quick{i}"]))
        assert demux(read_all(s)) == {1: f"quick{i}\n".encode(), 2: b""}
        assert c.exec_wait(f"fast{i}").exit_code == 0
    with pytest.raises(SystemErr):  # not while it runs
        _, s = c.exec("slow", _exec_process(base_spec, ["sleep", "1000"]))
        c.exec_delete("slow")
    c.exec_delete("fast0")
    with pytest.raises(SystemErr):
        c.exec_state("fast0")
    c.exec("two", _exec_process(base_spec, ["sh", "-c", "exit 2"]), detach=True)
    assert c.exec_wait("two").exit_code == 2
    c.kill(signal.SIGKILL)
    assert c.wait().exit_code == 137
    with open(os.path.join(cfg.state_dir, "exit.json")) as f:
        execs = json.load(f)["execs"]
    assert "fast0" not in execs and execs["two"] == 2 and execs["fast1"] == 0 and execs["slow"] == 137
    assert c.exec_wait("two").exit_code == 2  # from exit.json, the shim being gone
    assert c.exec_wait("fast0").exit_code == 255


def test_long_state_dir(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "read x; stty size"], tty=True, stdin=True, long_dir=True)
    assert len(os.path.join(cfg.state_dir, "console.sock")) > 108
    a = c.attach(stdin=True, stdout=True, stderr=True)
    c.start()
    c.resize(20, 70)
    a.sendall(b"go\r")
    assert b"20 70" in read_all(a)
    assert c.wait().exit_code == 0


def test_restart_in_the_same_dir_right_after_wait(tasks):
    cfg, c = tasks.spawn(["sh", "-c", "echo one"])
    c.start()
    assert c.wait().exit_code == 0
    c2 = ShimClient.spawn(cfg, tasks.shim_cmd)  # what a restart policy does at once
    c2.start()
    assert c2.wait().exit_code == 0
    assert [r["log"] for r in log_records(cfg.log_path)] == ["one\n", "one\n"]
    assert not os.path.exists(os.path.join(cfg.state_dir, "shim.sock"))
