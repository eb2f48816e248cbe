"""Remote volume plugins (Docker's legacy plugin protocol) through the docker CLI and docker-py.

A daemon of this module's own looks for plugins in a temporary directory
(DOCKERD_PY_PLUGIN_SOCKETS / _SPECS); the plugin is tests/compat/volume_plugin_server.py,
served from this process. The calls it records are compared with what Docker's dockerd
sends (observed with contrib/reference-dockerd.sh and the same server).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid

import pytest

from .conftest import docker, private_daemon, removed_after
from .volume_plugin_server import VolumePlugin


@pytest.fixture(scope="module")
def pdaemon():
    plugins = tempfile.mkdtemp(prefix="pp", dir="/tmp")
    env = {"DOCKERD_PY_PLUGIN_SOCKETS": f"{plugins}/run", "DOCKERD_PY_PLUGIN_SPECS": f"{plugins}/etc:{plugins}/lib",
           "DOCKERD_PY_PLUGIN_RETRY_SECONDS": "4"}  # gives up after 1 + 2 s (Docker: 15 s)
    try:
        with private_daemon("p", env=env) as d:
            d.extra["plugins"] = plugins
            yield d
    finally:
        shutil.rmtree(plugins, ignore_errors=True)


@pytest.fixture
def pcli(pdaemon):
    return lambda *args, **kw: docker(pdaemon, *args, **kw)


@pytest.fixture
def plugin(pdaemon, tmp_path):
    """A VolumeDriver plugin named like the test, at <plugins>/run/<name>.sock."""
    name = "vp" + uuid.uuid4().hex[:8]
    p = VolumePlugin(f"{pdaemon.extra['plugins']}/run/{name}.sock", str(tmp_path / "data")).start()
    p.name = name
    yield p
    for vol in list(p.volumes):
        docker(pdaemon, "volume", "rm", "-f", vol, check=False)
    p.stop()


def _calls(p: VolumePlugin) -> list[str]:
    """The calls in order, repeated Gets and Capabilities folded (Docker makes several, as it pleases)."""
    out: list[str] = []
    for name in p.names():
        if name in ("Get", "Capabilities", "List") and out and out[-1] == name:
            continue
        out.append(name)
    return out


def test_volume_through_a_remote_plugin_in_dockers_order(pcli, plugin):
    vol = "rv" + uuid.uuid4().hex[:8]
    assert pcli("volume", "create", "-d", plugin.name, "-o", "speed=fast", vol).stdout.strip() == vol
    names = plugin.names()
    assert names[:4] == ["Plugin.Activate", "Capabilities", "Get", "Create"]  # as Docker's dockerd
    assert set(names[4:]) <= {"Get"}
    assert plugin.calls[3][1] == {"Name": vol, "Opts": {"speed": "fast"}}
    assert plugin.raw_bodies[:2] == [("/Plugin.Activate", b""), ("/VolumeDriver.Capabilities", b"{}")]
    assert plugin.content_types == {"application/vnd.docker.plugins.v1.2+json"}
    drivers = json.loads(pcli("info", "--format", "{{json .Plugins.Volume}}").stdout)
    assert "local" in drivers and plugin.name in drivers  # an activated plugin is listed, as Docker's info does

    plugin.calls.clear()
    pcli("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo through the plugin > /data/f")
    calls = [c for c in plugin.calls if c[0] in ("/VolumeDriver.Mount", "/VolumeDriver.Unmount")]
    assert [c[0] for c in calls] == ["/VolumeDriver.Mount", "/VolumeDriver.Unmount"]
    assert calls[0][1]["Name"] == vol and re.fullmatch(r"[0-9a-f]{64}", calls[0][1]["ID"])
    assert calls[1][1] == calls[0][1]  # the same mount id
    with open(os.path.join(plugin.root, vol, "f")) as f:
        assert f.read() == "through the plugin\n"

    # a second container reads it; a volume the plugin made by itself is listed too (VolumeDriver.List)
    assert pcli("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat", "/data/f").stdout == "through the plugin\n"
    plugin.answer("/VolumeDriver.Create", {"Name": "outside" + vol})
    ls = pcli("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.splitlines()
    assert f"{plugin.name} {vol}" in ls and f"{plugin.name} outside{vol}" in ls
    assert ("/VolumeDriver.List", b"{}") in plugin.raw_bodies   # as Docker's (its request struct, empty)
    info = json.loads(pcli("volume", "inspect", vol).stdout)[0]
    assert info["Driver"] == plugin.name and info["Status"] == {"mounts": 0} and info["Scope"] == "local"

    plugin.calls.clear()
    pcli("volume", "rm", vol, "outside" + vol)
    assert _calls(plugin)[-1] == "Remove" and vol not in plugin.volumes


def test_volume_driver_flag_mount_reference_per_container(pcli, plugin, container_cleanup_p):
    vol = "rv" + uuid.uuid4().hex[:8]
    a, b = "ca" + vol, "cb" + vol
    container_cleanup_p += [a, b]
    pcli("run", "-d", "--name", a, "-v", f"{vol}:/data", "--volume-driver", plugin.name, "busybox", "sleep", "60")
    pcli("run", "-d", "--name", b, "-v", f"{vol}:/data", "--volume-driver", plugin.name, "busybox", "sleep", "60")
    assert _calls(plugin)[:4] == ["Plugin.Activate", "Capabilities", "Get", "Create"]
    mounts = [body["ID"] for path, body in plugin.calls if path == "/VolumeDriver.Mount"]
    assert len(mounts) == 2 and mounts[0] != mounts[1]  # one Mount per container, each with its id
    assert plugin.volumes[vol]["mounts"] == set(mounts)
    busy = pcli("volume", "rm", vol, check=False)
    assert busy.returncode != 0 and "volume is in use" in busy.stderr
    pcli("rm", "-f", a)
    assert plugin.volumes[vol]["mounts"] == {mounts[1]}
    pcli("stop", "-t", "0", b)
    assert plugin.volumes[vol]["mounts"] == set()  # Unmount when the container stops
    pcli("rm", b)
    pcli("volume", "rm", vol)
    assert vol not in plugin.volumes


@pytest.fixture
def container_cleanup_p(pdaemon):
    with removed_after(pdaemon) as made:
        yield made


def test_plugin_found_through_spec_files_and_docker_py(pdaemon, plugin, tmp_path):
    import docker as docker_sdk

    root = pdaemon.extra["plugins"]
    alias, alias_json = "sp" + plugin.name, "js" + plugin.name
    os.makedirs(f"{root}/etc/{alias_json}", exist_ok=True)
    with open(f"{root}/etc/{alias}.spec", "w") as f:
        f.write(f"unix://{plugin.sock}\n")
    with open(f"{root}/etc/{alias_json}/{alias_json}.json", "w") as f:
        json.dump({"Name": alias_json, "Addr": f"unix://{plugin.sock}"}, f)
    client = docker_sdk.DockerClient(base_url=pdaemon.host, version="auto", timeout=60)
    try:
        v1 = client.volumes.create("s1" + plugin.name, driver=alias, driver_opts={"a": "b"})
        v2 = client.volumes.create("s2" + plugin.name, driver=alias_json)
        assert (v1.attrs["Driver"], v2.attrs["Driver"]) == (alias, alias_json)
        assert {"s1" + plugin.name, "s2" + plugin.name} <= set(plugin.volumes)
        out = client.containers.run("busybox", ["sh", "-c", "echo ok > /v/x; cat /v/x"], remove=True,
                                    volumes={v2.name: {"bind": "/v", "mode": "rw"}})
        assert out == b"ok\n"
        v1.remove()
        v2.remove()
        assert not {"s1" + plugin.name, "s2" + plugin.name} & set(plugin.volumes)
    finally:
        client.close()
        os.unlink(f"{root}/etc/{alias}.spec")
        shutil.rmtree(f"{root}/etc/{alias_json}")


def test_missing_silent_and_refusing_plugins_give_dockers_errors(pdaemon, pcli, plugin):
    name = "nosuch" + uuid.uuid4().hex[:6]
    t0 = time.monotonic()
    missing = pcli("volume", "create", "-d", name, "x" + name, check=False)
    assert missing.returncode != 0
    assert f'create x{name}: error looking up volume plugin {name}: plugin "{name}" not found' in missing.stderr
    assert time.monotonic() - t0 >= 3  # retried (1 + 2 s here) as Docker does, for a plugin that starts late
    import docker as docker_sdk  # the CLI would try to pull the image after a 404 from create

    client = docker_sdk.APIClient(base_url=pdaemon.host, version="auto", timeout=60)
    with pytest.raises(docker_sdk.errors.NotFound) as e:
        client.create_container("busybox", host_config=client.create_host_config(binds=[f"y{name}:/d"],
                                                                                  volume_driver=name))
    assert f'create y{name}: error looking up volume plugin {name}: plugin "{name}" not found' in str(e.value)
    client.close()

    # a socket nobody answers on
    dead = f"{pdaemon.extra['plugins']}/run/dead{name}.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(dead)
    s.close()
    try:
        refused = pcli("volume", "create", "-d", f"dead{name}", "z" + name, check=False)
        want = (f'create z{name}: error looking up volume plugin dead{name}: legacy plugin: Post '
                f'"http://{dead.replace("/", "%2F")}/Plugin.Activate": dial unix {dead}: connect: connection refused')
        assert refused.returncode != 0 and want in refused.stderr
    finally:
        os.unlink(dead)

    bad = pcli("volume", "create", "-d", plugin.name, "-o", "fail=boom", "w" + name, check=False)
    assert bad.returncode != 0 and f"create w{name}: VolumeDriver.Create: refused by the plugin: boom" in bad.stderr
    assert "w" + name not in pcli("volume", "ls", "-q").stdout.split()


def test_mount_flag_volume_driver_and_opts(pcli, plugin):
    vol = "mv" + uuid.uuid4().hex[:8]
    out = pcli("run", "--rm", "--mount",
               f"type=volume,src={vol},dst=/m,volume-driver={plugin.name},volume-opt=size=1g,volume-opt=tier=gold",
               "busybox", "sh", "-c", "echo m > /m/f && cat /m/f").stdout
    assert out == "m\n"
    creates = [body for path, body in plugin.calls if path == "/VolumeDriver.Create"]
    assert creates == [{"Name": vol, "Opts": {"size": "1g", "tier": "gold"}}]
    assert [p for p, _ in plugin.calls].count("/VolumeDriver.Mount") == 1
    assert [p for p, _ in plugin.calls][-1] == "/VolumeDriver.Unmount"
    info = json.loads(pcli("volume", "inspect", vol).stdout)[0]
    assert info["Driver"] == plugin.name and info["Options"] == {"size": "1g", "tier": "gold"}
