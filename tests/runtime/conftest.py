"""Conformance harness: every test runs the same bundle under dockerd-py-runc and
under runc (the oracle) and asserts the same observable result.

During each test the pytest process is a child subreaper, as the shim is, so
container inits land on it once the runtime exits (and we reap them).
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootfs import make_rootfs  # noqa: E402

from dockerd_runtime.commands.spec import default_spec  # noqa: E402

OURS = os.path.join(os.path.dirname(sys.executable), "dockerd-py-runc")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
CGROUP_PARENT = f"/dpr-test-{os.getpid()}"  # one per session: removed at its end
CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")  # a pure v2 host (the tests/vm guest)
v1_only = pytest.mark.skipif(CGROUP_V2, reason="reads cgroup v1 files")

if os.geteuid() != 0:
    pytest.skip("runtime tests need root", allow_module_level=True)

_libc = ctypes.CDLL(None, use_errno=True)


def set_subreaper(on: bool) -> None:
    _libc.prctl(36, ctypes.c_ulong(int(on)), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


@pytest.fixture(scope="session", autouse=True)
def _remove_cgroup_parent():
    """The session's cgroup parent, and anything a failed test left below it, in every hierarchy."""
    yield
    for hierarchy in ["", *os.listdir("/sys/fs/cgroup")]:
        top = f"/sys/fs/cgroup/{hierarchy}{CGROUP_PARENT}".replace("//", "/")
        for path, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(path)
            except OSError:
                pass


@pytest.fixture(autouse=True)
def _subreaper():
    """Only while a runtime test runs: other suites in the session are not affected."""
    set_subreaper(True)
    yield
    reap()
    set_subreaper(False)


def _base_spec() -> dict[str, Any]:
    """runc's starter config (what `spec` writes), running `true` without a terminal."""
    spec = default_spec()
    spec["process"].update(terminal=False, args=["true"])
    spec["hostname"] = "ctr"
    return spec


BASE_SPEC: dict[str, Any] = _base_spec()


class Runtime:
    """One runtime binary with a private --root."""

    def __init__(self, name: str, binary: str, root: str) -> None:
        self.name, self.binary, self.root = name, binary, root
        self.ids: list[str] = []

    def __repr__(self) -> str:
        return self.name

    def cmd(self, *args: str, input: str | None = None, timeout: float = 30,
            stdout_path: str | None = None) -> subprocess.CompletedProcess:
        """Run the runtime with stdio on files, not pipes: a container's init
        inherits them and would keep a pipe open after the runtime exits."""
        with (open(stdout_path, "w+b") if stdout_path else tempfile.TemporaryFile()) as out, \
                tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
            inp.write((input or "").encode())
            inp.seek(0)
            proc = subprocess.run([self.binary, "--root", self.root, *args], stdin=inp, stdout=out,
                                  stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read().decode(),
                                               err.read().decode())

    def ok(self, *args: str, **kw: Any) -> str:
        res = self.cmd(*args, **kw)
        assert res.returncode == 0, f"{self.name} {args}: rc={res.returncode} stderr={res.stderr}"
        return res.stdout

    def new_id(self) -> str:
        cid = f"t{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        return json.loads(self.ok("state", cid))

    def wait_status(self, cid: str, want: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == want or time.monotonic() > deadline:
                return st
            reap()
            time.sleep(0.02)


def reap() -> None:
    """Reap inits that were reparented to us (we are a subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture(scope="session")
def shared_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_rootfs(str(tmp_path_factory.mktemp("rootfs") / "rootfs"))


@pytest.fixture(params=["ours", "runc"])
def rt(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    binary = OURS if request.param == "ours" else RUNC
    r = Runtime(request.param, binary, str(tmp_path / "state"))
    yield r
    for cid in r.ids:
        r.cmd("delete", "--force", cid)
    reap()
    for cid in r.ids:
        assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}"), f"{r.name} left cgroup of {cid}"


@pytest.fixture
def ours(tmp_path: Any) -> Any:
    r = Runtime("ours", OURS, str(tmp_path / "state"))
    yield r
    for cid in r.ids:
        r.cmd("delete", "--force", cid)
    reap()


def cgroup_exists(path: str) -> bool:
    return any(os.path.isdir(f"/sys/fs/cgroup/{c}{path}") for c in ("memory", "pids", "freezer", "cpu", "unified")) \
        or (CGROUP_V2 and os.path.isdir(f"/sys/fs/cgroup{path}"))


class Bundle:
    def __init__(self, path: str, rootfs: str) -> None:
        self.path = path
        self.spec = copy.deepcopy(BASE_SPEC)
        self.spec["root"]["path"] = rootfs

    def write(self, cid: str | None = None) -> str:
        if cid:
            self.spec["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{cid}"
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.spec, f)
        return self.path

    def args(self, *argv: str) -> "Bundle":
        self.spec["process"]["args"] = list(argv)
        return self


@pytest.fixture
def bundle(tmp_path: Any, shared_rootfs: str) -> Bundle:
    path = tmp_path / "bundle"
    path.mkdir()
    return Bundle(str(path), shared_rootfs)


def run_in(rt: Runtime, bundle: Bundle, script: str, **kw: Any) -> subprocess.CompletedProcess:
    """`run` a shell script in a fresh container; returns the completed process."""
    cid = rt.new_id()
    bundle.args("sh", "-c", script).write(cid)
    res = rt.cmd("run", "--bundle", bundle.path, cid, **kw)
    reap()
    return res


def stats_keys(x: Any, prefix: str = "") -> set[str]:
    """The dotted key paths of an `events --stats` document (".memory.usage.limit", ...)."""
    out: set[str] = set()
    if isinstance(x, dict):
        for k, v in x.items():
            out |= {prefix + "." + k} | stats_keys(v, prefix + "." + k)
    return out


# A container script that waits for the go-ahead of events_until_oom, then goes over its memory limit.
OOM_ON_GO = "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs={size}M count=1; sleep 30"


def events_until_oom(rt: Runtime, cid: str, out_path: Any, interval: str, settle: float = 0.0) -> list[dict]:
    """Run `events --interval` on a container running OOM_ON_GO. Once events has
    printed its first stats line (it is watching: an earlier OOM kill is not
    reported), let the container go; return the events printed until an "oom"
    one (at most 30 s), plus `settle` seconds more."""
    with open(out_path, "w") as out:
        proc = subprocess.Popen([rt.binary, "--root", rt.root, "events", "--interval", interval, cid],
                                stdout=out, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "stats" not in out_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            open(f"/proc/{rt.state(cid)['pid']}/root/dev/shm/go", "w").close()
            while '"oom"' not in out_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(settle)
        finally:
            proc.kill()
            proc.wait()
    return [json.loads(line) for line in out_path.read_text().splitlines()]


@pytest.fixture
def pair(tmp_path: Any) -> Any:
    """(ours, runc) side by side, for tests that compare both in one test."""
    both = (Runtime("ours", OURS, str(tmp_path / "state-ours")), Runtime("runc", RUNC, str(tmp_path / "state-runc")))
    yield both
    for r in both:
        for cid in r.ids:
            r.cmd("delete", "--force", cid)
    reap()
    for r in both:
        for cid in r.ids:
            assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}"), f"{r.name} left cgroup of {cid}"


# --- user namespaces (test_rt_userns.py, test_rt_idmap.py) -----------------
HOST_BASE = 100000
USERNS_MAPS = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]


@pytest.fixture(scope="session")
def userns_rootfs(shared_rootfs: str):
    """The busybox rootfs owned by the mapped root (runc expects the bundle so),
    in a directory the mapped root can traverse (pytest's tmp dirs are 0700)."""
    base = tempfile.mkdtemp(prefix="rt-userns-")
    os.chmod(base, 0o711)
    dest = os.path.join(base, "rootfs")
    shutil.copytree(shared_rootfs, dest, symlinks=True)
    subprocess.run(["chown", "-R", "-h", f"{HOST_BASE}:{HOST_BASE}", dest], check=True)
    yield dest
    shutil.rmtree(base)


@pytest.fixture
def ubundle(bundle: Bundle, userns_rootfs: str) -> Bundle:
    """A bundle with a user namespace mapping root to HOST_BASE."""
    bundle.spec["root"] = {"path": userns_rootfs, "readonly": False}
    bundle.spec["linux"]["namespaces"].append({"type": "user"})
    bundle.spec["linux"]["uidMappings"] = USERNS_MAPS
    bundle.spec["linux"]["gidMappings"] = USERNS_MAPS
    return bundle


# --- rdma (test_rt_cgroups_v2.py, test_rt_cgroups.py) ---------------------
class SoftRoce:
    """A soft-RoCE device (rdma_rxe) on a dummy link, both made here. remove() takes the
    device away before any cgroup that limited it: Linux 6.1 keeps a removed cgroup's rdma
    limits listed on the device, and unregistering the device later touches freed memory
    (list_del corruption in rdmacg_unregister_device, the guest's kernel stops)."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.name, self.link = f"dprxe{tag}", f"dprd{tag}"
        self.made: list[list[str]] = []

    def make(self) -> str | None:
        """None, or why no device could be made."""
        if subprocess.run(["modprobe", "rdma_rxe"], capture_output=True).returncode != 0:
            return "no rdma_rxe (soft-RoCE) module for this kernel; the tests/vm guest has it"
        for argv, undo in ((["ip", "link", "add", self.link, "type", "dummy"], ["ip", "link", "del", self.link]),
                           (["ip", "link", "set", self.link, "up"], None),
                           (["rdma", "link", "add", self.name, "type", "rxe", "netdev", self.link],
                            ["rdma", "link", "delete", self.name])):
            res = subprocess.run(argv, capture_output=True, text=True)
            if res.returncode != 0:
                return f"{' '.join(argv)}: {res.stderr.strip()}"
            if undo:
                self.made.append(undo)
        return None

    def remove(self) -> None:
        while self.made:
            subprocess.run(self.made.pop(), capture_output=True)


@pytest.fixture
def rxe():
    """Ask for it after `pair`: its teardown (the device) then comes before the containers'."""
    dev = SoftRoce()
    try:
        why = dev.make()
        if why:
            pytest.skip(why)
        yield dev
    finally:
        dev.remove()
