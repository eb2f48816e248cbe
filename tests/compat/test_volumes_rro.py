"""Recursive read-only binds (Docker 25+, API 1.44): a read-only bind of a host directory with a
submount (a tmpfs made here, unmounted at the end) is read-only all the way down where the kernel
and the container's runtime support "rro", through --mount's bind-recursive values, -v :ro and the
API's BindOptions; older API clients keep read-only on top only; forcing it where it cannot be done
fails the start with Docker's error."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from .conftest import CRUN, RUNC, inspect
from .test_runtimes import _crun_usable

# What the script below prints: the submount's file if the submount is there, and which writes work.
SCRIPT = ("cat /o/inner/sub 2>/dev/null || echo no-submount; touch /o/inner/w 2>/dev/null && echo inner-rw; "
          "touch /o/w 2>/dev/null && echo outer-rw; true")
ALL = ["in the submount", "inner-rw", "outer-rw"]
TOP_ONLY = ["in the submount", "inner-rw"]   # read-only on top, the submount writable (Docker 24's ro)
RECURSIVE = ["in the submount"]              # read-only all the way down
RUNTIMES = ["dockerd-py-runc"] + (["runc"] if RUNC else [])


@pytest.fixture
def nested(tmp_path):
    """outer/ with a tmpfs mounted on outer/inner (holding `sub`); unmounted afterwards."""
    inner = tmp_path / "outer" / "inner"
    inner.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(inner)], check=True)
    (inner / "sub").write_text("in the submount\n")
    yield tmp_path / "outer"
    subprocess.run(["umount", "-l", str(inner)], check=False)


def _clean(nested) -> None:
    """Remove what a run wrote, so that the next run starts from the same tree."""
    for path in (nested / "w", nested / "inner" / "w"):
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bind_recursive_values_as_docker_documents(cli, nested, runtime):
    src = str(nested)

    def run(*how: str) -> list[str]:
        out = cli("run", "--rm", "--runtime", runtime, *how, "busybox", "sh", "-c", SCRIPT).stdout.splitlines()
        _clean(nested)
        return out

    mount = lambda opts: ("--mount", f"type=bind,src={src},dst=/o{opts}")  # noqa: E731
    assert run(*mount("")) == ALL
    assert run(*mount(",bind-recursive=disabled")) == ["no-submount", "inner-rw", "outer-rw"]  # inner: the bare dir
    # readonly: recursive by default ("enabled"), "writable" keeps the submounts writable, "readonly" forces it
    assert run(*mount(",readonly")) == RECURSIVE
    assert run(*mount(",readonly,bind-recursive=enabled")) == RECURSIVE
    assert run(*mount(",readonly,bind-recursive=writable")) == TOP_ONLY
    assert run(*mount(",readonly,bind-recursive=readonly,bind-propagation=rprivate")) == RECURSIVE
    assert run(*mount(",readonly,bind-recursive=disabled")) == ["no-submount"]
    # -v: ro is recursive too (Binds), rw is writable everywhere
    assert run("-v", f"{src}:/o:ro") == RECURSIVE
    assert run("-v", f"{src}:/o:ro,rprivate") == RECURSIVE
    assert run("-v", f"{src}:/o") == ALL
    # --read-only: the network files are read-only binds as well (rro on a file)
    out = cli("run", "--rm", "--runtime", runtime, "--read-only", "busybox", "sh", "-c",
              "cat /etc/hostname >/dev/null && echo x >> /etc/hosts", check=False)
    assert out.returncode == 1 and "Read-only file system" in out.stderr
    # the kernel's answer for a write under the read-only submount
    out = cli("run", "--rm", "--runtime", runtime, "-v", f"{src}:/o:ro", "busybox", "sh", "-c",
              "echo x > /o/inner/f", check=False)
    assert out.returncode == 1 and "Read-only file system" in out.stderr


def test_bind_recursive_client_checks(cli, nested):
    """The CLI's own checks of bind-recursive (before any request)."""
    src = str(nested)
    for opts, text in ((",bind-recursive=writable", "requires 'readonly'"),
                       (",readonly,bind-recursive=readonly", "requires 'bind-propagation=rprivate'"),
                       (",readonly,bind-recursive=bogus", 'invalid value for bind-recursive: bogus')):
        out = cli("run", "--rm", "--mount", f"type=bind,src={src},dst=/o{opts}", "busybox", "true", check=False)
        assert out.returncode != 0 and text in out.stderr, out.stderr


@pytest.mark.skipif(not CRUN, reason="crun is missing")
def test_runtime_without_features_forced_recursive_fails_start(daemon, cli, nested, container_cleanup):
    """crun 1.8 has no `features` verb: Docker cannot know it does rro, so forcing it fails the start (500)."""
    name = "rro" + uuid.uuid4().hex[:8]
    container_cleanup.append(name)
    out = cli("run", "--runtime", "crun", "--name", name, "--mount",
              f"type=bind,src={nested},dst=/o,readonly,bind-recursive=readonly,bind-propagation=rprivate",
              "busybox", "true", check=False)
    assert out.returncode == 125
    assert 'rro is not supported by runtime "crun": OCI features struct is not available' in out.stderr
    assert "failed to create task" not in out.stderr  # refused before the runtime runs
    assert inspect(daemon, name)["State"]["Status"] == "created"


@pytest.mark.skipif(not CRUN or not _crun_usable(), reason="crun is missing or refuses this host's hybrid cgroups")
def test_runtime_without_features_read_only_on_top_only(cli, nested):
    out = cli("run", "--rm", "--runtime", "crun", "-v", f"{nested}:/o:ro", "busybox", "sh", "-c", SCRIPT).stdout
    _clean(nested)
    assert out.splitlines() == TOP_ONLY


def _api_run(api, host_config: dict) -> list[str]:
    c = api.create_container("busybox", ["sh", "-c", SCRIPT], host_config=host_config)
    try:
        api.start(c)
        assert api.wait(c)["StatusCode"] == 0
        return api.logs(c).decode().splitlines()
    finally:
        api.remove_container(c, force=True)


def test_docker_py_read_only_binds_by_api_version(daemon, nested):
    """API >= 1.44: read-only binds recursive (ReadOnlyNonRecursive opts out); older clients: on top only,
    for Binds and Mounts alike, without changing the HostConfig they read back."""
    import docker

    src = str(nested)
    ro_mount = {"Type": "bind", "Source": src, "Target": "/o", "ReadOnly": True}
    new, old = (docker.APIClient(base_url=daemon.host, version=v) for v in ("1.47", "1.43"))
    try:
        assert _api_run(new, {"Binds": [f"{src}:/o:ro"]}) == RECURSIVE
        assert _api_run(new, {"Mounts": [ro_mount]}) == RECURSIVE
        assert _api_run(new, {"Mounts": [{**ro_mount, "BindOptions": {"ReadOnlyNonRecursive": True}}]}) == TOP_ONLY
        _clean(nested)
        assert _api_run(new, {"Mounts": [{**ro_mount, "BindOptions": {"ReadOnlyForceRecursive": True}}]}) == RECURSIVE
        assert _api_run(old, {"Binds": [f"{src}:/o:ro"]}) == TOP_ONLY
        _clean(nested)
        assert _api_run(old, {"Mounts": [ro_mount]}) == TOP_ONLY
        _clean(nested)
        c = old.create_container("busybox", ["sh", "-c", SCRIPT], host_config={
            "Binds": [f"{src}:/o:ro"], "Mounts": [{**ro_mount, "Target": "/m"}]})
        try:
            hc = old.inspect_container(c)["HostConfig"]
            assert hc["Binds"] == [f"{src}:/o:ro"] and "BindOptions" not in hc["Mounts"][0]
            daemon.stop()  # the container's choice is kept across a daemon restart
            daemon.start()
            new.start(c)
            assert new.wait(c)["StatusCode"] == 0
            assert new.logs(c).decode().splitlines() == TOP_ONLY
        finally:
            new.remove_container(c, force=True)
        with pytest.raises(docker.errors.APIError) as e:
            old.create_container("busybox", ["true"], host_config={"Mounts": [
                {**ro_mount, "BindOptions": {"ReadOnlyForceRecursive": True}}]})
        assert e.value.status_code == 400
        assert "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer" in e.value.explanation
    finally:
        new.close()
        old.close()
