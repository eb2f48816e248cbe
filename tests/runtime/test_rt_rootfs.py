"""Namespaces, mounts, devices, masked/read-only paths, hostname, sysctl."""

from __future__ import annotations

import os
import subprocess
import time

from conftest import reap, run_in, CGROUP_V2


def test_hostname_and_pid1(rt, bundle):
    bundle.spec["hostname"] = "box1"
    res = run_in(rt, bundle, "hostname; echo pid=$$; cat /proc/1/comm; ls /proc/1 | grep -cx status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["box1", "pid=1", "sh", "1"]


def test_mounts_present(rt, bundle):
    res = run_in(rt, bundle, "cat /proc/mounts")
    assert res.returncode == 0, res.stderr
    mounts = {line.split()[1]: line.split() for line in res.stdout.splitlines()}
    cgroups = (("/sys/fs/cgroup", "cgroup2"),) if CGROUP_V2 else \
        (("/sys/fs/cgroup", "tmpfs"), ("/sys/fs/cgroup/memory", "cgroup"))
    for dest, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                         ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs"), *cgroups):
        assert mounts[dest][2] == fstype, dest
    assert "ro" in mounts["/sys"][3].split(",")
    assert "ro" in mounts[cgroups[-1][0]][3].split(",")
    assert "ro" in mounts["/"][3].split(",")  # root.readonly
    assert "nodev" in mounts["/dev/shm"][3].split(",")


def test_devices_and_symlinks(rt, bundle):
    res = run_in(rt, bundle, "for d in null zero full random urandom tty; do stat -c '%n %t:%T %a' /dev/$d; done;"
                             " for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done;"
                             " echo hi > /dev/null && head -c 4 /dev/zero | wc -c")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:6] == ["/dev/null 1:3 666", "/dev/zero 1:5 666", "/dev/full 1:7 666",
                         "/dev/random 1:8 666", "/dev/urandom 1:9 666", "/dev/tty 5:0 666"]
    assert lines[6:11] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]
    assert lines[11].strip() == "4"


def test_masked_paths(rt, bundle):
    res = run_in(rt, bundle, "wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; ls -A /sys/firmware | wc -l;"
                             " [ -e /proc/kcore ] && wc -c < /proc/kcore || echo 0")
    assert res.returncode == 0, res.stderr
    assert [x.strip() for x in res.stdout.splitlines()] == ["0", "0", "0", "0"]


def test_proc_sys_readonly(rt, bundle):
    res = run_in(rt, bundle, "echo x > /proc/sys/kernel/domainname")
    assert res.returncode != 0
    assert "Read-only" in res.stderr


def test_readonly_root_and_writable_tmpfs(rt, bundle):
    res = run_in(rt, bundle, "touch /newfile; echo rc=$?; touch /dev/shm/ok && echo shm-ok")
    assert "rc=1" in res.stdout and "shm-ok" in res.stdout


def test_bind_mounts_options(rt, bundle, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "f").write_text("hello")
    bundle.spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(src),
                                  "options": ["rbind", "ro", "nosuid", "nodev", "rprivate"]})
    bundle.spec["mounts"].append({"destination": "/rw", "type": "bind", "source": str(src),
                                  "options": ["bind", "rw"]})
    bundle.spec["mounts"].append({"destination": "/etc/hostfile", "type": "bind",
                                  "source": str(src / "f"), "options": ["bind", "ro"]})
    res = run_in(rt, bundle, "cat /data/f; echo; touch /data/x; echo rc=$?; touch /rw/y && echo rw-ok;"
                             " cat /etc/hostfile; echo; grep ' /data ' /proc/mounts")
    lines = res.stdout.splitlines()
    assert lines[0] == "hello" and lines[1] == "rc=1" and lines[2] == "rw-ok" and lines[3] == "hello"
    opts = lines[4].split()[3].split(",")
    assert {"ro", "nosuid", "nodev"} <= set(opts)
    assert (src / "y").exists()


def test_tmpfs_mount_with_data(rt, bundle):
    dest = f"/scratch-{rt.name}-{os.getpid()}"  # a new mount point: runc keeps an existing one's mode
    bundle.spec["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                                  "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1770"]})
    res = run_in(rt, bundle, f"stat -c %a {dest}; grep ' {dest} ' /proc/mounts")
    lines = res.stdout.splitlines()
    assert lines[0] == "1770"
    assert "size=1024k" in lines[1]


def test_sysctl_and_domainname(rt, bundle):
    bundle.spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    bundle.spec["domainname"] = "example.org"
    res = run_in(rt, bundle, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced /proc/sys/kernel/domainname")
    assert res.returncode == 0, res.stderr
    out = res.stdout.split()
    assert out[:2] == ["1", "1"]
    # domainname is runtime-spec 1.2; runc 1.1 ignores it
    assert out[2] == "example.org" or (rt.name == "runc" and out[2] == "(none)")


def test_join_network_namespace_by_path(rt, bundle):
    holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up; sleep 30"])
    try:
        time.sleep(0.2)
        ns = f"/proc/{holder.pid}/ns/net"
        want = os.readlink(ns)
        bundle.spec["linux"]["namespaces"] = [n if n["type"] != "network" else {"type": "network", "path": ns}
                                              for n in bundle.spec["linux"]["namespaces"]]
        res = run_in(rt, bundle, "readlink /proc/self/ns/net; ls /sys/class/net")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [want, "lo"]
    finally:
        holder.kill()
        holder.wait()
        reap()


def test_no_pid_namespace_shares_host_pids(rt, bundle):
    bundle.spec["linux"]["namespaces"] = [n for n in bundle.spec["linux"]["namespaces"] if n["type"] != "pid"]
    res = run_in(rt, bundle, "echo $$")
    assert res.returncode == 0 and int(res.stdout) > 1


def test_rootfs_propagation_and_no_pivot(rt, bundle):
    bundle.spec["linux"]["rootfsPropagation"] = "rslave"
    res = run_in(rt, bundle, "ls / | grep -cx bin")
    assert res.returncode == 0 and res.stdout.strip() == "1"
    cid = rt.new_id()
    bundle.args("sh", "-c", "echo $$").write(cid)
    res = rt.cmd("run", "--no-pivot", "--bundle", bundle.path, cid)
    reap()
    assert res.returncode == 0 and res.stdout.strip() == "1", res.stderr
