"""dockerd_py.oci: Docker container -> OCI config.json.

Unit tests for Docker's rules, then end-to-end runs of the generated spec with
the real runc on a busybox rootfs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from dockerd_py.errors import InvalidParameter
from dockerd_py.oci import (HostInfo, OPTIONS, build_spec, host_config_warnings, unsupported_options,
                            validate_host_config)
from dockerd_py.oci.capabilities import capability_mask
from dockerd_py.oci import rro
from dockerd_py.oci.mounts import legacy_read_only, merge_tmpfs_options

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootfs import make_rootfs  # noqa: E402

CID = "0123456789abcdef" * 4
HOST = HostInfo(arch="amd64", kernel=(6, 8), cgroup_v2=True, hostname="thehost", cap_last_cap=40,
                cpus=frozenset({0, 1, 2, 3}), mems=frozenset({0}), devices=lambda: [])
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "alice:x:1000:1000::/home/alice:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc/group").write_text(
        "root:x:0:\ndaemon:x:1:\nwheel:x:10:alice,bob\nalice:x:1000:\naudio:x:29:alice\n"
        "staff:x:50:\nnogroup:x:65534:\n")
    return str(root)


def spec(rootfs=None, config=None, host_config=None, image_config=None, netns="/run/netns/x", **kw):
    return build_spec(container_id=CID, config={"Cmd": ["sh"], **(config or {})}, host_config=host_config or {},
                      image_config=image_config or {}, rootfs=rootfs or "/nonexistent-rootfs",
                      etc_files=kw.pop("etc_files", {}), netns_path=netns, cgroups_path="/docker/" + CID,
                      host=kw.pop("host", HOST), joined=kw.pop("joined", None), shm_path=kw.pop("shm_path", None))


def bad(message, host_config, config=None):
    with pytest.raises(InvalidParameter) as e:
        validate_host_config(host_config, config, host=HOST)
    assert str(e.value) == message
    assert e.value.status == 400


# --- process: args, env, cwd, hostname ------------------------------------------------------------

IMAGE = {"config": {"Entrypoint": ["/entry"], "Cmd": ["default-arg"], "Env": ["PATH=/img/bin", "A=img", "B=img"],
                    "WorkingDir": "/work", "User": ""}}


@pytest.mark.parametrize("config,args", [
    ({}, ["/entry", "default-arg"]),                                   # image's entrypoint + cmd
    ({"Cmd": ["x", "y"]}, ["/entry", "x", "y"]),                         # Cmd replaces the image's Cmd
    ({"Entrypoint": ["/other"]}, ["/other"]),                            # Entrypoint drops the image's Cmd
    ({"Entrypoint": ["/other"], "Cmd": ["z"]}, ["/other", "z"]),
    ({"Entrypoint": [], "Cmd": ["ls"]}, ["ls"]),                         # --entrypoint "" clears it
])
def test_entrypoint_and_cmd_overrides(config, args):
    cfg = {"Cmd": None, **config}
    s = build_spec(container_id=CID, config=cfg, host_config={}, image_config=IMAGE, rootfs="/nope",
                   etc_files={}, netns_path=None, cgroups_path="/c", host=HOST)
    assert s["process"]["args"] == args


def test_no_command_is_refused():
    with pytest.raises(InvalidParameter, match="No command specified"):
        build_spec(container_id=CID, config={}, host_config={}, image_config={}, rootfs="/nope",
                   etc_files={}, netns_path=None, cgroups_path="/c", host=HOST)


def test_env_merge_order_and_defaults():
    s = spec(config={"Cmd": ["x"], "Env": ["B=user", "C=user", "HOSTNAME=mine"]}, image_config=IMAGE)
    # daemon defaults first (PATH, HOSTNAME replaced in place), then user env, then the rest of the image's
    assert s["process"]["env"] == ["PATH=/img/bin", "HOSTNAME=mine", "B=user", "C=user", "A=img"]
    assert s["process"]["cwd"] == "/work"


def test_env_default_path_hostname_and_term():
    s = spec(config={"Tty": True, "Env": ["FOO=1"]})
    assert s["process"]["env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   f"HOSTNAME={CID[:12]}", "TERM=xterm", "FOO=1"]
    assert s["process"]["terminal"] is True
    assert s["process"]["cwd"] == "/"
    assert "TERM=xterm" not in spec()["process"]["env"]


def test_env_key_without_value_unsets_a_default():
    assert not any(e.startswith("HOSTNAME=") for e in spec(config={"Env": ["HOSTNAME"]})["process"]["env"])


def test_hostname_rules():
    assert spec()["hostname"] == CID[:12]
    assert spec(config={"Hostname": "web", "Domainname": "example.org"})["hostname"] == "web"
    assert spec(config={"Domainname": "example.org"})["linux"]["sysctl"]["kernel.domainname"] == "example.org"
    assert spec(host_config={"NetworkMode": "host"}, netns=None)["hostname"] == "thehost"
    s = spec(host_config={"UTSMode": "host"})
    assert "hostname" not in s and "uts" not in [n["type"] for n in s["linux"]["namespaces"]]


# --- user -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("user,uid,gid,gids", [
    ("", 0, 0, [0]),
    ("alice", 1000, 1000, [1000, 10, 29]),           # + supplementary groups from /etc/group
    ("1000", 1000, 1000, [1000, 10, 29]),            # numeric uid with an entry
    ("alice:staff", 1000, 50, [50]),                 # explicit group: no supplementary groups
    ("alice:50", 1000, 50, [50]),
    ("4242", 4242, 0, [0]),                          # numeric uid without an entry
    ("4242:4343", 4242, 4343, [4343]),
    ("nobody", 65534, 65534, [65534]),
])
def test_user_resolution(rootfs, user, uid, gid, gids):
    assert spec(rootfs, config={"User": user})["process"]["user"] == {"uid": uid, "gid": gid, "additionalGids": gids}


def test_user_group_add(rootfs):
    u = spec(rootfs, config={"User": "daemon"}, host_config={"GroupAdd": ["staff", "777", "audio"]})["process"]["user"]
    assert u == {"uid": 1, "gid": 1, "additionalGids": [1, 50, 777, 29]}


def test_user_from_image(rootfs):
    assert spec(rootfs, image_config={"config": {"User": "nobody"}})["process"]["user"]["uid"] == 65534


@pytest.mark.parametrize("user,message", [
    ("ghost", "unable to find user ghost: no matching entries in passwd file"),
    ("alice:ghosts", "unable to find group ghosts: no matching entries in group file"),
    ("-5", "uids and gids must be in range 0-2147483647"),
])
def test_user_errors(rootfs, user, message):
    with pytest.raises(InvalidParameter) as e:
        spec(rootfs, config={"User": user})
    assert str(e.value) == message


def test_group_add_unknown_name(rootfs):
    with pytest.raises(InvalidParameter, match="Unable to find group ghosts: no matching entries in group file"):
        spec(rootfs, host_config={"GroupAdd": ["ghosts"]})


def test_user_passwd_symlink_stays_in_rootfs(tmp_path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data/passwd").write_text("bob:x:7:8::/:/bin/sh\n")
    os.symlink("../../../../../../data/passwd", root / "etc/passwd")   # resolves inside the rootfs
    assert spec(str(root), config={"User": "bob"})["process"]["user"]["uid"] == 7


def test_no_passwd_file_numeric_ok_named_refused(tmp_path):
    assert spec(str(tmp_path), config={"User": "12:34"})["process"]["user"]["gid"] == 34
    with pytest.raises(InvalidParameter, match="unable to find user bob"):
        spec(str(tmp_path), config={"User": "bob"})


# --- capabilities -----------------------------------------------------------------------------------

def caps(**hc):
    return spec(host_config=hc)["process"]["capabilities"]


def test_default_capabilities():
    c = caps()
    assert c["bounding"] == c["effective"] == c["permitted"]
    assert "inheritable" not in c and "ambient" not in c
    assert len(c["bounding"]) == 14
    assert capability_mask(c["bounding"]) == DOCKER_DEFAULT_CAPS


def test_cap_add_drop_case_and_prefix():
    c = caps(CapAdd=["net_admin", "CAP_SYS_TIME"], CapDrop=["mknod", "Cap_Chown"])["bounding"]
    assert "CAP_NET_ADMIN" in c and "CAP_SYS_TIME" in c
    assert "CAP_MKNOD" not in c and "CAP_CHOWN" not in c
    assert len(c) == 14


def test_cap_add_all_minus_drop():
    c = caps(CapAdd=["ALL"], CapDrop=["SYS_ADMIN"])["bounding"]
    assert len(c) == 40 and "CAP_SYS_ADMIN" not in c


def test_cap_drop_all_keeps_only_added():
    assert caps(CapDrop=["all"], CapAdd=["chown"])["bounding"] == ["CAP_CHOWN"]


def test_privileged_gets_every_capability_and_no_confinement():
    s = spec(host_config={"Privileged": True, "CapDrop": ["ALL"]},
             host=HostInfo(**{**HOST.__dict__, "devices": lambda: [{"path": "/dev/sda", "type": "b"}]}))
    assert len(s["process"]["capabilities"]["bounding"]) == 41
    assert "seccomp" not in s["linux"]
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert s["linux"]["devices"] == [{"path": "/dev/sda", "type": "b"}]
    sys_mounts = {m["destination"]: m["options"] for m in s["mounts"]}
    assert "ro" not in sys_mounts["/sys"] and "ro" not in sys_mounts["/sys/fs/cgroup"]


def test_unknown_capability():
    bad('invalid CapAdd: unknown capability: "CAP_FOO"', {"CapAdd": ["foo"]})
    bad('invalid CapDrop: unknown capability: "CAP_BAR"', {"CapDrop": ["CAP_BAR"]})


def test_capability_not_in_kernel_or_not_held():
    old = HostInfo(**{**HOST.__dict__, "cap_last_cap": 37})
    with pytest.raises(InvalidParameter, match="capability not supported by your kernel"):
        validate_host_config({"CapAdd": ["BPF"]}, host=old)
    no_sys_resource = HostInfo(**{**HOST.__dict__, "cap_bounding": ((1 << 41) - 1) & ~(1 << 24)})
    with pytest.raises(InvalidParameter, match='not available in the current environment: "CAP_SYS_RESOURCE"'):
        validate_host_config({"CapAdd": ["sys_resource"]}, host=no_sys_resource)
    privileged = spec(host=no_sys_resource, host_config={"Privileged": True})["process"]["capabilities"]
    assert len(privileged["bounding"]) == 40 and "CAP_SYS_RESOURCE" not in privileged["bounding"]


# --- seccomp ----------------------------------------------------------------------------------------

def syscalls(s):
    return [n for group in s["linux"]["seccomp"]["syscalls"] for n in group["names"]]


def group_for(s, name):
    return [g for g in s["linux"]["seccomp"]["syscalls"] if name in g["names"]]


def test_seccomp_default_profile_translation():
    sc = spec()["linux"]["seccomp"]
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO" and sc["defaultErrnoRet"] == 1
    assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = syscalls(spec())
    assert "read" in names and "ptrace" in names and "arch_prctl" in names
    assert "unshare" not in names and "mount" not in names and "reboot" not in names
    assert "riscv_flush_icache" not in names and "s390_runtime_instr" not in names
    clone = group_for(spec(), "clone")
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert group_for(spec(), "clone3")[0]["errnoRet"] == 38
    for group in sc["syscalls"]:
        assert set(group) <= {"names", "action", "errnoRet", "args"}


def test_seccomp_includes_follow_final_capabilities():
    s = spec(host_config={"CapAdd": ["SYS_ADMIN"]})
    names = syscalls(s)
    assert "unshare" in names and "mount" in names
    assert all("args" not in g for g in group_for(s, "clone"))        # clone unrestricted
    assert not any(g.get("errnoRet") == 38 for g in group_for(s, "clone3"))
    assert "chroot" not in syscalls(spec(host_config={"CapDrop": ["SYS_CHROOT"]}))
    assert "reboot" in syscalls(spec(host_config={"CapAdd": ["SYS_BOOT"]}))


def test_seccomp_min_kernel_and_arch():
    old = HostInfo(**{**HOST.__dict__, "kernel": (4, 4)})
    assert "ptrace" not in syscalls(spec(host=old))
    arm = HostInfo(**{**HOST.__dict__, "arch": "arm64"})
    s = spec(host=arm)
    assert s["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" not in syscalls(s) and "arm_fadvise64_64" in syscalls(s)


def test_seccomp_unconfined_and_custom():
    assert "seccomp" not in spec(host_config={"SecurityOpt": ["seccomp=unconfined"]})["linux"]
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_NET_ADMIN"]}},
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]})
    s = spec(host_config={"SecurityOpt": [f"seccomp={custom}"]})
    assert s["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ALLOW",
                                     "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]}
    bad_json = "seccomp={not json"
    with pytest.raises(InvalidParameter, match="decoding seccomp profile failed"):
        validate_host_config({"SecurityOpt": [bad_json]}, host=HOST)


def test_no_new_privileges():
    assert spec(host_config={"SecurityOpt": ["no-new-privileges"]})["process"]["noNewPrivileges"] is True
    assert spec(host_config={"SecurityOpt": ["no-new-privileges=true"]})["process"]["noNewPrivileges"] is True
    assert "noNewPrivileges" not in spec(host_config={"SecurityOpt": ["no-new-privileges:false"]})["process"]
    bad('invalid --security-opt 2: "no-new-privileges=maybe"', {"SecurityOpt": ["no-new-privileges=maybe"]})
    bad('invalid --security-opt 1: "foo"', {"SecurityOpt": ["foo"]})


# --- resources, rlimits, devices ----------------------------------------------------------------------

def test_memory_resources():
    hc = {"Memory": 64 << 20, "MemoryReservation": 32 << 20, "MemorySwappiness": 10, "OomKillDisable": True}
    r = spec(host_config=hc, host=HostInfo(**{**HOST.__dict__, "cgroup_v2": False}))["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "swappiness": 10,
                           "disableOOMKiller": True}
    # cgroup v2 has no swappiness and no OOM-killer switch: Docker discards them with a warning
    assert spec(host_config=hc)["linux"]["resources"]["memory"] == {
        "limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "disableOOMKiller": False}
    assert host_config_warnings(hc, host=HOST) == [
        "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
        "Memory swappiness discarded.",
        "Your kernel does not support OomKillDisable. OomKillDisable discarded."]
    assert "swap" not in spec(host_config={"Memory": 64 << 20, "MemorySwap": -1})["linux"]["resources"]["memory"]
    noswap = HostInfo(**{**HOST.__dict__, "swap_limit": False})
    assert spec(host_config={"Memory": 64 << 20}, host=noswap)["linux"]["resources"]["memory"] == {
        "limit": 64 << 20, "disableOOMKiller": False}
    assert spec()["linux"]["resources"]["memory"] == {"disableOOMKiller": False}


def test_blkio_weight_discarded_where_the_controller_takes_none():
    no_weight = HostInfo(**{**HOST.__dict__, "blkio_weight": False})
    hc = {"BlkioWeight": 300}
    assert spec(host_config=hc)["linux"]["resources"]["blockIO"] == {"weight": 300}
    assert spec(host_config=hc, host=no_weight)["linux"]["resources"]["blockIO"] == {"weight": 0}
    assert host_config_warnings(hc, host=HOST) == []
    assert host_config_warnings(hc, host=no_weight) == [
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]


def test_what_create_discards_is_stored_reset():
    from dockerd_py.oci import discard_unsupported
    hc = {"BlkioWeight": 300, "CpuPercent": 50, "Memory": 64 << 20, "MemorySwappiness": 10, "OomKillDisable": True}
    v1 = HostInfo(**{**HOST.__dict__, "cgroup_v2": False, "blkio_weight": False, "swap_limit": False})
    assert discard_unsupported(hc, host=v1) == {**hc, "BlkioWeight": 0, "CpuPercent": 0, "MemorySwap": -1}
    assert discard_unsupported(hc, host=HOST) == {**hc, "CpuPercent": 0, "MemorySwappiness": None,
                                                  "OomKillDisable": False}
    assert hc["CpuPercent"] == 50  # a copy


def test_cpu_resources():
    r = spec(host_config={"NanoCpus": 1_500_000_000, "CpuShares": 512, "CpusetCpus": "0-1"})["linux"]["resources"]
    assert r["cpu"] == {"shares": 512, "cpus": "0-1", "period": 100000, "quota": 150000}
    r = spec(host_config={"CpuPeriod": 50000, "CpuQuota": 25000})["linux"]["resources"]
    assert r["cpu"] == {"period": 50000, "quota": 25000}


def test_pids_blkio_rlimits_devices():
    s = spec(host_config={"PidsLimit": 100, "BlkioWeight": 300,
                          "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                          "DeviceCgroupRules": ["c 42:* rmw"]})
    r = s["linux"]["resources"]
    assert r["pids"] == {"limit": 100} and r["blockIO"] == {"weight": 300}
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]
    assert r["devices"][-1] == {"allow": True, "type": "c", "major": 42, "access": "rmw"}
    assert r["devices"][0] == {"allow": False, "access": "rwm"}
    assert r["devices"][7] == {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    assert spec(host_config={"PidsLimit": 0})["linux"]["resources"]["pids"] == {"limit": -1}
    unlimited = spec(host_config={"Ulimits": [{"Name": "core", "Soft": -1, "Hard": -1}]})["process"]["rlimits"]
    assert unlimited == [{"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1}]
    assert "rlimits" not in spec()["process"]           # Docker adds none by default


def test_user_devices():
    def lookup(path):
        if path == "/dev/fuse":
            return [{"path": "", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}]
        if path == "/dev/snd":
            return [{"path": "/pcm", "type": "c", "major": 116, "minor": 2, "fileMode": 0o660, "uid": 0, "gid": 29}]
        raise FileNotFoundError(2, "No such file or directory")
    host = HostInfo(**{**HOST.__dict__, "lookup_device": lookup})
    s = spec(host=host, host_config={"Devices": [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/snd", "PathInContainer": "/dev/sound", "CgroupPermissions": "rw"}]})
    assert [d["path"] for d in s["linux"]["devices"]] == ["/dev/fuse", "/dev/sound/pcm"]
    # appended after the defaults, so the user's /dev/fuse wins over Docker's deny rule
    assert s["linux"]["resources"]["devices"][-2:] == [
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": True, "type": "c", "major": 116, "minor": 2, "access": "rw"}]
    with pytest.raises(InvalidParameter, match='adding custom device "/dev/nope": no such file or directory'):
        spec(host=host, host_config={"Devices": [{"PathOnHost": "/dev/nope"}]})
    bad("invalid device mode: rwx", {"Devices": [{"PathOnHost": "/dev/fuse", "CgroupPermissions": "rwx"}]})


def test_oom_score_and_annotations():
    s = spec(host_config={"OomScoreAdj": 500, "Annotations": {"a": "b"}})
    assert s["process"]["oomScoreAdj"] == 500 and s["annotations"] == {"a": "b"}
    assert spec()["process"]["oomScoreAdj"] == 0


# --- namespaces, sysctls --------------------------------------------------------------------------------

def ns(s):
    return {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}


def test_namespaces():
    assert ns(spec()) == {"mount": None, "network": "/run/netns/x", "uts": None, "pid": None, "ipc": None,
                          "cgroup": None}
    v1 = HostInfo(**{**HOST.__dict__, "cgroup_v2": False})
    assert "cgroup" not in ns(spec(host=v1))
    assert "cgroup" in ns(spec(host=v1, host_config={"CgroupnsMode": "private"}))
    assert "cgroup" not in ns(spec(host_config={"CgroupnsMode": "host"}))
    assert set(ns(spec(netns=None, host_config={"NetworkMode": "host", "PidMode": "host", "IpcMode": "host"}))) \
        == {"mount", "uts", "cgroup"}
    assert ns(spec(netns=None, config={"NetworkDisabled": True}))["network"] is None
    # PidMode container:<ref>: the running donor's PID namespace, by its PID
    assert ns(spec(host_config={"PidMode": "container:abc"}, joined={"pid": 4242}))["pid"] == "/proc/4242/ns/pid"
    assert ns(spec(host_config={"IpcMode": "container:abc"}, joined={"ipc": 4242}))["ipc"] == "/proc/4242/ns/ipc"


def test_shared_shm_is_a_bind():
    """IpcMode shareable/container:<ref>: the host's shm dir replaces the private tmpfs, unless a user mount is there."""
    shm = [m for m in spec(host_config={"IpcMode": "shareable", "ReadonlyRootfs": True},
                           shm_path="/var/lib/x/shm")["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/var/lib/x/shm",
                    "options": ["rbind", "rprivate"]}]
    user = [m for m in spec(host_config={"Tmpfs": {"/dev/shm": ""}}, shm_path="/var/lib/x/shm")["mounts"]
            if m["destination"] == "/dev/shm"]
    assert [m["type"] for m in user] == ["tmpfs"]


def test_sysctls():
    s = spec(host_config={"Sysctls": {"net.ipv4.ip_forward": "1", "net.ipv4.ip_unprivileged_port_start": "1024"}})
    assert s["linux"]["sysctl"] == {"net.ipv4.ping_group_range": "0 2147483647",
                                    "net.ipv4.ip_unprivileged_port_start": "1024", "net.ipv4.ip_forward": "1"}
    assert "sysctl" not in spec(netns=None, host_config={"NetworkMode": "host"})["linux"]
    bad("sysctl 'kernel.panic=1' is not allowed", {"Sysctls": {"kernel.panic": "1"}})
    bad('sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
        {"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}})
    validate_host_config({"Sysctls": {"kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}}, host=HOST)


# --- mounts --------------------------------------------------------------------------------------------

ETC = {"/etc/resolv.conf": "/c/resolv.conf", "/etc/hostname": "/c/hostname", "/etc/hosts": "/c/hosts"}


def test_default_mounts_and_network_files():
    s = spec(etc_files=ETC)
    assert [m["destination"] for m in s["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
        "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]
    by = {m["destination"]: m for m in s["mounts"]}
    assert by["/dev/shm"]["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    assert by["/sys/fs/cgroup"] == {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                    "options": ["ro", "nosuid", "noexec", "nodev"]}
    assert by["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": "/c/hosts",
                                "options": ["rbind", "rprivate"]}
    assert s["linux"]["maskedPaths"][2] == "/proc/kcore" and "/proc/sys" in s["linux"]["readonlyPaths"]


def test_shm_size_ipc_none_and_readonly_rootfs():
    by = {m["destination"]: m for m in spec(host_config={"ShmSize": 1 << 20})["mounts"]}
    assert by["/dev/shm"]["options"][-1] == "size=1048576"
    assert "/dev/shm" not in [m["destination"] for m in spec(host_config={"IpcMode": "none"})["mounts"]]
    s = spec(host_config={"ReadonlyRootfs": True}, etc_files=ETC)
    assert s["root"] == {"path": "/nonexistent-rootfs", "readonly": True}
    by = {m["destination"]: m for m in s["mounts"]}
    assert by["/etc/hosts"]["options"] == ["rbind", "ro", "rprivate"]
    assert "ro" not in by["/dev/shm"]["options"] and "ro" not in by["/proc"]["options"]


def test_masked_and_readonly_paths_from_host_config():
    s = spec(host_config={"MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"]})
    assert "maskedPaths" not in s["linux"] and s["linux"]["readonlyPaths"] == ["/proc/sys"]


def test_binds_and_tmpfs():
    s = spec(etc_files=ETC, host_config={
        "Binds": ["/srv/data:/data:ro", "/a/b:/x/y/z", "/s:/shared:rshared"],
        "Tmpfs": {"/run": "", "/tmp": "rw,exec,size=1m", "/dev/shm": "size=2m"}})
    user = [m for m in s["mounts"] if m["type"] in ("bind", "tmpfs") and m["source"] not in ("tmpfs", "shm")
            or m["destination"] in ("/run", "/tmp")]
    by = {m["destination"]: m for m in s["mounts"]}
    assert by["/data"] == {"destination": "/data", "type": "bind", "source": "/srv/data",
                           "options": ["rbind", "ro", "rprivate"]}
    assert by["/x/y/z"]["options"] == ["rbind", "rprivate"]
    assert by["/shared"]["options"] == ["rbind", "rshared"] and s["linux"]["rootfsPropagation"] == "shared"
    assert by["/run"]["options"] == ["noexec", "nosuid", "nodev", "rprivate"]
    assert by["/tmp"]["options"] == ["nosuid", "nodev", "rprivate", "rw", "exec", "size=1m"]
    # the user's /dev/shm replaces the default one
    assert [m for m in s["mounts"] if m["destination"] == "/dev/shm"] == [
        {"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate", "size=2m"]}]
    # user mounts come after the defaults, shallowest first
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.index("/data") < dests.index("/etc/hosts") < dests.index("/x/y/z")
    assert user


def test_read_only_binds_recursive_where_supported():
    """Docker 25+: read-only binds get "rro" when kernel and runtime can, "ro" when not or when asked."""
    def mount(ro_opts=None, non_recursive=False):
        return {"Type": "bind", "Source": "/m", "Target": "/m", "ReadOnly": True,
                "BindOptions": {**(ro_opts or {}), **({"NonRecursive": True} if non_recursive else {})}}

    hc = {"Binds": ["/b:/b:ro", "/w:/w"], "Mounts": [
        mount(), {**mount({"ReadOnlyNonRecursive": True}), "Target": "/n"},
        {**mount({"ReadOnlyForceRecursive": True}), "Target": "/f"}, {**mount(non_recursive=True), "Target": "/nr"}]}
    calls = []
    able = HostInfo(**{**HOST.__dict__, "rro_error": lambda: calls.append(1) or ""})
    by = {m["destination"]: m["options"] for m in spec(host_config=hc, host=able)["mounts"]}
    assert by["/b"] == by["/m"] == by["/f"] == ["rbind", "rro", "rprivate"]
    assert by["/n"] == ["rbind", "ro", "rprivate"] and by["/w"] == ["rbind", "rprivate"]
    assert by["/nr"] == ["bind", "rro", "rprivate"]
    # --read-only: the network files are read-only binds too
    by = {m["destination"]: m["options"] for m in spec(etc_files=ETC, host_config={"ReadonlyRootfs": True},
                                                      host=able)["mounts"]}
    assert by["/etc/hosts"] == ["rbind", "rro", "rprivate"]
    unable = HostInfo(**{**HOST.__dict__, "rro_error": lambda: 'rro is not supported by runtime "crun"'})
    with pytest.raises(rro.Unsupported) as e:
        spec(host_config=hc, host=unable)
    assert e.value.message == 'rro is not supported by runtime "crun"' and e.value.status == 500
    del hc["Mounts"][2]
    by = {m["destination"]: m["options"] for m in spec(host_config=hc, host=unable)["mounts"]}
    assert by["/b"] == by["/m"] == by["/n"] == ["rbind", "ro", "rprivate"] and by["/nr"] == ["bind", "ro", "rprivate"]
    calls.clear()
    spec(host_config={"Binds": ["/w:/w"]}, host=able)
    assert calls == []  # no read-only bind: the runtime is not asked


def test_legacy_read_only_binds_stay_non_recursive():
    """A container of an API < 1.44 client: read-only host binds (not volumes) as Docker 24 made them."""
    hc = {"Binds": ["/h:/h:ro,rslave", "/w:/w", "vol:/v:ro"],
          "Mounts": [{"Type": "bind", "Source": "/m", "Target": "/m", "ReadOnly": True},
                     {"Type": "tmpfs", "Target": "/t"}]}
    out = legacy_read_only(hc)
    assert out["Binds"] == ["/w:/w", "vol:/v:ro"] and hc["Mounts"][0] == {
        "Type": "bind", "Source": "/m", "Target": "/m", "ReadOnly": True}  # the stored HostConfig untouched
    assert out["Mounts"] == [
        {"Type": "bind", "Source": "/h", "Target": "/h", "ReadOnly": True,
         "BindOptions": {"Propagation": "rslave", "CreateMountpoint": True, "ReadOnlyNonRecursive": True}},
        {"Type": "bind", "Source": "/m", "Target": "/m", "ReadOnly": True,
         "BindOptions": {"ReadOnlyNonRecursive": True}},
        {"Type": "tmpfs", "Target": "/t"}]
    able = HostInfo(**{**HOST.__dict__, "rro_error": lambda: ""})
    by = {m["destination"]: m["options"] for m in spec(host_config={**out, "Binds": ["/w:/w"]}, host=able)["mounts"]}
    assert by["/h"] == ["rbind", "ro", "rslave"] and by["/m"] == ["rbind", "ro", "rprivate"]


def test_tmpfs_option_merge():
    assert merge_tmpfs_options(["noexec", "ro", "exec", "size=1", "size=2", "defaults"]) == ["ro", "exec", "size=2"]
    with pytest.raises(InvalidParameter, match="invalid tmpfs option"):
        merge_tmpfs_options(["bogus"])


# --- validation ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hc,message", [
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20},
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"MemorySwap": 32 << 20}, "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"MemoryReservation": 1}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 8 << 20, "MemoryReservation": 16 << 20},
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"NanoCpus": 10**9, "CpuPeriod": 100000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": 5 * 10**9}, "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "0-7"}, "Requested CPUs are not available - requested 0-7, available: 0-3"),
    ({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus: invalid format: a"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
    ({"IpcMode": "weird"}, "invalid IPC mode: weird"),
    ({"PidMode": "container:"}, "invalid PID mode: container:"),
    ({"UTSMode": "x"}, "invalid UTS mode: x"),
    ({"CgroupnsMode": "x"}, "invalid cgroup namespace mode: x"),
    ({"RestartPolicy": {"Name": "sometimes"}},
     "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
    ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}},
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}},
     "invalid restart policy: maximum retry count cannot be negative"),
    ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
     "can't create 'AutoRemove' container with restart policy"),
    ({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "http"}]}}, 'invalid port specification: "http"'),
    ({"PortBindings": {"eighty/tcp": []}}, 'invalid port specification: "eighty"'),
    ({"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}, 'invalid port specification: "99999"'),
    ({"ExtraHosts": ["db:not-an-ip"]}, 'invalid IP address in add-host: "not-an-ip"'),
    ({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]},
     "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
    ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
    ({"Binds": ["/a:relative"]},
     "invalid volume specification: '/a:relative': invalid mount config for type \"bind\": invalid mount path: "
     "'relative' mount path must be absolute"),
    ({"Tmpfs": {"/run": "bogus"}}, 'invalid tmpfs option ["bogus"]'),
    ({"DeviceCgroupRules": ["x 1:2 r"]}, "invalid device cgroup format 'x 1:2 r'"),
    ({"IOMaximumIOps": 5}, "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"),
    ({"Isolation": "hyperv"}, "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
])
def test_validation_messages(hc, message):
    bad(message, hc)


def test_valid_host_configs_pass():
    for hc in ({}, {"Memory": 64 << 20, "MemorySwap": -1}, {"NanoCpus": 2 * 10**9, "CpuShares": 1024},
               {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}, {"HostPort": "8000-8010"}]}},
               {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "MemorySwappiness": -1},
               {"ExtraHosts": ["gw:host-gateway", "v6:::1"], "IpcMode": "container:abc"}):
        validate_host_config(hc, {"WorkingDir": "/x"}, host=HOST)
    bad("the working directory 'rel' is invalid, it needs to be an absolute path", {}, {"WorkingDir": "rel"})


def test_unsupported_options():
    assert unsupported_options({}, {}) == []
    assert unsupported_options({"Binds": ["/h:/c"], "Tmpfs": {"/t": ""}, "Memory": 1 << 30,
                                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "Init": False,
                                "ConsoleSize": [0, 0], "Isolation": "", "UsernsMode": "host",
                                "BlkioWeightDevice": [], "VolumesFrom": None},
                               {"Volumes": {}, "Image": "busybox"}) == []
    got = unsupported_options({"Binds": ["vol:/c", "/h:/c"], "VolumesFrom": ["other"], "Init": True,
                               "IpcMode": "shareable", "NetworkMode": "container:x",
                               "Devices": [{"PathOnHost": "/dev/fuse"}], "StorageOpt": {"size": "1G"}, "SomethingNew": 1,
                               "SecurityOpt": ["apparmor=docker-default", "no-new-privileges", "label=disable"]},
                              {"Volumes": {"/data": {}}})
    assert got == ["HostConfig.StorageOpt",
                   "HostConfig.SomethingNew", "HostConfig.SecurityOpt=apparmor=docker-default"]


CLI_HOST_CONFIG = json.loads("""{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,
"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[24,80],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],
"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,
"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,
"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"",
"BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],
"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"",
"CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,
"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,
"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null}""")
CLI_CONFIG = json.loads("""{"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,
"AttachStderr":true,"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":[],"Cmd":null,"Image":"busybox",
"Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{}}""")


def test_docker_cli_default_body_is_supported_and_valid(rootfs):
    """What `docker run -it busybox` sends: nothing refused, nothing invalid."""
    assert unsupported_options(CLI_HOST_CONFIG, CLI_CONFIG) == []
    validate_host_config(CLI_HOST_CONFIG, CLI_CONFIG, host=HOST)
    s = spec(rootfs, config=CLI_CONFIG, host_config=CLI_HOST_CONFIG, image_config={"config": {"Cmd": ["sh"]}})
    assert s["process"]["consoleSize"] == {"height": 24, "width": 80} and s["process"]["args"] == ["sh"]


def test_options_table_covers_the_api():
    """Every field of HostConfig/Resources/ContainerConfig in the v1.47 swagger has a row."""
    yaml = pytest.importorskip("yaml")
    path = "/work/shared/api/engine-v1.47.yaml"
    if not os.path.exists(path):
        pytest.skip("no swagger")
    with open(path) as f:
        defs = yaml.safe_load(f)["definitions"]
    fields = {}
    for name, section in (("Resources", "HostConfig"), ("HostConfig", "HostConfig"), ("ContainerConfig", "Config")):
        d = defs[name]
        for part in d.get("allOf", [d]):
            for prop in part.get("properties", {}):
                fields[f"{section}.{prop}"] = True
    assert sorted(set(fields) - set(OPTIONS)) == []


# --- end to end with runc ------------------------------------------------------------------------------

RUNC = shutil.which("runc")
needs_runc = pytest.mark.skipif(not RUNC or os.geteuid() != 0, reason="needs root and runc")


@pytest.fixture
def netns():
    name = f"dpytest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _remove_cgroup_parent(parent: str) -> None:
    for base in ("/sys/fs/cgroup", *(e.path for e in os.scandir("/sys/fs/cgroup") if e.is_dir())):
        d = base + parent
        if os.path.isdir(d):
            for sub in sorted((os.path.join(r, n) for r, ds, _ in os.walk(d, topdown=False) for n in ds),
                              reverse=True):
                os.rmdir(sub)
            os.rmdir(d)


def test_real_device_lookup():
    from dockerd_py.oci.host import _lookup_device
    [null] = _lookup_device("/dev/null")
    assert (null["path"], null["type"], null["major"], null["minor"]) == ("", "c", 1, 3)
    with pytest.raises(ValueError):
        _lookup_device("/etc/hostname")


def run_container(tmp_path, netns_path, config, host_config=None):
    """Build a bundle, `runc run` it in the foreground, return (exit code, stdout, stderr)."""
    cid = "dpytest" + uuid.uuid4().hex
    bundle = tmp_path / f"bundle-{cid[:12]}"
    rootfs = make_rootfs(str(bundle / "rootfs"))
    files = {}
    for name, text in (("resolv.conf", "nameserver 127.0.0.1\n"), ("hostname", "ctr\n"),
                       ("hosts", "127.0.0.1\tlocalhost\n")):
        (tmp_path / name).write_text(text)
        files[f"/etc/{name}"] = str(tmp_path / name)
    parent = f"/dpytest-{cid[7:19]}"
    spec = build_spec(container_id=cid, config=config, host_config=host_config or {},
                      image_config={"config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}},
                      rootfs=rootfs, etc_files=files, netns_path=netns_path, cgroups_path=f"{parent}/{cid}")
    (bundle / "config.json").write_text(json.dumps(spec))
    root = tmp_path / "runc-root"
    try:
        p = subprocess.run([RUNC, "--root", str(root), "run", "--bundle", str(bundle), cid],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([RUNC, "--root", str(root), "delete", "--force", cid], capture_output=True)
        _remove_cgroup_parent(parent)
    return p.returncode, p.stdout, p.stderr


SCRIPT = r"""
grep CapEff /proc/self/status
echo "hostname=$(hostname)"
if [ -e /proc/kcore ]; then echo "kcore=$(wc -c < /proc/kcore)"; else echo kcore=absent; fi
echo "firmware=$(ls -A /sys/firmware | wc -l)"
grep -E ' /proc/sys | /dev/shm | /proc/keys | /proc/timer_list ' /proc/mounts
if echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; then echo procsys=rw; else echo procsys=ro; fi
if unshare -U true 2>/dev/null; then echo unshareU=ok; else echo unshareU=fail; fi
if unshare -m true 2>/dev/null; then echo unsharem=ok; else echo unsharem=fail; fi
echo "env=$HOSTNAME,$PATH"
"""


@needs_runc
def test_runc_runs_docker_default_spec(tmp_path, netns):
    code, out, err = run_container(tmp_path, netns, {"Cmd": ["sh", "-c", SCRIPT], "Hostname": "dpy-e2e"})
    assert code == 0, err
    lines = out.splitlines()
    assert f"CapEff:\t{DOCKER_DEFAULT_CAPS:016x}" in lines
    assert "hostname=dpy-e2e" in lines
    # /proc/kcore is a /dev/null bind (some kernels have no /proc/kcore at all)
    assert ("kcore=0" if os.path.exists("/proc/kcore") else "kcore=absent") in lines
    assert "firmware=0" in lines                                    # masked directory: empty tmpfs
    assert any(" /proc/keys " in ln for ln in lines) and any(" /proc/timer_list " in ln for ln in lines)
    procsys = [ln for ln in lines if " /proc/sys " in ln][0].split()
    assert procsys[3].split(",")[0] == "ro"
    assert "procsys=ro" in lines
    shm = [ln for ln in lines if " /dev/shm " in ln][0]
    assert "size=65536k" in shm
    assert "unshareU=fail" in lines and "unsharem=fail" in lines
    assert "env=dpy-e2e,/usr/sbin:/usr/bin:/sbin:/bin" in lines


@needs_runc
def test_runc_user_nobody_and_resources(tmp_path, netns):
    script = ("id -u; id -g; id -G; ulimit -n; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
              "cat /sys/fs/cgroup/pids.max; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
              "cat /sys/fs/cgroup/memory.max; grep ' /dev/shm ' /proc/mounts")
    code, out, err = run_container(
        tmp_path, netns, {"Cmd": ["sh", "-c", script], "User": "nobody"},
        {"PidsLimit": 64, "Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 1024}], "ShmSize": 1 << 20,
         "Memory": 64 << 20})
    assert code == 0, err
    assert out.split()[:6] == ["65534", "65534", "65534", "512", "64", str(64 << 20)]
    assert "size=1024k" in out.splitlines()[6]


@needs_runc
def test_runc_unconfined_can_unshare_with_sys_admin(tmp_path):
    code, out, err = run_container(tmp_path, None, {"Cmd": ["unshare", "-m", "true"]},
                                   {"CapAdd": ["SYS_ADMIN"], "NetworkMode": "host"})
    assert code == 0, err


@needs_runc
def test_runc_binds_tmpfs_and_readonly_rootfs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("from-host\n")
    script = ("cat /data/f; touch /data/g 2>/dev/null && echo data=rw || echo data=ro; "
              "touch /root/x 2>/dev/null && echo root=rw || echo root=ro; "
              "touch /run/ok && echo run=rw; grep ' /run ' /proc/mounts")
    code, out, err = run_container(tmp_path, None, {"Cmd": ["sh", "-c", script]},
                                   {"NetworkMode": "host", "ReadonlyRootfs": True, "Binds": [f"{data}:/data:ro"],
                                    "Tmpfs": {"/run": "size=1m"}})
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:4] == ["from-host", "data=ro", "root=ro", "run=rw"]
    assert "size=1024k" in lines[4] and "noexec" in lines[4]


@needs_runc
def test_runc_privileged(tmp_path):
    code, out, err = run_container(tmp_path, None, {"Cmd": ["sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status; "
                                                           "ls /dev/null /dev/zero; grep ' /sys ' /proc/mounts"]},
                                   {"Privileged": True, "NetworkMode": "host"})
    assert code == 0, err
    lines = out.splitlines()
    ours = [ln for ln in open("/proc/self/status").read().splitlines() if ln.startswith("CapBnd:")][0]
    assert lines[0] == "CapEff:" + ours.split(":")[1]                 # everything we hold ourselves
    assert lines[1] == "Seccomp:\t0"
    assert lines[4].split()[3].startswith("rw,")
