"""Unit tests of the runtime's pure logic, through FakeSyscalls (no containers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dockerd_runtime import cli, signals, spec
from dockerd_runtime.errors import ConfigError, RuntimeErr
from dockerd_runtime.linux import mounts, rootfs, seccomp
from dockerd_runtime.linux import syscalls as sc
from dockerd_runtime.state import rfc3339nano


def test_parse_options():
    flags, prop, data = mounts.parse_options(["nosuid", "noexec", "ro", "rw", "rbind", "rprivate",
                                              "mode=755", "size=64k", "tmpcopyup"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_BIND | sc.MS_REC
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == "mode=755,size=64k"


def test_secure_join_stays_inside(tmp_path):
    root = str(tmp_path)
    os.makedirs(tmp_path / "a")
    os.symlink("/etc", tmp_path / "a" / "abs")
    os.symlink("../../../..", tmp_path / "a" / "up")
    assert mounts.secure_join(root, "/a/abs/passwd") == f"{root}/etc/passwd"
    assert mounts.secure_join(root, "/a/up/etc") == f"{root}/etc"
    assert mounts.secure_join(root, "../../x") == f"{root}/x"


def test_mount_entry_bind_remounts_with_flags(tmp_path):
    fake = sc.FakeSyscalls()
    src = tmp_path / "src"
    src.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    mounts.mount_entry(fake, str(root), {"destination": "/data", "type": "bind", "source": str(src),
                                         "options": ["rbind", "ro", "nosuid", "rslave"]}, {})
    dest = str(root / "data")
    assert os.path.isdir(dest)
    assert fake.calls[0] == ("mount", str(src), dest, "bind", sc.MS_BIND | sc.MS_REC)
    name, _, target, _, flags = fake.calls[1]
    assert name == "mount" and target == dest
    assert flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_REMOUNT | sc.MS_BIND) == \
        sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_REMOUNT | sc.MS_BIND
    assert fake.calls[2] == ("mount", None, dest, None, sc.MS_SLAVE | sc.MS_REC)


def test_mask_and_readonly_paths(tmp_path):
    fake = sc.FakeSyscalls()
    d = tmp_path / "dir"
    d.mkdir()
    f = tmp_path / "file"
    f.write_text("x")
    rootfs.mask_path(fake, str(d))
    rootfs.mask_path(fake, str(f))
    rootfs.mask_path(fake, str(tmp_path / "missing"))
    assert fake.calls == [("mount", "tmpfs", str(d), "tmpfs", sc.MS_RDONLY),
                          ("mount", "/dev/null", str(f), None, sc.MS_BIND)]


def test_spec_validation(tmp_path):
    (tmp_path / "rootfs").mkdir()
    good = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}]}}
    spec.validate(good, str(tmp_path))
    for bad in ({**good, "ociVersion": "2.0"}, {**good, "root": {"path": "nope"}},
                {**good, "linux": {"namespaces": [{"type": "mount"}, {"type": "mount"}]}},
                {**good, "linux": {"namespaces": []}},
                {**good, "hostname": "x"}):
        with pytest.raises(ConfigError):
            spec.validate(bad, str(tmp_path))


def test_cli_parse():
    a = cli.parse(["--root", "/r", "--log-format=json", "create", "-b", "/b", "--pid-file", "/p", "id1"])
    assert (a.root, a.log_format, a.verb, a.bundle, a.pid_file, a.id) == ("/r", "json", "create", "/b", "/p", "id1")
    a = cli.parse(["kill", "--all", "c", "KILL"])
    assert (a.all, a.id, a.signal) == (True, "c", "KILL")
    assert cli.parse(["kill", "c"]).signal == "SIGTERM"
    assert cli.parse(["ps", "--format", "json", "c"]).format == "json"
    with pytest.raises(RuntimeErr):
        cli.parse(["create", "--bogus", "x"])
    with pytest.raises(RuntimeErr):
        cli.parse(["state"])


def test_signals():
    assert signals.parse("KILL") == signals.parse("SIGKILL") == signals.parse("9") == 9
    assert signals.parse("sigterm") == 15 and signals.parse("RTMIN+2") == 36
    with pytest.raises(ValueError):
        signals.parse("NOPE")


def test_seccomp_actions():
    assert seccomp.action("SCMP_ACT_ERRNO", None) == 0x00050000 | 1
    assert seccomp.action("SCMP_ACT_ERRNO", 38) == 0x00050000 | 38
    assert seccomp.action("SCMP_ACT_ALLOW", None) == 0x7FFF0000


def test_rfc3339nano():
    assert rfc3339nano(1_700_000_000_123_400_000) == "2023-11-14T22:13:20.1234Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_import_graph_is_small():
    """No daemon code, no heavy stdlib in the create path."""
    code = ("import sys, dockerd_runtime.cli, dockerd_runtime.commands.create, dockerd_runtime.commands.state;"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", "import json;" + code], capture_output=True, text=True,
                         check=True).stdout
    loaded = set(json.loads(out))
    for banned in ("flask", "pluggy", "pyroute2", "dockerd_py", "argparse", "typing_extensions",
                   "subprocess", "socket", "dataclasses", "logging", "shutil"):
        assert not any(m == banned or m.startswith(banned + ".") for m in loaded - _baseline()), banned


def _baseline() -> set[str]:
    out = subprocess.run([sys.executable, "-c", "import sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


@pytest.fixture(scope="module")
def nosite_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory where ``dockerd_runtime`` is importable without site (as the launcher does)."""
    import importlib.util
    spec_ = importlib.util.find_spec("dockerd_runtime")
    assert spec_ and spec_.submodule_search_locations
    d = tmp_path_factory.mktemp("nosite")
    os.symlink(list(spec_.submodule_search_locations)[0], d / "dockerd_runtime")
    return str(d)


@pytest.mark.parametrize("verb", ["start", "state", "kill", "delete", "pause", "spec", "events"])
def test_verbs_after_create_stay_leaner(verb, nosite_path):
    """Verbs that run on every container (start, delete, ...) need no ctypes, and
    no verb needs json (re, enum behind it), typing or subprocess."""
    code = (f"import sys; sys.path.insert(0, {nosite_path!r}); b = set(sys.modules); "
            f"import dockerd_runtime.cli, dockerd_runtime.commands.{verb}; "
            "print(' '.join(sorted(set(sys.modules) - b)))")
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    for banned in ("ctypes", "json", "re", "enum", "subprocess", "typing"):
        assert banned not in out, (verb, banned)


@pytest.mark.parametrize("verb", ["start", "state", "kill", "delete"])
def test_hot_verbs_skip_os(verb, nosite_path):
    """start and delete run for every container (state and kill for most): not even `os`,
    whose import is ~1 ms of each call; the cgroup managers import it only to create."""
    code = (f"import sys; sys.path.insert(0, {nosite_path!r}); b = set(sys.modules); "
            f"import dockerd_runtime.cli, dockerd_runtime.commands.{verb}, dockerd_runtime.cgroups.v1, "
            "dockerd_runtime.cgroups.v2; print(' '.join(sorted(set(sys.modules) - b)))")
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "os" not in out, verb


def test_cgroup_warm_finds_own_cgroup():
    """cgroups/warm.py's no-op join finds this process's own cgroup.procs (else create
    silently loses its head start on the kernel's grace period)."""
    from dockerd_runtime.cgroups import warm
    fd = warm._open_own_procs()
    assert fd is not None
    os.close(fd)
