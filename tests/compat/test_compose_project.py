"""A realistic `docker compose` v2 project end to end, as a user drives it.

One project (files written under a temporary directory): a service built from a
Dockerfile (build args, a target stage), a service whose image goes through a local
registry (`compose push`/`pull`), a named volume and a bind mount, a frontend and an
internal backend network with one service on both, a published port, a healthcheck
others wait for, resource limits, tmpfs, read-only root, dropped capabilities,
ulimits, labels, profiles and a scaled service. The tests run in file order on one
project; the last one takes it down and checks nothing is left, in the daemon or the kernel.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from .. import registry as registry_mod
from .conftest import DOCKER, ComposeProject, retry

DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=unset
RUN mkdir -p /www && echo "web says $GREETING" > /www/index.html
FROM base AS final
RUN echo "stage final" >> /www/index.html
FROM base AS never
RUN echo "a stage after the target is not built" && false
"""

API_DOCKERFILE = """\
FROM busybox
RUN echo api-1 > /etc/api-version
"""

COMPOSE = """\
name: {name}
services:
  web:
    build:
      context: ./web
      target: final
      args:
        GREETING: hello-from-build
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1::80"]
    networks: [frontend]
    restart: unless-stopped
    labels:
      tier: front
    healthcheck:
      test: ["CMD-SHELL", "echo | nc -w 1 127.0.0.1 80"]
      interval: 1s
      timeout: 3s
      retries: 30
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
  api:
    image: {api_image}
    build: ./api
    depends_on:
      web:
        condition: service_healthy
    entrypoint: ["sh", "-c"]
    command:
      - |
        echo "api up as $$ROLE"
        date +%s%N >> /data/starts
        while true; do cat /data/starts /shared/motd | nc -l -p 9000; done
    environment:
      ROLE: backend-api
    env_file: [api.env]
    networks: [frontend, backend]
    volumes:
      - data:/data
      - ./shared:/shared:ro
    tmpfs: [/scratch]
    read_only: true
    cap_drop: [NET_RAW]
    ulimits:
      nofile:
        soft: 1024
        hard: 2048
  db:
    image: busybox
    command: ["sleep", "600"]
    environment:
      VERSION: "{db_version}"
    networks: [backend]
  worker:
    image: busybox
    command: ["sh", "-c", "while true; do hostname | nc -l -p 7000; done"]
    networks: [backend]
  debug:
    image: busybox
    profiles: [debug]
    command: ["sleep", "600"]
    networks: [backend]
volumes:
  data: {{}}
networks:
  frontend: {{}}
  backend:
    internal: true
"""


class Project(ComposeProject):
    def __init__(self, daemon, root: str, name: str, api_image: str = "") -> None:
        super().__init__(daemon, root, name, timeout=180)
        self.api_image = api_image
        self.mounts_before = daemon_mounts(daemon)

    def write(self, db_version: str) -> None:
        with open(os.path.join(self.root, "compose.yaml"), "w") as f:
            f.write(COMPOSE.format(name=self.name, api_image=self.api_image, db_version=db_version))

    def ids(self, service: str = "") -> list[str]:
        return sorted(self.ok("ps", "-aq", *([service] if service else [])).split())

    def sh(self, service: str, script: str) -> subprocess.CompletedProcess:
        return self("exec", "-T", service, "sh", "-c", script, timeout=60)


def daemon_mounts(daemon) -> set[str]:
    """Mount points under the daemon's data and exec roots."""
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f}
    return {m for m in points if m.startswith(daemon.root + "/")}


def http_get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


@pytest.fixture(scope="module")
def registry():
    if not registry_mod.available():
        pytest.skip("docker-registry and htpasswd are needed (contrib/setup.sh installs them)")
    tmp = tempfile.mkdtemp(prefix="reg", dir="/tmp")
    reg = registry_mod.Registry(tmp).start()
    yield reg
    reg.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def project(daemon, registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    (root / "web").mkdir()
    (root / "web" / "Dockerfile").write_text(DOCKERFILE)
    (root / "api").mkdir()
    (root / "api" / "Dockerfile").write_text(API_DOCKERFILE)
    (root / "shared").mkdir()
    (root / "shared" / "motd").write_text("motd from the host\n")
    (root / "api.env").write_text("# from env_file\nFROM_FILE=yes-from-file\n")
    name = "cp" + uuid.uuid4().hex[:8]
    p = Project(daemon, str(root), name, f"{registry.host}/shop/api:1")
    p.write(db_version="1")
    yield p
    p("down", "-v", "--rmi", "local", "--timeout", "1")
    p.docker("rmi", p.api_image)


def test_push_pull_then_up_build_wait(project):
    p = project
    p.ok("build", "api")
    out = p("push", "api")
    assert out.returncode == 0, out.stdout + out.stderr
    assert p.docker("rmi", p.api_image).returncode == 0
    out = p("pull", "api")
    assert out.returncode == 0, out.stdout + out.stderr
    assert p.inspect(p.api_image)["RepoDigests"][0].startswith(p.api_image.rsplit(":", 1)[0] + "@sha256:")
    assert p.docker("run", "--rm", p.api_image, "cat", "/etc/api-version").stdout == "api-1\n"
    p.ok("up", "-d", "--build", "--wait", timeout=300)
    states = dict(line.split(" ", 1) for line in
                  p.ok("ps", "--format", "{{.Service}} {{.State}} {{.Health}}").splitlines())
    assert states == {"web": "running healthy", "api": "running ", "db": "running ", "worker": "running "}
    # the profile service is not started without its profile
    assert "debug" not in p.ok("ps", "-a", "--services")
    # web waited for: api started after web turned healthy
    web, api = p.service("web"), p.service("api")
    assert web["State"]["Health"]["Status"] == "healthy"
    assert api["State"]["StartedAt"] > web["State"]["StartedAt"]


def test_service_settings_as_the_container_sees_them(project):
    p = project
    web, api = p.service("web"), p.service("api")
    assert web["HostConfig"]["NanoCpus"] == 500_000_000 and web["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert web["Config"]["Labels"]["tier"] == "front"
    assert web["Config"]["Labels"]["com.docker.compose.service"] == "web"
    got = p.sh("web", "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>/dev/null || cat "
                      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
                      "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v2, else v1
    assert got.stdout in ("50000 100000\n67108864\n", "50000\n100000\n67108864\n"), got.stdout + got.stderr
    env = p.sh("api", "env").stdout.splitlines()
    assert "ROLE=backend-api" in env and "FROM_FILE=yes-from-file" in env
    assert api["Config"]["Entrypoint"] == ["sh", "-c"]
    assert p.sh("api", "ulimit -n; ulimit -Hn").stdout == "1024\n2048\n"
    # read-only root, writable tmpfs, read-only bind, writable volume
    assert p.sh("api", "touch /rootfs-write").returncode != 0
    assert p.sh("api", "touch /scratch/x && grep ' /scratch ' /proc/mounts").stdout.startswith("tmpfs /scratch tmpfs rw")
    assert p.sh("api", "touch /shared/x").returncode != 0
    assert p.sh("api", "cat /shared/motd").stdout == "motd from the host\n"
    assert p.sh("api", "touch /data/x && rm /data/x").returncode == 0
    # NET_RAW dropped (bit 13): no raw sockets
    capeff = int(p.sh("api", "grep CapEff /proc/self/status").stdout.split()[1], 16)
    assert capeff and not capeff & (1 << 13)
    assert int(p.sh("db", "grep CapEff /proc/self/status").stdout.split()[1], 16) & (1 << 13)


def test_services_talk_by_name_and_networks_isolate(project):
    p = project
    page = retry(lambda: p.sh("api", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80"))
    assert page.stdout.startswith("HTTP/1.1 200 OK"), page.stdout + page.stderr
    assert page.stdout.endswith("\nweb says hello-from-build\nstage final\n")
    got = retry(lambda: p.sh("db", "nc -w 3 api 9000 </dev/null"))
    assert got.stdout.endswith("motd from the host\n"), got.stdout + got.stderr
    # db (backend only, internal) cannot see web and has no way out
    assert p.sh("db", "nslookup web 127.0.0.11").returncode != 0
    web_ip = p.service("web")["NetworkSettings"]["Networks"][f"{p.name}_frontend"]["IPAddress"]
    assert p.sh("db", f"nc -w 2 {web_ip} 80 </dev/null").returncode != 0
    assert "default" not in p.sh("db", "ip route").stdout
    assert "default" in p.sh("api", "ip route").stdout
    # the published port answers on the host
    hostport = p.ok("port", "web", "80").strip()
    assert hostport.startswith("127.0.0.1:")
    assert http_get(int(hostport.rsplit(":", 1)[1])).endswith(b"web says hello-from-build\nstage final\n")


def test_logs_run_cp_top(project, tmp_path):
    p = project
    assert "api up as backend-api" in p.ok("logs", "--no-log-prefix", "api")
    assert p.ok("run", "--rm", "-T", "db", "sh", "-c", "echo run-$VERSION").strip() == "run-1"
    # a profile service runs on demand, on the project's backend network
    got = p("run", "--rm", "-T", "debug", "sh", "-c", "nc -w 3 api 9000 </dev/null")
    assert got.returncode == 0 and got.stdout.endswith("motd from the host\n"), got.stdout + got.stderr
    oneoff = p.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={p.name}",
                      "--filter", "label=com.docker.compose.oneoff=True")
    assert oneoff.returncode == 0 and oneoff.stdout == ""                   # run --rm removed them
    (tmp_path / "note.txt").write_text("copied in\n")
    p.ok("cp", str(tmp_path / "note.txt"), "api:/data/note.txt")
    assert p.sh("api", "cat /data/note.txt").stdout == "copied in\n"
    p.ok("cp", "api:/shared/motd", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "motd from the host\n"
    top = p.ok("top", "web")
    header, row = top.splitlines()
    assert header.split()[:4] == ["SERVICE", "#", "UID", "PID"] and row.split()[:3] == ["web", "1", "root"]
    assert row.endswith("httpd -f -p 80 -h /www")


def _state(p: Project, service: str) -> str:
    return p.ok("ps", "-a", "--format", "{{.State}}", service).strip()


def test_stop_start_restart_pause_kill_events(project):
    p = project
    events = subprocess.Popen([DOCKER, "compose", "events", "--json"], cwd=p.root, env=p.daemon.env,
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        p.ok("stop", "-t", "1", "worker")
        assert _state(p, "worker") == "exited"
        p.ok("start", "worker")
        assert _state(p, "worker") == "running"
        before = p.service("db")["State"]["StartedAt"]
        p.ok("restart", "-t", "1", "db")
        assert p.service("db")["State"]["StartedAt"] > before
        p.ok("pause", "db")
        assert _state(p, "db") == "paused"
        p.ok("unpause", "db")
        assert _state(p, "db") == "running"
        p.ok("kill", "-s", "KILL", "worker")
        assert _state(p, "worker") == "exited"
        assert p.service("worker")["State"]["ExitCode"] == 137
        p.ok("start", "worker")
        # restart: unless-stopped brings web back when its process dies, not after `compose kill`
        os.kill(p.service("web")["State"]["Pid"], signal.SIGKILL)
        deadline = time.monotonic() + 15
        while (_state(p, "web"), p.service("web")["RestartCount"]) != ("running", 1):
            assert time.monotonic() < deadline, "web was not restarted by its policy"
            time.sleep(0.2)
        p.ok("kill", "web")
        time.sleep(1.5)
        assert _state(p, "web") == "exited" and p.service("web")["RestartCount"] == 1
        p.ok("start", "web")
        time.sleep(1)
    finally:
        events.terminate()
        out, _ = events.communicate(timeout=10)
    seen = [(e["service"], e["action"]) for e in map(json.loads, out.splitlines())]
    for want in [("worker", "stop"), ("worker", "start"), ("db", "restart"), ("db", "pause"), ("db", "unpause"),
                 ("worker", "kill"), ("worker", "die"),
                 ("web", "die"), ("web", "kill")]:
        assert want in seen, seen


def test_config_images_and_a_changed_service_alone_is_recreated(project):
    p = project
    images = p.ok("config", "--images").split()
    assert set(images) == {f"{p.name}-web", p.api_image, "busybox"}
    listed = p.ok("images", "--format", "json")
    repos = {(i["ContainerName"], i["Repository"]) for i in json.loads(listed)}
    assert (f"{p.name}-web-1", f"{p.name}-web") in repos and (f"{p.name}-api-1", p.api_image.rsplit(":", 1)[0]) in repos
    before = {s: p.ids(s) for s in ("web", "api", "db", "worker")}
    p.write(db_version="2")
    out = p("up", "-d", "--wait")
    assert out.returncode == 0, out.stderr
    after = {s: p.ids(s) for s in ("web", "api", "db", "worker")}
    assert after["db"] != before["db"]
    assert {s: after[s] for s in ("web", "api", "worker")} == {s: before[s] for s in ("web", "api", "worker")}
    assert p.sh("db", "echo $VERSION").stdout == "2\n"


def test_scale_two_replicas_round_robin(project):
    p = project
    p.ok("up", "-d", "--scale", "worker=2", "--wait")
    assert len(p.ids("worker")) == 2
    addrs = p.sh("db", "nslookup worker 127.0.0.11").stdout
    ips = {c["NetworkSettings"]["Networks"][f"{p.name}_backend"]["IPAddress"]
           for c in map(p.inspect, p.ids("worker"))}
    assert all(ip in addrs for ip in ips), addrs
    hosts = set()
    for _ in range(12):
        got = retry(lambda: p.sh("db", "nc -w 2 worker 7000 </dev/null"))
        hosts.add(got.stdout.strip())
    assert hosts == {p.inspect(c)["Config"]["Hostname"] for c in p.ids("worker")}
    p.ok("scale", "worker=1")
    assert len(p.ids("worker")) == 1


def test_volume_survives_down_and_down_v_leaves_nothing(project):
    p = project
    starts = p.sh("api", "cat /data/starts").stdout.splitlines()
    assert starts
    p.ok("down", "-t", "1")
    assert p.docker("volume", "inspect", f"{p.name}_data").returncode == 0
    p.ok("up", "-d", "--wait")
    assert p.sh("api", "cat /data/starts").stdout.splitlines()[:len(starts)] == starts
    assert len(p.sh("api", "cat /data/starts").stdout.splitlines()) == len(starts) + 1
    nets = {n: p.inspect(f"{p.name}_{n}")["Id"] for n in ("frontend", "backend")}
    bridges = [f"br-{i[:12]}" for i in nets.values()]
    for br in bridges:
        assert subprocess.run(["ip", "link", "show", br], capture_output=True).returncode == 0
    cids = p.ids()
    p.ok("down", "-v", "--rmi", "local", "-t", "1")
    assert not any(cid in open("/proc/self/mountinfo").read() for cid in cids)   # no netns left
    assert daemon_mounts(p.daemon) <= p.mounts_before                        # no rootfs, shm, volume mounts
    label = f"label=com.docker.compose.project={p.name}"
    assert p.docker("ps", "-aq", "--filter", label).stdout == ""
    assert p.docker("network", "ls", "-q", "--filter", label).stdout == ""
    assert p.docker("volume", "ls", "-q", "--filter", label).stdout == ""
    assert p.docker("image", "inspect", f"{p.name}-web").returncode != 0     # built: removed
    assert p.docker("image", "inspect", p.api_image).returncode == 0         # pulled: kept
    for br in bridges:
        assert subprocess.run(["ip", "link", "show", br], capture_output=True).returncode != 0
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert not any(br in ruleset for br in bridges)
    assert not any(i[:12] in ruleset for i in nets.values())



SHARED_PID = """\
name: {name}
services:
  donor:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  joiner:
    image: busybox
    command: ["sleep", "601"]
    stop_signal: SIGKILL
    pid: "service:donor"
"""


def test_pid_namespace_shared_with_another_service(daemon, tmp_path, cli, container_cleanup):
    p = Project(daemon, str(tmp_path), "ns" + uuid.uuid4().hex[:8])
    (tmp_path / "compose.yaml").write_text(SHARED_PID.format(name=p.name))
    try:
        p.ok("up", "-d", "--wait")
        pids = {s: p.inspect(f"{p.name}-{s}-1")["State"]["Pid"] for s in ("donor", "joiner")}
        assert os.readlink(f"/proc/{pids['donor']}/ns/pid") == os.readlink(f"/proc/{pids['joiner']}/ns/pid")
        assert os.readlink(f"/proc/{pids['donor']}/ns/ipc") != os.readlink(f"/proc/{pids['joiner']}/ns/ipc")
        assert "sleep 600" in p.sh("joiner", "ps -o args").stdout              # the donor's processes
    finally:
        p("down", "-t", "0")
    # with every runtime of the daemon; then Docker's refusal at start: the donor is not running
    n, m = "d" + uuid.uuid4().hex[:8], "j" + uuid.uuid4().hex[:8]
    container_cleanup.extend([n, m])
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    for runtime in json.loads(cli("info", "--format", "{{json .Runtimes}}").stdout):
        if cli("run", "--rm", "--runtime", runtime, "busybox", "true", check=False).returncode:
            continue  # a runtime that cannot run anything on this host (crun on hybrid cgroups)
        got = cli("run", "--rm", "--runtime", runtime, "--pid", f"container:{n}", "busybox", "ps", "-o", "args")
        assert "sleep 300" in got.stdout, runtime
    cli("create", "--name", m, "--pid", f"container:{n}", "busybox", "true")
    cli("kill", n)
    got = cli("start", m, check=False)
    assert got.returncode == 1 and f"container {n} is not running" in got.stderr, got.stderr
