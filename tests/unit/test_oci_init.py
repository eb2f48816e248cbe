"""docker-init lookup (Docker's LookupInitPath order) and the spec change --init makes."""

import os

import pytest

from dockerd_py.errors import InvalidParameter
from dockerd_py.oci import init as init_mod


def test_lookup_default_finds_an_init_binary():
    path = init_mod.lookup("")
    assert os.path.isabs(path) and os.access(path, os.X_OK)


def test_lookup_absolute_and_missing():
    assert init_mod.lookup("/opt/x/tini") == "/opt/x/tini"
    with pytest.raises(InvalidParameter, match=r'exec: "no-such-init": executable file not found in \$PATH'):
        init_mod.lookup("no-such-init")


def test_apply_and_wanted():
    spec = {"process": {"args": ["sh", "-c", "true"]}, "mounts": []}
    init_mod.apply(spec, "/usr/bin/tini-static")
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "true"]
    assert spec["mounts"] == [{"destination": "/sbin/docker-init", "type": "bind",
                               "source": "/usr/bin/tini-static", "options": ["bind", "ro"]}]
    assert init_mod.wanted({"Init": None}, True) and not init_mod.wanted({"Init": False}, True)
    assert init_mod.wanted({"Init": True}, False) and not init_mod.wanted({}, False)
