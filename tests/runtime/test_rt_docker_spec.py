"""End to end with the daemon's own spec builder (dockerd_py.oci.build_spec):
Docker's default caps, seccomp profile, masked paths, /etc binds, /docker/<id>."""

from __future__ import annotations

import os

import pytest

from conftest import CGROUP_PARENT, reap, CGROUP_V2


def test_docker_default_spec(rt, shared_rootfs, tmp_path):
    oci = pytest.importorskip("dockerd_py.oci.spec")
    etc = {}
    for name, text in (("hosts", "127.0.0.1\tlocalhost\n"), ("hostname", "web1\n"),
                       ("resolv.conf", "nameserver 127.0.0.1\n")):
        (tmp_path / name).write_text(text)
        etc[f"/etc/{name}"] = str(tmp_path / name)
    cid = rt.new_id()
    script = ("hostname; head -1 /etc/hosts; grep -E 'CapEff|Seccomp:|NoNewPrivs' /proc/self/status;"
              " unshare -n true 2>/dev/null; echo unshare=$?; wc -c < /proc/timer_list;"
              " echo x > /proc/sys/kernel/domainname 2>/dev/null; echo procsys=$?; cut -d: -f3 /proc/1/cgroup | sort -u")
    spec = oci.build_spec(container_id=cid, config={"Cmd": ["sh", "-c", script], "Hostname": "web1"},
                          host_config={}, image_config={"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
                          rootfs=shared_rootfs, etc_files=etc, netns_path=None,
                          cgroups_path=f"{CGROUP_PARENT}/{cid}")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    import json
    (bundle / "config.json").write_text(json.dumps(spec))
    res = rt.cmd("run", "--bundle", str(bundle), cid)
    reap()
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "web1" and lines[1] == "127.0.0.1\tlocalhost"
    assert lines[2] == "CapEff:\t00000000a80425fb"
    assert lines[3:5] == ["NoNewPrivs:\t0", "Seccomp:\t2"]
    assert lines[5] == "unshare=1" and lines[6].strip() == "0" and lines[7] == "procsys=1"
    assert lines[8] == ("/" if CGROUP_V2 else f"{CGROUP_PARENT}/{cid}")  # v2: a private cgroup namespace
    assert not os.path.isdir(f"/sys/fs/cgroup/memory{CGROUP_PARENT}/{cid}")
