"""Bad input of issue 7, ours and runc in the same test: exit code, message on
stderr and in --log (json), nothing left behind (state dir, cgroup, mounts,
hook processes)."""

from __future__ import annotations

import copy
import json
import os
import re

import pytest

from conftest import CGROUP_PARENT, cgroup_exists, reap, run_in


def _msg(stderr: str) -> str:
    """The msg="..." of runc's last logrus line."""
    found = re.findall(r'msg="((?:[^"\\]|\\.)*)"', stderr)
    return json.loads(f'"{found[-1]}"') if found else stderr.strip()


def _mounts_of(*paths: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(p in line for p in paths)]


def _create_both(pair, bundle, mutate=None, raw=None, log_dir=None):
    """`create` with each runtime from the same (mutated or raw) config; what is left after."""
    original = copy.deepcopy(bundle.spec)
    watched = (original["root"]["path"], bundle.path)
    out = []
    for rt in pair:
        cid = rt.new_id()
        bundle.spec = copy.deepcopy(original)
        bundle.spec["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{cid}"
        if mutate:
            mutate(bundle.spec)
        with open(os.path.join(bundle.path, "config.json"), "w") as f:
            f.write(json.dumps(bundle.spec) if raw is None else raw)
        before = _mounts_of(*watched)
        log = ["--log", str(log_dir / f"{rt.name}.json"), "--log-format", "json"] if log_dir else []
        res = rt.cmd(*log, "create", "--bundle", bundle.path, cid)
        reap()
        left = (os.path.exists(os.path.join(rt.root, cid)), cgroup_exists(f"{CGROUP_PARENT}/{cid}"),
                _mounts_of(*watched) != before)
        out.append((res, left))
    return out


@pytest.mark.parametrize("raw", ['{"ociVersion": "1.0.2", bad', "{bad json", '{"ociVersion" "1.0.2"}', "[1, 2]", ""])
def test_malformed_config(pair, bundle, raw, tmp_path):
    results = _create_both(pair, bundle, raw=raw, log_dir=tmp_path)
    for (res, left), rt in zip(results, pair):
        assert res.returncode == 1, (rt, res.stderr)
        assert "Traceback" not in res.stderr and _msg(res.stderr), (rt, res.stderr)
        assert left == (False, False, False), rt
        last = json.loads((tmp_path / f"{rt.name}.json").read_text().splitlines()[-1])
        assert last["level"] == "error" and last["msg"] == _msg(res.stderr)


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s.pop("root"), "runc create failed: root must be specified"),
    (lambda s: s["process"].__setitem__("args", []), "runc create failed: args must not be empty"),
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}),
     'runc create failed: namespace {"bogus" ""} does not exist'),
    (lambda s: s["root"].__setitem__("path", "relative-nope"), None),
])
def test_same_message_as_runc(pair, bundle, mutate, message):
    results = _create_both(pair, bundle, mutate)
    (ours, ours_left), (runc, runc_left) = results
    assert ours.returncode == runc.returncode == 1
    assert _msg(ours.stderr) == _msg(runc.stderr)
    if message:
        assert _msg(ours.stderr) == message
    assert ours_left == runc_left == (False, False, False)


def test_unknown_capability_warned_and_ignored(pair, bundle):
    """runc warns and runs without it: same exit code, same capability sets."""
    bundle.spec["process"]["capabilities"] = {k: ["CAP_KILL", "CAP_BOGUS"] for k in
                                              ("bounding", "effective", "permitted")}
    outputs = []
    for rt in pair:
        res = run_in(rt, bundle, "grep -E 'Cap(Eff|Bnd)' /proc/self/status")
        assert "ignoring unknown or unavailable capabilities: [CAP_BOGUS]" in res.stderr, (rt, res.stderr)
        outputs.append((res.returncode, res.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 0 and "0000000000000020" in outputs[0][1]


def _sleepers(marker: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_hook_that_hangs_times_out(pair, bundle, kind):
    marker = "123.25"
    bundle.spec["hooks"] = {kind: [{"path": "/bin/sleep", "args": ["sleep", marker], "timeout": 1}]}
    results = _create_both(pair, bundle)
    for (res, left), rt in zip(results, pair):
        assert res.returncode == 1, (rt, res.stderr)
        assert "error running hook #0: hook ran past specified timeout of 1.0s" in _msg(res.stderr), (rt, res.stderr)
        assert left == (False, False, False), rt
        assert _sleepers(marker) == [], rt


@pytest.mark.parametrize("argv", [["nosuchverb"], ["state"], ["state", "a", "b"], ["kill", "a", "b", "c"],
                                  ["create", "--bogus", "x"], ["exec", "-c", "A", "--cap", "B", "x", "true"],
                                  ["exec", "--bogus", "x", "true"], ["events", "--interval", "abc", "x"]])
def test_usage_errors_as_runc(pair, argv):
    """Command-line mistakes: runc's exit code (3 for an unknown verb, else 1, exec included) and message."""
    results = [(res.returncode, _msg(res.stderr).replace(rt.binary, "PROG"))
               for rt, res in ((rt, rt.cmd(*argv)) for rt in pair)]
    assert results[0] == results[1]
