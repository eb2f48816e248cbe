"""OCI hooks: order, state on stdin, failure of a prestart hook."""

from __future__ import annotations

import json
import os
import stat

from conftest import reap


def _hook(tmp_path, name, out):
    script = tmp_path / f"hook-{name}.sh"
    script.write_text(f"#!/bin/sh\nread -r state\necho \"{name} $state\" >> {out}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"path": str(script), "args": [str(script)], "timeout": 5}


def test_hooks_run_in_order(rt, bundle, tmp_path):
    out = tmp_path / "hooks.log"
    # createContainer/startContainer run inside the container: the host script path
    # is not visible there, so only the host-side hooks are exercised here.
    bundle.spec["hooks"] = {k: [_hook(tmp_path, k, out)] for k in ("prestart", "createRuntime", "poststart", "poststop")}
    cid = rt.new_id()
    bundle.args("true").write(cid)
    res = rt.cmd("run", "--bundle", bundle.path, cid)
    reap()
    assert res.returncode == 0, res.stderr
    lines = out.read_text().splitlines()
    names = [line.split(" ", 1)[0] for line in lines]
    assert names == ["prestart", "createRuntime", "poststart", "poststop"]
    first = json.loads(lines[0].split(" ", 1)[1])
    assert first["id"] == cid and first["pid"] > 0 and first["bundle"] == bundle.path
    assert json.loads(lines[2].split(" ", 1)[1])["status"] in ("created", "running")  # runc 1.1 says created


def test_failing_prestart_hook(rt, bundle, tmp_path):
    bundle.spec["hooks"] = {"prestart": [{"path": "/bin/false", "args": ["false"]}]}
    cid = rt.new_id()
    bundle.args("true").write(cid)
    res = rt.cmd("create", "--bundle", bundle.path, cid)
    reap()
    assert res.returncode == 1 and "hook" in res.stderr
    assert not os.path.exists(rt.root) or os.listdir(rt.root) == []
