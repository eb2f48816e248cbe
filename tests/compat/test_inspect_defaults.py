"""What `docker inspect` shows of a container as Docker does (Engine 28, API 1.47; checked against
Docker's dockerd): the defaults the daemon stores at create, and Config.Env with the process's
environment for `-e VAR`, `-e VAR=`, `--env-file` and Env lists sent through the API."""

import json
import os
import subprocess
import uuid

import docker
import pytest

from .conftest import DOCKER

CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _created(cli, *args: str) -> dict:
    cid = cli("create", *args, "busybox").stdout.strip()
    try:
        return json.loads(cli("inspect", cid).stdout)[0]
    finally:
        cli("rm", cid)


def test_create_stores_dockers_defaults(cli):
    c = _created(cli)
    hc = c["HostConfig"]
    assert hc["IpcMode"] == "private"                        # the CLI sends "": the daemon's default
    assert hc["CgroupnsMode"] == ("private" if CGROUP_V2 else "host")
    assert hc["PidsLimit"] is None and hc["MemorySwappiness"] is None   # the CLI's 0 and -1: unset
    assert "/proc/kcore" in hc["MaskedPaths"] and "/sys/firmware" in hc["MaskedPaths"]
    assert hc["ReadonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    assert "KernelMemory" not in hc                         # gone from API 1.47's HostConfig (0: left out)
    cfg = c["Config"]
    assert cfg["Env"] is None and cfg["Volumes"] is None and "ExposedPorts" not in cfg   # busybox has none
    assert cfg["Labels"] == {}


def test_create_keeps_what_was_asked(cli):
    hc = _created(cli, "--privileged")["HostConfig"]
    assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None
    hc = _created(cli, "--security-opt", "systempaths=unconfined")["HostConfig"]
    assert hc["MaskedPaths"] == [] and hc["ReadonlyPaths"] == []
    hc = _created(cli, "--pids-limit", "5", "--ipc", "host", "--cgroupns", "private")["HostConfig"]
    assert (hc["PidsLimit"], hc["IpcMode"], hc["CgroupnsMode"]) == (5, "host", "private")
    assert _created(cli, "--pids-limit", "-1")["HostConfig"]["PidsLimit"] is None
    if not CGROUP_V2:   # (cgroup v2 has no swappiness: Docker drops it with a warning)
        assert _created(cli, "--memory-swappiness", "10")["HostConfig"]["MemorySwappiness"] == 10
    cfg = _created(cli, "-v", "/x", "--expose", "80")["Config"]
    assert cfg["Volumes"] == {"/x": {}} and cfg["ExposedPorts"] == {"80/tcp": {}}


def test_env_flags_and_env_file(daemon, cli, tmp_path):
    """`-e VAR` takes VAR from the CLI's environment, or goes bare (stored, then nothing in the
    process); `-e VAR=` is an empty value; an env file's bare name is left out when unset."""
    env_file = tmp_path / "env.list"
    env_file.write_text("FILEVAR=fromfile\nSETVAR\nUNSETVAR\nEMPTYF=\n# comment\nDUP=file\n")
    name = f"env-{uuid.uuid4().hex[:8]}"
    run_env = {**daemon.env, "SETVAR": "fromcli", "DUP": "cli"}
    run_env.pop("UNSETVAR", None)
    proc = subprocess.run([DOCKER, "run", "--name", name, "-e", "SETVAR", "-e", "UNSETVAR", "-e", "EMPTY=",
                           "-e", "DUP", "--env-file", str(env_file), "-e", "A=1", "-e", "A=2", "busybox", "env"],
                          capture_output=True, text=True, env=run_env, timeout=60)
    try:
        assert proc.returncode == 0, proc.stderr
        stored = json.loads(cli("inspect", name).stdout)[0]["Config"]["Env"]
    finally:
        cli("rm", name)
    # the env file's entries first, in order; the -e ones after them (the CLI 28.2 orders those at random)
    assert stored[:4] == ["FILEVAR=fromfile", "SETVAR=fromcli", "EMPTYF=", "DUP=file"]
    assert sorted(stored[4:]) == ["A=2", "DUP=cli", "EMPTY=", "SETVAR=fromcli", "UNSETVAR"]
    process = proc.stdout.splitlines()
    assert process[0] == DEFAULT_PATH and process[1].startswith("HOSTNAME=") and "HOME=/root" in process
    assert sorted(process[2:]) == ["A=2", "DUP=cli", "EMPTY=", "EMPTYF=", "FILEVAR=fromfile", "HOME=/root",
                                   "SETVAR=fromcli"]


def _run_env(client, image: str, env: list[str]) -> tuple[list[str] | None, list[str]]:
    c = client.containers.create(image, ["env"], environment=env)
    try:
        c.start()
        c.wait()
        c.reload()
        lines = [x for x in c.logs().decode().splitlines() if not x.startswith("HOSTNAME=")]
        return c.attrs["Config"]["Env"], lines
    finally:
        c.remove(force=True)


def test_env_lists_through_the_api(client, cli):
    """Config.Env is the list sent (then the image's entries it does not name); the process gets
    PATH and HOSTNAME, replaced or removed (a bare name) in order by Config.Env, then HOME."""
    tag = f"envimg-{uuid.uuid4().hex[:8]}:1"
    cid = cli("create", "busybox").stdout.strip()
    cli("commit", "--change", "ENV IMG=img PATH=/usr/bin:/bin B=imgb HOME=/imghome", cid, tag)
    cli("rm", cid)
    try:
        stored, process = _run_env(client, "busybox", ["B=1", "UNSETVAR", "EMPTY=", "A=1", "A=2", "B=3", "HOME"])
        assert stored == ["B=1", "UNSETVAR", "EMPTY=", "A=1", "A=2", "B=3", "HOME"]
        assert process == [DEFAULT_PATH, "B=3", "EMPTY=", "A=2", "HOME=/root"]
        stored, process = _run_env(client, tag, ["IMG="])
        assert stored == ["IMG=", "PATH=/usr/bin:/bin", "B=imgb", "HOME=/imghome"]
        assert process == ["PATH=/usr/bin:/bin", "IMG=", "B=imgb", "HOME=/imghome"]
        assert _run_env(client, tag, []) == (["IMG=img", "PATH=/usr/bin:/bin", "B=imgb", "HOME=/imghome"],
                                             ["PATH=/usr/bin:/bin", "IMG=img", "B=imgb", "HOME=/imghome"])
        # a bare PATH removes it: nothing is searched, as runc does
        c = client.containers.create(tag, ["env"], environment=["PATH"])
        try:
            with pytest.raises(docker.errors.APIError) as info:
                c.start()
            assert info.value.status_code == 400
            assert 'exec: "env": executable file not found in $PATH' in str(info.value.explanation)
        finally:
            c.remove(force=True)
    finally:
        cli("rmi", tag)


def test_a_partial_host_config_is_shown_whole(client):
    """docker-py sends a few HostConfig fields: inspect still shows Go's whole struct, zero values
    where nothing was sent (and Config without the fields Go leaves out when empty)."""
    c = client.api.create_container("busybox", ["true"])
    try:
        data = client.api.inspect_container(c["Id"])
    finally:
        client.api.remove_container(c["Id"])
    hc = data["HostConfig"]
    assert (hc["Binds"], hc["PortBindings"], hc["Dns"], hc["CapAdd"], hc["Ulimits"], hc["Devices"]) == (None,) * 6
    assert (hc["ConsoleSize"], hc["CpuShares"], hc["CgroupParent"], hc["OomKillDisable"]) == ([0, 0], 0, "", False)
    assert (hc["IpcMode"], hc["PidsLimit"], hc["MemorySwappiness"]) == ("private", None, None)
    assert list(hc)[:5] == ["Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings"]
    assert "NetworkDisabled" not in data["Config"] and "MacAddress" not in data["Config"]
