"""json-file rotation (`--log-opt max-size/max-file/compress`) as Docker's: the files on disk
and `docker logs` (tail, timestamps, follow) across them, through the real CLI and docker-py;
and the daemon's defaults for them (dockerd's --log-opt)."""

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from .conftest import docker, inspect, private_daemon, uid

MAX_SIZE = 2048
# ~100-byte records: 400 lines are ~40 KiB, many times 3 files of 2 KiB
PRINT_400 = 'i=0; while [ $i -lt 400 ]; do echo "line $i padding-padding-padding"; i=$((i+1)); done'


def _run(cli, container_cleanup, *opts: str, script: str = PRINT_400) -> str:
    name = uid()
    container_cleanup.append(name)
    cli("run", "--name", name, *opts, "busybox", "sh", "-c", script)
    return name


def _files(log_path: str) -> dict[str, int]:
    """The log's files (current and rotated) and their sizes."""
    base = os.path.basename(log_path)
    folder = os.path.dirname(log_path)
    return {f: os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.startswith(base)}


def _numbers(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines()]


def test_max_size_max_file_rotate_and_logs_reads_across(daemon, cli, client, container_cleanup):
    name = _run(cli, container_cleanup, "--log-opt", f"max-size={MAX_SIZE // 1024}k", "--log-opt", "max-file=3")
    log_path = inspect(daemon, name)["LogPath"]
    files = _files(log_path)
    base = os.path.basename(log_path)
    assert sorted(files) == [base, base + ".1", base + ".2"], files
    record = len(b'{"log":"line 399 padding-padding-padding\\n","stream":"stdout",'
                 b'"time":"2026-01-01T00:00:00.123456789Z"}\n')
    assert all(size <= MAX_SIZE + record for size in files.values()), files
    assert files[base + ".1"] >= MAX_SIZE and files[base + ".2"] >= MAX_SIZE, files

    shown = _numbers(cli("logs", name).stdout)
    assert shown[-1] == 399 and shown == list(range(shown[0], 400)), shown  # newest, in order
    assert shown[0] > 0 and len(shown) > files[base] // record + files[base + ".1"] // record  # oldest gone
    with open(log_path, "rb") as f:
        in_current = len(f.read().splitlines())
    tail = cli("logs", "--tail", str(in_current + 3), name).stdout  # reaches into <log>.1
    assert _numbers(tail) == list(range(400 - in_current - 3, 400))
    stamped = cli("logs", "-t", "--tail", "2", name).stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == [f"line {i} padding-padding-padding" for i in (398, 399)]
    assert all(line.split(" ", 1)[0].endswith("Z") for line in stamped)
    assert cli("logs", "--until", "2000-01-01T00:00:00Z", name).stdout == ""
    since = _numbers(cli("logs", "--since", stamped[0].split(" ", 1)[0], name).stdout)
    assert since[-2:] == [398, 399] and since == list(range(since[0], 400))

    sdk = client.containers.get(name).logs(tail=2).decode()
    assert _numbers(sdk) == [398, 399]


def test_max_file_1_starts_the_file_again(daemon, cli, container_cleanup):
    name = _run(cli, container_cleanup, "--log-opt", "max-size=2k")
    log_path = inspect(daemon, name)["LogPath"]
    files = _files(log_path)
    assert list(files) == [os.path.basename(log_path)] and 0 < files[os.path.basename(log_path)] <= MAX_SIZE + 200
    shown = _numbers(cli("logs", name).stdout)
    assert shown[-1] == 399 and shown == list(range(shown[0], 400)) and shown[0] > 300


def test_compress_gzips_the_rotated_files(daemon, cli, container_cleanup):
    name = _run(cli, container_cleanup, "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
                "--log-opt", "compress=true")
    log_path = inspect(daemon, name)["LogPath"]
    base = os.path.basename(log_path)
    assert sorted(_files(log_path)) == [base, base + ".1.gz", base + ".2.gz"]
    folder = os.path.dirname(log_path)
    rotated = []
    for gz in (base + ".2.gz", base + ".1.gz"):
        with gzip.open(os.path.join(folder, gz)) as f:
            data = f.read()
        assert MAX_SIZE <= len(data) <= MAX_SIZE + 200
        rotated += [json.loads(line)["log"] for line in data.splitlines()]
        with open(os.path.join(folder, gz), "rb") as f:  # moby's header: FEXTRA {"lastTime": ...}
            head = f.read(200)
        assert head[3] & 4 and json.loads(head[12:12 + int.from_bytes(head[10:12], "little")])["lastTime"]
    shown = cli("logs", name).stdout.splitlines(keepends=True)
    assert shown[:len(rotated)] == rotated and _numbers("".join(shown))[-1] == 399
    assert _numbers("".join(shown)) == list(range(400 - len(shown), 400))
    tail = _numbers(cli("logs", "--tail", str(len(shown) - 2), name).stdout)
    assert tail == list(range(402 - len(shown), 400))


@pytest.mark.parametrize("compress", ["false", "true"])
def test_follow_sees_every_line_once_across_rotations(cli, container_cleanup, compress):
    name = uid()
    container_cleanup.append(name)
    # ~10 records a file; 30 rotations in ~3 s, once the follower is there
    cli("run", "-d", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
        "--log-opt", f"compress={compress}", "busybox", "sh", "-c",
        'sleep 2; i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); '
        '[ $((i % 10)) = 0 ] && sleep 0.1; done')
    started = time.monotonic()
    out = cli("logs", "-f", name, timeout=60)
    assert time.monotonic() - started < 30
    assert _numbers(out.stdout) == list(range(300))


def test_daemon_log_opts_are_the_default_drivers_defaults():
    with private_daemon("lgo", args=("--log-opt", "max-size=2k", "--log-opt", "max-file=2")) as d:
        assert docker(d, "info", "-f", "{{.LoggingDriver}}").stdout == "json-file\n"
        plain, own, other = uid(), uid(), uid()
        docker(d, "run", "--name", plain, "busybox", "sh", "-c", PRINT_400)
        docker(d, "run", "--name", own, "--log-opt", "max-file=3", "busybox", "sh", "-c", PRINT_400)
        docker(d, "create", "--name", other, "--log-driver", "local", "busybox")
        assert inspect(d, plain)["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-file": "2", "max-size": "2k"}}
        assert inspect(d, own)["HostConfig"]["LogConfig"]["Config"] == {"max-file": "3", "max-size": "2k"}
        assert inspect(d, other)["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
        assert len(_files(inspect(d, plain)["LogPath"])) == 2 and len(_files(inspect(d, own)["LogPath"])) == 3
        assert _numbers(docker(d, "logs", "--tail", "1", plain).stdout) == [399]


@pytest.mark.parametrize("args, config", [(("--log-opt", "bogus=1"), {}), ((), {"log-opts": {"bogus": "1"}})])
def test_bad_daemon_log_opt_stops_the_start(args, config):
    with tempfile.TemporaryDirectory() as tmp:  # short: the exec-root's sockets
        with open(f"{tmp}/daemon.json", "w") as f:
            json.dump(config, f)
        got = subprocess.run([sys.executable, "-m", "dockerd_py.cli", "--config-file", f"{tmp}/daemon.json",
                              "--pidfile", f"{tmp}/p", "--data-root", f"{tmp}/d", "--exec-root", f"{tmp}/x", *args],
                             capture_output=True, text=True, timeout=60)
    assert got.returncode == 1 and ("failed to start daemon: failed to set log opts: failed to set log opts: "
                                    "unknown log opt 'bogus' for json-file log driver") in got.stderr, got.stderr
