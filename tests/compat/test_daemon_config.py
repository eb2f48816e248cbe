"""Daemon flags and daemon.json, as an operator meets them."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from .conftest import DOCKER


def run_daemon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dockerd_py.cli", *args], capture_output=True, text=True,
                          timeout=30)


def test_serves_tcp_beside_unix(daemon):
    env = dict(daemon.env, DOCKER_HOST=daemon.extra["tcp"])
    out = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "1.47", out.stderr


def test_version_flag():
    out = run_daemon("--version")
    assert out.returncode == 0 and out.stdout.startswith("dockerd-py version ")


def test_config_file_conflicts_and_unknown_keys_are_refused():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "daemon.json")
        with open(path, "w") as f:
            json.dump({"bridge": "br-from-file"}, f)
        out = run_daemon("--config-file", path, "-b", "br-from-flag", "--pidfile", f"{tmp}/p")
        assert out.returncode == 1
        assert "specified both as a flag and in the configuration file: bridge" in out.stderr
        with open(path, "w") as f:
            json.dump({"no-such-option": True}, f)
        out = run_daemon("--config-file", path, "--pidfile", f"{tmp}/p")
        assert out.returncode == 1 and "don't match any configuration option: no-such-option" in out.stderr
        with open(path, "w") as f:
            f.write("{not json")
        out = run_daemon("--config-file", path, "--pidfile", f"{tmp}/p")
        assert out.returncode == 1 and "unable to configure the Docker daemon with file" in out.stderr


def test_default_runtime_must_exist_and_exec_root_must_fit():
    with tempfile.TemporaryDirectory() as tmp:
        out = run_daemon("--config-file", f"{tmp}/none.json", "--default-runtime", "nosuch", "--pidfile", f"{tmp}/p")
        assert out.returncode == 1 and "default runtime nosuch is not a configured runtime" in out.stderr
        out = run_daemon("--config-file", f"{tmp}/none.json", "--exec-root", "/tmp/" + "x" * 60, "--pidfile", f"{tmp}/p")
        assert out.returncode == 1 and "is too long" in out.stderr


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="systemd-socket-activate is not installed")
def test_socket_activation_with_fd_host():
    """`-H fd://` serves the sockets systemd passes (LISTEN_FDS), as with dockerd-py.socket."""
    tmp = tempfile.mkdtemp(prefix="f", dir="/tmp")
    flags = ["--data-root", f"{tmp}/data", "--exec-root", f"{tmp}/x", "--pidfile", f"{tmp}/pid",
             "--config-file", f"{tmp}/none.json", "-b", f"dpyfd{os.getpid() % 1000}", "--fixed-cidr", "172.31.251.0/24",
             "--cgroup-parent", f"/dpyfd{os.getpid()}"]
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"{tmp}/d.sock", sys.executable, "-m", "dockerd_py.cli",
                             "-H", "fd://", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10  # systemd-socket-activate binds the socket just after it starts
        while not os.path.exists(f"{tmp}/d.sock") and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, DOCKER_HOST=f"unix://{tmp}/d.sock")
        out = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "1.47", out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        run_daemon("--cleanup", *flags)
        shutil.rmtree(tmp, ignore_errors=True)
