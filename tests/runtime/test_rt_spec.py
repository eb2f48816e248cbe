"""`spec`: runc's starter config.json, byte for byte apart from ociVersion."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest


def _normalised(path: str) -> str:
    with open(path) as f:
        return re.sub(r'"ociVersion": "[^"]*"', '"ociVersion": "X"', f.read(), count=1)


@pytest.mark.parametrize("rootless", [False, True])
def test_spec_matches_runc(pair, tmp_path, rootless):
    outputs = []
    for rt in pair:
        d = tmp_path / f"{rt.name}-{rootless}"
        d.mkdir()
        rt.ok("spec", "--bundle", str(d), *(["--rootless"] if rootless else []))
        outputs.append(_normalised(str(d / "config.json")))
    assert outputs[0] == outputs[1]
    spec = json.loads(outputs[0])
    assert ({"type": "user"} in spec["linux"]["namespaces"]) == rootless


def test_spec_in_cwd_and_refuses_to_overwrite(pair, tmp_path):
    results = []
    for rt in pair:
        d = tmp_path / rt.name
        d.mkdir()
        first = _in(rt, str(d), "spec")
        again = _in(rt, str(d), "spec")
        results.append((first.returncode, again.returncode, "File config.json exists. Remove it first" in again.stderr,
                        os.path.exists(d / "config.json")))
    assert results[0] == results[1] == (0, 1, True, True)


def test_spec_missing_bundle(pair, tmp_path):
    results = []
    for rt in pair:
        res = rt.cmd("spec", "--bundle", str(tmp_path / "nope"))
        results.append((res.returncode, f"chdir {tmp_path / 'nope'}: no such file or directory" in res.stderr))
    assert results[0] == results[1] == (1, True)


def _in(rt, cwd, *args):
    return subprocess.run([rt.binary, "--root", rt.root, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30)
