"""Our runtime under Docker's own containerd: dockerd --add-runtime, i.e. containerd-shim-runc-v2's BinaryName.

Needs Debian's docker.io (dockerd 20.10 with its containerd); skipped where it is not installed.
"""

import os
import random
import shutil
import subprocess
import tempfile

import pytest

from .conftest import DOCKER

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "reference-dockerd.sh")

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/sbin/dockerd") or not shutil.which("containerd"),
                                reason="Docker's dockerd and containerd (docker.io) are not installed")


@pytest.fixture
def docker_with_our_runtime(daemon):
    tmp = tempfile.mkdtemp(prefix="ref", dir="/tmp")
    launcher = f"{daemon.root}/x/bin/dockerd-py-runc"
    env = dict(os.environ, REF_DIR=f"{tmp}/run", REF_DATA=f"{tmp}/data", REF_BRIDGE=f"dref{random.randint(100, 999)}",
               REF_BIP=f"172.31.{random.randint(2, 90)}.1/24", REF_EXTRA_ARGS=f"--add-runtime dpy={launcher}")
    start = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert start.returncode == 0, start.stderr
        yield dict(os.environ, DOCKER_HOST=f"unix://{tmp}/run/docker.sock")
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def test_dockers_containerd_runs_containers_with_our_runtime(docker_with_our_runtime):
    env = docker_with_our_runtime

    def docker(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=60, **kw)

    out = docker("run", "--rm", "--runtime", "dpy", "busybox", "sh", "-c", "grep CapEff /proc/self/status; hostname")
    assert out.returncode == 0, out.stderr
    assert "CapEff:\t00000000a80425fb" in out.stdout
    assert docker("run", "--rm", "-i", "--runtime", "dpy", "busybox", "cat", input="piped\n").stdout == "piped\n"
    cid = docker("run", "-d", "--runtime", "dpy", "busybox", "sleep", "60").stdout.strip()
    try:
        assert "sleep 60" in docker("top", cid).stdout
        assert docker("pause", cid).returncode == 0 and docker("unpause", cid).returncode == 0
        assert docker("stop", "-t", "1", cid).returncode == 0
        assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "137"
    finally:
        docker("rm", "-f", cid)
