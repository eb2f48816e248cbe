"""The KVM guest harness, and what only a guest shows on this project's hosts: the ipvlan
driver, VLAN sub-interface parents and dummy parents (tests/compat/test_network_ipvlan.py and
test_network_macvlan.py take their kernel-supported branches there), and the runtime under
pure cgroup v2 (tests/runtime, each test against runc).

The first two tests need no guest that boots: the initramfs, and qemu killed on timeout.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from ..compat.test_network_ipvlan import NEEDS_LINKS
from . import guest as g

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider -rfEs"


def test_initramfs_holds_busybox_and_the_modules_that_mount_the_root(tmp_path):
    found = g.kernel()
    if found is None:
        pytest.skip(g.unavailable() or "no kernel")
    _, release = found
    g.build_initramfs(release, str(tmp_path / "initrd"))
    with open(tmp_path / "initrd", "rb") as f:
        listing = subprocess.run([g.BUSYBOX, "cpio", "-t"], stdin=f, capture_output=True, text=True).stdout.split()
    assert {"init", "bin/busybox", "dev/console", "modules/order"} <= set(listing)
    order = subprocess.run([g.BUSYBOX, "cpio", "-i", "--to-stdout", "modules/order"], stdin=open(tmp_path / "initrd", "rb"),
                           capture_output=True, text=True).stdout.split()
    assert sorted(f"modules/{m}" for m in order) == sorted(n for n in listing if n.endswith(".ko"))
    for mod in ("9p", "9pnet", "9pnet_virtio", "virtio_pci", "overlay"):
        assert f"{mod}.ko" in order or _builtin(release, mod)
    # every module comes after all it depends on (modinfo's view of it)
    for i, name in enumerate(order):
        deps = subprocess.run(["modinfo", "-k", release, "-F", "depends", name[:-3]], capture_output=True,
                              text=True).stdout.strip()
        for dep in filter(None, deps.split(",")):
            assert f"{dep}.ko" in order[:i] or _builtin(release, dep), (name, dep, order)


def _builtin(release: str, mod: str) -> bool:
    with open(f"/lib/modules/{release}/modules.builtin") as f:
        return any(os.path.basename(line.strip()) in (f"{mod}.ko", f"{mod.replace('_', '-')}.ko") for line in f)


def test_timeout_kills_qemu_by_its_pid():
    reason = g.unavailable()
    if reason:
        pytest.skip(reason)
    res = g.run("sleep 600", timeout=3)
    assert res.timed_out and res.returncode == -1
    assert res.pid and not os.path.exists(f"/proc/{res.pid}")


def test_guest_has_pure_cgroup_v2_the_modules_and_no_way_out(guest):
    probe = f"/usr/dpyvm-probe-{os.getpid()}"
    res = guest("echo release=$(uname -r); ip -o link | grep -vc ' lo:' | sed 's/^/links=/'; "
                "awk '$2 == \"/sys/fs/cgroup\" {print \"cgroupfs=\" $3}' /proc/mounts; "
                "echo subtree=$(cat /sys/fs/cgroup/cgroup.subtree_control); grep -c cgroup /proc/mounts | sed 's/^/mounts=/'; "
                "for m in ipvlan 8021q dummy macvlan veth bridge overlay nf_tables rdma_rxe loop ext4; do "
                "modprobe $m || echo no=$m; done; "
                f"touch {probe} && echo root=writable; "
                "touch /tmp/x /run/x /var/lib/x && echo scratch=writable", timeout=300)
    assert res.returncode == 0, res.output + res.console[-3000:]
    out = dict(line.split("=", 1) for line in res.output.splitlines() if "=" in line)
    assert out["release"] == g.kernel()[1]
    assert out["links"] == "0"        # no interface but lo: nothing leaves the guest
    assert out["cgroupfs"] == "cgroup2" and out["mounts"] == "1"  # cgroup2 alone
    assert set(out["subtree"].split()) >= {"cpu", "memory", "pids", "io", "cpuset"}
    assert "no" not in out, res.output  # every module loads
    assert out["root"] == out["scratch"] == "writable"
    assert not os.path.exists(probe)  # the guest's writes stay in its overlay


def test_sublink_networks_in_guest(guest):
    """ipvlan (l2, l3), VLAN parents made and removed, Docker's dummy parents, Docker's 400s."""
    res = guest(f"{PYTEST} tests/compat/test_network_ipvlan.py -k {shlex.quote(NEEDS_LINKS)}", timeout=900)
    assert res.returncode == 0 and " skipped" not in res.output, res.output[-6000:] + res.console[-2000:]


# The runtime's cgroup v2 paths, each test against runc: the starter spec, create/start/kill/delete,
# ps, a new cgroup parent, stats; and id-mapped mounts (on a loop-mounted ext4: 6.1's tmpfs has none).
# The whole suite (~10 min under TCG) with DOCKERD_PY_VM_RUNTIME=all.
RUNTIME_IN_GUEST = ("tests/runtime/test_rt_spec.py tests/runtime/test_rt_lifecycle.py tests/runtime/test_rt_cgroups.py "
                    "tests/runtime/test_rt_events.py tests/runtime/test_rt_idmap.py -k 'spec or create_start_kill_delete "
                    "or kill_all_and_ps or parallel_creates or stats_shape or errors_match or idmap'")


def test_runtime_under_pure_cgroup_v2(guest):
    which = "tests/runtime" if os.environ.get("DOCKERD_PY_VM_RUNTIME") == "all" else RUNTIME_IN_GUEST
    res = guest(f"{PYTEST} {which}", timeout=1800)
    assert res.returncode == 0, res.output[-8000:] + res.console[-2000:]
    assert not [line for line in res.output.splitlines() if line.startswith("SKIPPED") and "test_rt_idmap" in line], \
        res.output[-3000:]


def test_rdma_on_cgroup_v1(guest):
    """A guest that leaves rdma and devices to v1: in a private mount namespace, a v1 /sys/fs/cgroup
    with only these two hierarchies (runc needs devices); rdma limits on a soft-RoCE device
    against runc (tests/runtime/test_rt_cgroups.py)."""
    v1 = ("umount /sys/fs/cgroup && mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup && for c in rdma devices; do "
          "mkdir /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || exit 1; done && "
          f"exec {PYTEST} tests/runtime/test_rt_cgroups.py -k rdma_v1")
    res = guest(f"/usr/bin/unshare -m --propagation private sh -c {shlex.quote(v1)}", v1=("rdma", "devices"),
                timeout=600)
    assert res.returncode == 0 and "2 passed" in res.output and " skipped" not in res.output, \
        res.output[-6000:] + res.console[-2000:]
