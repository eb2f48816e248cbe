"""`docker compose` features the project tests do not reach, checked as Docker's dockerd does them.

One project: a service built from `extends`, with file and inline secrets and configs, init,
sysctls, capabilities, limits, logging options, DNS settings, a user, an anonymous and a
named volume and a static address on a network with its own IPAM config; a service sharing
its network namespace and volumes, started after a job completed successfully; services
under profiles for restart policies and for what Docker refuses or discards. The tests run
in file order; the last one takes the project down and checks nothing is left.
"""

import subprocess
import time
import uuid

import pytest

from .conftest import ComposeProject, free_subnet_prefix, host_takes_blkio_weight, retry

BASE = """\
services:
  common:
    image: busybox
    environment:
      FROM_BASE: "yes"
    labels:
      base: "1"
"""

COMPOSE = """\
name: {name}
services:
  a:
    extends: {{file: base.yaml, service: common}}
    command: ["sleep", "300"]
    init: true
    env_file: app.env
    secrets: [filesecret, envsecret]
    configs:
      - source: fileconf
        target: /etc/app.conf
      - source: inlineconf
        target: /etc/inline.conf
        mode: 0640
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "1000"
    cap_add: [SYS_ADMIN]
    cap_drop: [CHOWN]
    mem_limit: 32m
    cpus: 0.25
    pids_limit: 50
    shm_size: 16m
    logging:
      driver: json-file
      options: {{max-size: "1m", max-file: "2"}}
    hostname: myhost
    domainname: example.org
    user: "1000:1000"
    working_dir: /tmp
    extra_hosts: ["somehost:10.1.2.3"]
    dns_search: [example.com]
    dns_opt: [ndots:2]
    group_add: ["100"]
    security_opt: ["no-new-privileges:true"]
    ports: ["127.0.0.1::80"]
    volumes:
      - named:/named
      - /anon
    networks:
      fixed:
        ipv4_address: {subnet}.50
        aliases: [alias1]
  b:
    image: busybox
    command: ["sleep", "300"]
    volumes_from: [a]
    network_mode: "service:a"
    depends_on:
      job:
        condition: service_completed_successfully
  job:
    image: busybox
    command: ["sh", "-c", "echo job-done"]
    networks:
      fixed: {{}}
  crash:
    image: busybox
    command: ["sh", "-c", "echo crash-run; exit 2"]
    restart: on-failure:2
    profiles: [crash]
  propagated:
    image: busybox
    command: ["true"]
    volumes:
      - type: bind
        source: ./hostdir
        target: /hd
        bind: {{propagation: rslave}}
    profiles: [refused]
  weighted:
    image: busybox
    command: ["true"]
    blkio_config: {{weight: 300}}
    cpu_percent: 50
    profiles: [refused]
  ranged:
    image: busybox
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    ports: ["127.0.0.1:{port}-{port_end}:80"]
    deploy: {{replicas: 3}}
    profiles: [refused]
secrets:
  filesecret:
    file: ./secret.txt
  envsecret:
    environment: FEATURE_SECRET
configs:
  fileconf:
    file: ./app.conf
  inlineconf:
    content: |
      inline for {name}
volumes:
  named: {{}}
networks:
  fixed:
    ipam:
      config:
        - subnet: {subnet}.0/24
          gateway: {subnet}.1
"""


def _free_port_pair() -> int:
    """A port whose successor is free too (on loopback)."""
    import socket
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two free ports in a row")


class Project(ComposeProject):
    def __init__(self, daemon, root, name: str, subnet: str) -> None:
        super().__init__(daemon, root, name)
        self.subnet = subnet

    def sh(self, service: str, script: str, *options: str) -> str:
        return self.ok("exec", "-T", *options, service, "sh", "-c", script)


@pytest.fixture(scope="module")
def project(daemon, tmp_path_factory):
    root = tmp_path_factory.mktemp("feat")
    (root / "base.yaml").write_text(BASE)
    (root / "app.env").write_text('A=1\nB="two words"\n# comment\nexport C=3\n')
    (root / "secret.txt").write_text("file-secret\n")
    (root / "app.conf").write_text("key=value\n")
    (root / "hostdir").mkdir()
    name = "cf" + uuid.uuid4().hex[:8]
    p = Project(daemon, root, name, free_subnet_prefix("192.168"))
    p.port = port = _free_port_pair()
    (root / "compose.yaml").write_text(COMPOSE.format(name=name, subnet=p.subnet, port=port, port_end=port + 1))
    (root / ".env").write_text("FEATURE_SECRET=env-secret\n")  # the project's environment
    yield p
    p("--profile", "crash", "--profile", "refused", "down", "-v", "-t", "0")


def test_up_waits_for_the_job_then_shares_namespace_and_volumes(project):
    p = project
    p.ok("up", "-d")
    states = dict(line.split(" ", 1) for line in p.ok("ps", "-a", "--format", "{{.Service}} {{.Status}}").splitlines())
    assert states["job"].startswith("Exited (0)") and states["a"].startswith("Up") and states["b"].startswith("Up")
    assert "job-done" in p.ok("logs", "--no-log-prefix", "job")
    a, b, job = p.service("a"), p.service("b"), p.service("job")
    assert b["State"]["StartedAt"] > job["State"]["FinishedAt"]
    assert b["HostConfig"]["NetworkMode"] == f"container:{a['Id']}" and b["HostConfig"]["VolumesFrom"] == [a["Id"]]
    assert p.sh("b", "ip -4 -o addr show eth0") == p.sh("a", "ip -4 -o addr show eth0")
    p.sh("a", "echo from-a > /anon/f", "-u", "0")
    assert p.sh("b", "cat /anon/f") == "from-a\n"


def test_the_container_is_configured_as_asked(project):
    p = project
    a = p.service("a")
    hc, cfg = a["HostConfig"], a["Config"]
    assert hc["Init"] is True and hc["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "1000"}
    assert (hc["CapAdd"], hc["CapDrop"]) == (["CAP_SYS_ADMIN"], ["CAP_CHOWN"])
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"], hc["ShmSize"]) == (32 << 20, 250_000_000, 50, 16 << 20)
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "1m"}}
    assert cfg["Labels"]["base"] == "1"
    assert {"A=1", "B=two words", "C=3", "FROM_BASE=yes"} <= set(cfg["Env"])
    # the anonymous volume comes through HostConfig.Mounts: a local volume there shows Mode "z", as in Docker
    mounts = {m["Destination"]: m for m in a["Mounts"]}
    assert mounts["/anon"]["Type"] == "volume" and mounts["/anon"]["Mode"] == "z"
    assert mounts["/named"]["Name"] == f"{p.name}_named"
    assert mounts["/run/secrets/filesecret"]["Type"] == "bind" and mounts["/run/secrets/filesecret"]["RW"] is False
    files = p.sh("a", "cat /run/secrets/filesecret /run/secrets/envsecret; echo; cat /etc/app.conf /etc/inline.conf;"
                      " stat -c %a /etc/inline.conf", "-u", "0")
    assert files.splitlines() == ["file-secret", "env-secret", "key=value", f"inline for {p.name}", "640"]
    seen = p.sh("a", "id; pwd; hostname; hostname -d;"
                     " cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ps -o pid,args | sed -n 2p;"
                     " grep somehost /etc/hosts; grep -v -e '^#' -e '^$' /etc/resolv.conf | sort").splitlines()
    assert seen == ["uid=1000 gid=1000 groups=100,1000", "/tmp", "myhost", "example.org", "1000",
                    "    1 /sbin/docker-init -- sleep 300", "10.1.2.3\tsomehost",
                    "nameserver 127.0.0.11", "options ndots:2", "search example.com"]
    capeff = int(p.sh("a", "grep CapEff /proc/self/status").split()[1], 16)
    assert capeff == 0  # user 1000, no-new-privileges: nothing effective
    # the static address, its network's broadcast address, the alias
    assert p.sh("a", "ip -4 -o addr show eth0").split()[3:6] == [f"{p.subnet}.50/24", "brd", f"{p.subnet}.255"]
    # compose sends IPAMConfig {} for a network given with settings but no address: Docker keeps it
    assert a["NetworkSettings"]["Networks"][f"{p.name}_fixed"]["IPAMConfig"] == {"IPv4Address": f"{p.subnet}.50"}
    assert p.service("job")["NetworkSettings"]["Networks"][f"{p.name}_fixed"]["IPAMConfig"] == {}
    got = retry(lambda: p("exec", "-T", "b", "nslookup", "alias1", "127.0.0.11"))
    assert f"{p.subnet}.50" in got.stdout, got.stdout + got.stderr
    hostport = p.ok("port", "a", "80").strip()
    assert hostport.startswith("127.0.0.1:") and hostport != "127.0.0.1:0"


def test_a_restart_policy_counts_again_after_a_start_by_the_user(project):
    p = project
    out = p("--profile", "crash", "up", "crash", timeout=60)
    # three runs (two restarts), each printed once: a log follower ends with its run
    assert out.stdout.count("crash-run") == 3, out.stdout + out.stderr
    assert out.stdout.count("exited with code 2 (restarting)") == 2, out.stdout
    crash = p.service("crash")
    assert (crash["RestartCount"], crash["State"]["Status"]) == (2, "exited")
    p.ok("--profile", "crash", "start", "crash")
    deadline = time.monotonic() + 20
    while (p.service("crash")["State"]["Status"], p.service("crash")["RestartCount"]) != ("exited", 2):
        assert time.monotonic() < deadline, "the policy did not run its two retries again"
        time.sleep(0.3)
    logs = p.ok("--profile", "crash", "logs", "--no-log-prefix", "crash")
    assert logs.count("crash-run") == 6 and p.service("crash")["RestartCount"] == 2


def test_what_docker_refuses_or_discards(project):
    p = project
    out = p("--profile", "refused", "up", "-d", "propagated")
    assert out.returncode == 1
    assert (f"Error response from daemon: path {p.root}/hostdir is mounted on / but it is not a shared or slave mount"
            in out.stderr), out.stderr
    state = p.service("propagated")["State"]
    assert (state["Status"], state["ExitCode"]) == ("created", 128)
    out = p("--profile", "refused", "create", "weighted")
    assert out.returncode == 0, out.stderr
    warned = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded." in out.stderr
    assert warned == (not host_takes_blkio_weight()), out.stderr
    assert "linux does not support CPU percent. Percent discarded." in out.stderr
    hc = p.service("weighted")["HostConfig"]   # what is discarded is not stored either
    assert (hc["CpuPercent"], hc["BlkioWeight"]) == (0, 300 if host_takes_blkio_weight() else 0)
    # a range is searched from the port after the one given last: a recreated container moves on
    p.ok("--profile", "refused", "up", "-d", "--scale", "ranged=1", "ranged")
    assert p.ok("port", "ranged", "80").strip() == f"127.0.0.1:{p.port}"
    p.ok("--profile", "refused", "up", "-d", "--scale", "ranged=1", "--force-recreate", "ranged")
    assert p.ok("port", "ranged", "80").strip() == f"127.0.0.1:{p.port + 1}"
    # three replicas, two ports in the range: the third gets Docker's portallocator text
    out = p("--profile", "refused", "up", "-d", "ranged")
    assert out.returncode == 1 and out.stderr.rstrip().endswith("): all ports are allocated"), out.stderr


def test_down_leaves_nothing(project):
    p = project
    net_id = p.docker("network", "inspect", "-f", "{{.Id}}", f"{p.name}_fixed").stdout.strip()
    assert net_id
    p.ok("--profile", "crash", "--profile", "refused", "down", "-v", "-t", "0")
    label = f"label=com.docker.compose.project={p.name}"
    assert p.docker("ps", "-aq", "--filter", label).stdout == ""
    assert p.docker("network", "ls", "-q", "--filter", label).stdout == ""
    assert p.docker("volume", "ls", "-q", "--filter", label).stdout == ""
    assert subprocess.run(["ip", "link", "show", f"br-{net_id[:12]}"], capture_output=True).returncode != 0
