"""`docker stats` and the stats endpoint, as a user reads them (CLI and docker-py)."""

import os
import time
import uuid



def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def _size(text: str) -> float:
    """docker's human sizes ("1.5MiB", "324KiB", "64MiB") in bytes."""
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1000, "MB": 10**6, "GB": 10**9}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(text)


def test_stats_no_stream_shows_cpu_and_memory(cli, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "-m", "64m", "busybox", "sh", "-c", "while :; do :; done")
    out = cli("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.PIDs}}", n)
    got_name, cpu, mem, net, pids = out.stdout.strip().split("|")
    assert got_name == n
    assert float(cpu.rstrip("%")) > 5, out.stdout        # a busy loop (on a busy 2-core host: well above 0)
    usage, limit = (s.strip() for s in mem.split("/"))
    assert limit == "64MiB"
    assert 0 < _size(usage) < 64 << 20
    assert "/" in net and int(pids) >= 1


def test_stats_stream_sdk_two_samples_with_precpu(client, container_cleanup):
    c = client.containers.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, name=name())
    container_cleanup.append(c.id)
    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    stream.close()
    assert first["id"] == c.id and first["name"] == "/" + c.name
    assert first["preread"] == "0001-01-01T00:00:00Z"
    assert second["preread"] == first["read"]
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    assert second["cpu_stats"]["cpu_usage"]["total_usage"] > first["cpu_stats"]["cpu_usage"]["total_usage"]
    assert second["cpu_stats"]["system_cpu_usage"] > second["precpu_stats"]["system_cpu_usage"]
    assert second["cpu_stats"]["online_cpus"] >= 1
    assert second["memory_stats"]["usage"] > 0 and second["memory_stats"]["limit"] > 0
    assert second["pids_stats"]["current"] >= 1
    assert set(second["networks"]) == {"eth0"}
    assert second["networks"]["eth0"]["rx_packets"] >= 0
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2: moby fills only bytes, null when no I/O
        assert isinstance(second["blkio_stats"]["io_service_bytes_recursive"], (list, type(None)))
        assert second["blkio_stats"]["io_serviced_recursive"] is None
    else:
        for key in ("io_service_bytes_recursive", "io_serviced_recursive"):
            assert isinstance(second["blkio_stats"][key], list)


def test_stats_network_counts_traffic(cli, client, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sh", "-c",
        "ping -c 3 -W 1 $(ip route | awk '/default/ {print $3}') >/dev/null 2>&1; touch /pinged; sleep 100")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = client.containers.get(n).stats(stream=False, one_shot=True)
        if s["networks"]["eth0"]["tx_packets"] >= 3 and s["networks"]["eth0"]["rx_packets"] >= 3:
            break
        time.sleep(0.3)
    eth0 = s["networks"]["eth0"]
    assert eth0["tx_packets"] >= 3 and eth0["rx_packets"] >= 3 and eth0["tx_bytes"] >= 3 * 42, eth0
    assert "lo" not in s["networks"]


def test_stats_of_stopped_container_is_zeroed(cli, client, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    s = client.containers.get(n).stats(stream=False)
    assert s["read"] == "0001-01-01T00:00:00Z" and s["name"] == "/" + n
    assert s["memory_stats"] == {} and s["pids_stats"] == {}
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "networks" not in s
    out = cli("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemUsage}}", n)
    assert out.stdout.split()[0] == "0.00%"


def test_one_shot_is_immediate_and_conflicts_with_stream(daemon, cli, client, container_cleanup):
    n = name()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "100")
    t0 = time.monotonic()
    s = client.containers.get(n).stats(stream=False, one_shot=True)
    assert time.monotonic() - t0 < 0.9
    assert s["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and s["read"] != "0001-01-01T00:00:00Z"
    api = client.api
    res = api._get(api._url("/containers/{0}/stats", n), params={"stream": "1", "one-shot": "1"})
    assert res.status_code == 400
    assert res.json() == {"message": "cannot have stream=true and one-shot=true"}
    res = api._get(api._url("/containers/{0}/stats", "nosuchctr"), params={"stream": "0"})
    assert res.status_code == 404 and res.json()["message"] == "No such container: nosuchctr"
