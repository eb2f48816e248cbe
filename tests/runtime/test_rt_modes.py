"""Modes and mount flags runc leaves on what it creates: every missing directory
(mount points, device parents, the working directory) 0755 at each level, a
read-only tmpfs read-only per mount (its filesystem stays rw), an existing mount
point's mode kept (also /sys/fs/cgroup's: 0555 on v1, the cgroup2 root's 0755 on v2),
and the working directory entered before the user switch. Ours and runc in the same
test, same output."""

from __future__ import annotations

import os
import shutil

from conftest import CGROUP_V2, run_in

MODES = ("stat -c '%a %n' /mk-N /mk-N/a /mk-N/a/b /dev/sub /dev/sub/dir /cwd-N /cwd-N/x /keep-N /sys/fs/cgroup; "
         "grep -E ' /mk-N/a/b | /keep-N ' /proc/self/mountinfo | awk '{print $5, $6, $(NF-2), $NF}' | "
         "sed -E 's/,size=[0-9]+k//; s/,inode64//'")  # inode64: a kernel's default (6.1's shows it)


def test_created_paths_and_tmpfs_flags(pair, bundle, shared_rootfs):
    outputs = []
    try:
        for rt in pair:
            os.mkdir(os.path.join(shared_rootfs, f"keep-{rt.name}"), 0o710)
            bundle.spec["mounts"] = [m for m in bundle.spec["mounts"] if m["destination"] != "/sys/fs/cgroup"] + [
                {"destination": f"/mk-{rt.name}/a/b", "type": "tmpfs", "source": "none", "options": ["ro", "size=1m"]},
                {"destination": f"/keep-{rt.name}", "type": "tmpfs", "source": "none", "options": ["ro", "size=1m"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["ro", "nosuid", "noexec", "nodev"]},
            ]
            bundle.spec["linux"]["devices"] = [{"path": "/dev/sub/dir/null2", "type": "c", "major": 1, "minor": 3}]
            bundle.spec["process"]["cwd"] = f"/cwd-{rt.name}/x"
            res = run_in(rt, bundle, MODES.replace("-N", f"-{rt.name}"))
            assert res.returncode == 0, (rt, res.stderr)
            outputs.append(res.stdout.replace(f"-{rt.name}", "-N"))
    finally:
        for name in ("mk", "cwd", "keep"):
            for rt in pair:
                shutil.rmtree(os.path.join(shared_rootfs, f"{name}-{rt.name}"), ignore_errors=True)
    assert outputs[0] == outputs[1]
    assert outputs[0].splitlines() == [
        "755 /mk-N", "755 /mk-N/a", "1777 /mk-N/a/b", "755 /dev/sub", "755 /dev/sub/dir",
        "755 /cwd-N", "755 /cwd-N/x", "710 /keep-N", f"{755 if CGROUP_V2 else 555} /sys/fs/cgroup",
        "/mk-N/a/b ro,relatime tmpfs rw", "/keep-N ro,relatime tmpfs rw",
    ]


def test_cwd_only_root_can_reach(pair, bundle, shared_rootfs):
    """runc chdirs as root first: a 0700 working directory works for another user."""
    outputs = []
    try:
        for rt in pair:
            os.mkdir(os.path.join(shared_rootfs, f"priv-{rt.name}"), 0o700)
            bundle.spec["process"]["cwd"] = f"/priv-{rt.name}"
            bundle.spec["process"]["user"] = {"uid": 1, "gid": 1}
            res = run_in(rt, bundle, "pwd; ls . >/dev/null 2>&1; echo ls=$?")
            outputs.append((res.returncode, res.stdout.replace(f"-{rt.name}", "-N"), res.stderr))
    finally:
        for rt in pair:
            os.rmdir(os.path.join(shared_rootfs, f"priv-{rt.name}"))
    assert outputs[0] == outputs[1] == (0, "/priv-N\nls=1\n", "")
