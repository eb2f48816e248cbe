"""The network namespace a runtime creates: runc brings its loopback up (its
"loopback" network strategy), before hooks and process start; a namespace joined
by path is left as it is."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import run_in

LO = "ip -o link show lo | grep -o '<[^>]*>'"


@pytest.mark.parametrize("userns", [False, True])
def test_new_netns_has_loopback_up(rt, bundle, userns, request):
    if userns:
        bundle = request.getfixturevalue("ubundle")
    res = run_in(rt, bundle, LO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "<LOOPBACK,UP,LOWER_UP>"


def test_joined_netns_left_as_is(rt, bundle):
    """A namespace given by path (its lo still down) is not touched."""
    name = f"dpr-lo-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for ns in bundle.spec["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{name}"
        res = run_in(rt, bundle, LO)
        assert (res.returncode, res.stdout) == (0, "<LOOPBACK>\n"), res.stderr
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
