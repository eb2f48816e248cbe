"""Bad input: non-zero exit, a message on stderr, nothing left in --root."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import OURS, CGROUP_PARENT, cgroup_exists


def _assert_clean_failure(rt, res, cid, needle=None):
    assert res.returncode == 1, res
    assert res.stderr.strip(), "no message on stderr"
    if needle:
        assert needle in res.stderr, res.stderr
    assert not os.path.exists(rt.root) or os.listdir(rt.root) == []
    assert not cgroup_exists(f"{CGROUP_PARENT}/{cid}")


def test_malformed_config(rt, bundle):
    cid = rt.new_id()
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write("{bad json")
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", bundle.path, cid), cid)


def test_missing_config(rt, tmp_path):
    cid = rt.new_id()
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", str(tmp_path), cid), cid, "config.json")


def test_missing_rootfs(rt, bundle):
    cid = rt.new_id()
    bundle.spec["root"]["path"] = "/nonexistent/rootfs"
    bundle.write(cid)
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", bundle.path, cid), cid, "rootfs")


def test_unknown_namespace(rt, bundle):
    cid = rt.new_id()
    bundle.spec["linux"]["namespaces"].append({"type": "bogus"})
    bundle.write(cid)
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", bundle.path, cid), cid, "bogus")


def test_bad_bind_source(rt, bundle):
    cid = rt.new_id()
    bundle.spec["mounts"].append({"destination": "/x", "type": "bind", "source": "/nonexistent-src",
                                  "options": ["rbind"]})
    bundle.write(cid)
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", bundle.path, cid), cid)


def test_bad_container_id(rt, bundle):
    bundle.write()
    _assert_clean_failure(rt, rt.cmd("create", "--bundle", bundle.path, "bad/id"), "bad-id")


def test_unknown_container(rt):
    for verb in (["state"], ["start"], ["kill"], ["delete"], ["pause"], ["resume"], ["ps", "--format", "json"]):
        res = rt.cmd(*verb, "nope")
        assert res.returncode == 1 and "does not exist" in res.stderr, (verb, res)
    assert rt.cmd("delete", "--force", "nope").returncode == 0


# Stricter than runc 1.1 (which accepts/warns): ours refuses up front.
@pytest.mark.parametrize("mutate,needle", [
    (lambda s: s.__setitem__("ociVersion", "2.0.0"), "ociVersion"),
    (lambda s: s["linux"]["namespaces"].append({"type": "user"}), "no uid mappings"),
    (lambda s: s["process"].__setitem__("args", []), "args"),
    (lambda s: s["process"].__setitem__("cwd", "relative"), "cwd"),
    (lambda s: s["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_NOPE"}), "seccomp"),
])
def test_ours_rejects(ours, bundle, mutate, needle):
    cid = ours.new_id()
    mutate(bundle.spec)
    bundle.write(cid)
    _assert_clean_failure(ours, ours.cmd("create", "--bundle", bundle.path, cid), cid, needle)


def test_ours_relative_root_flag(bundle, tmp_path):
    bundle.write()
    res = subprocess.run([OURS, "--root", "relative/state", "create", "--bundle", bundle.path, "c1"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 1 and "absolute" in res.stderr
    assert not (tmp_path / "relative").exists()


def test_ours_relative_root_path_is_bundle_relative(ours, bundle):
    """OCI: root.path may be relative to the bundle (as `runc spec` writes it)."""
    os.symlink(bundle.spec["root"]["path"], os.path.join(bundle.path, "rootfs"))
    bundle.spec["root"]["path"] = "rootfs"
    cid = ours.new_id()
    bundle.args("true").write(cid)
    assert ours.cmd("run", "--bundle", bundle.path, cid).returncode == 0


def test_systemd_cgroup_refused(ours, bundle):
    bundle.write()
    res = ours.cmd("--systemd-cgroup", "create", "--bundle", bundle.path, "c1")
    assert res.returncode == 1 and "systemd" in res.stderr


def test_log_json(rt, bundle, tmp_path):
    log = tmp_path / "log.json"
    res = rt.cmd("--log", str(log), "--log-format", "json", "state", "nope")
    assert res.returncode == 1
    assert "does not exist" in res.stderr  # also printed plainly
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "does not exist" in last["msg"] and last["time"]


def test_text_error_format(rt):
    res = rt.cmd("state", "nope")
    assert res.stderr.startswith("time=") and 'level=error msg="container does not exist"' in res.stderr


def test_log_json_for_init_failure(rt, bundle, tmp_path):
    """containerd reads the last error line of --log: init failures must land there."""
    log = tmp_path / "log.json"
    cid = rt.new_id()
    bundle.args("no-such-binary").write(cid)
    res = rt.cmd("--log", str(log), "--log-format", "json", "create", "--bundle", bundle.path, cid)
    assert res.returncode == 1
    errors = [json.loads(line) for line in log.read_text().splitlines() if '"error"' in line]
    assert errors and "executable file not found" in errors[-1]["msg"]
    assert not os.path.exists(rt.root) or os.listdir(rt.root) == []


def test_ours_force_delete_cleans_half_created(ours):
    """A create that died before writing state.json leaves a bare directory."""
    cid = ours.new_id()
    os.makedirs(os.path.join(ours.root, cid))
    assert ours.cmd("state", cid).returncode == 1
    assert ours.cmd("delete", "--force", cid).returncode == 0
    assert not os.path.exists(os.path.join(ours.root, cid))


@pytest.mark.parametrize("verb", ["create", "run"])
def test_duplicate_id_message(rt, bundle, verb):
    """runc 1.1: `runc create failed: container with given ID already exists`."""
    cid = rt.new_id()
    bundle.args("sleep", "100").write(cid)
    rt.ok("create", "--bundle", bundle.path, cid)
    res = rt.cmd(verb, "--bundle", bundle.path, cid)
    assert res.returncode == 1
    assert res.stderr.endswith(f'msg="runc {verb} failed: container with given ID already exists"\n'), res.stderr
    assert rt.state(cid)["status"] == "created"
