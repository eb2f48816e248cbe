"""Process identity and confinement: user, caps, rlimits, env/cwd, seccomp."""

from __future__ import annotations

import json
import os
import platform

from conftest import run_in

DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
               "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
               "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
CAP_NUM = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
           "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
           "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27,
           "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31}


def _mask(names):
    return f"{sum(1 << CAP_NUM[n] for n in names):016x}"


def _status(text):
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_docker_default_capabilities(rt, bundle):
    bundle.spec["process"]["capabilities"] = {k: DOCKER_CAPS for k in ("bounding", "effective", "permitted")}
    bundle.spec["process"]["noNewPrivileges"] = False
    res = run_in(rt, bundle, "cat /proc/self/status")
    st = _status(res.stdout)
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == _mask(DOCKER_CAPS)
    assert st["CapInh"] == st["CapAmb"] == "0" * 16
    assert st["NoNewPrivs"] == "0"


def test_ambient_and_no_new_privs(rt, bundle):
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    bundle.spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted",
                                                                 "inheritable", "ambient")}
    bundle.spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    res = run_in(rt, bundle, "cat /proc/self/status")
    st = _status(res.stdout)
    assert st["CapAmb"] == st["CapEff"] == st["CapBnd"] == _mask(caps)
    assert st["NoNewPrivs"] == "1"


def test_user_groups_umask(rt, bundle):
    bundle.spec["process"]["user"] = {"uid": 65534, "gid": 65534, "additionalGids": [5, 7], "umask": 0o077}
    res = run_in(rt, bundle, "id -u; id -g; id -G; umask; echo $HOME; cat /proc/self/status | grep CapEff")
    lines = res.stdout.splitlines()
    assert lines[:3] == ["65534", "65534", "65534 5 7"] or lines[:3] == ["65534", "65534", "5 7"]
    assert lines[3] == "0077"
    assert lines[4] == "/nonexistent"


def test_env_cwd_rlimits(rt, bundle):
    bundle.spec["process"]["env"].append("FOO=bar baz")
    bundle.spec["process"]["cwd"] = "/tmp"
    bundle.spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256},
                                         {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]
    res = run_in(rt, bundle, "echo \"$FOO\"; pwd; ulimit -n; ulimit -Hn; ulimit -c; echo $HOME")
    assert res.stdout.splitlines() == ["bar baz", "/tmp", "256", "512", "0", "/root"]


def test_oom_score_adj(rt, bundle):
    bundle.spec["process"]["oomScoreAdj"] = 500
    res = run_in(rt, bundle, "cat /proc/self/oom_score_adj")
    assert res.stdout.strip() == "500"


def test_signals_default_in_container(rt, bundle):
    """Python ignores SIGPIPE; the container process must not inherit that."""
    res = run_in(rt, bundle, "grep SigIgn /proc/self/status")
    assert not int(res.stdout.split()[1], 16) & (1 << (13 - 1) | 1 << (25 - 1))  # SIGPIPE, SIGXFSZ


def _small_profile():
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                         {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]}]}


def test_seccomp_small_profile(rt, bundle):
    bundle.spec["linux"]["seccomp"] = _small_profile()
    res = run_in(rt, bundle, "mkdir /tmp/x; echo rc=$?; touch /dev/shm/f; chmod 777 /dev/shm/f; echo rc=$?;"
                             " chmod 700 /dev/shm/f; echo rc=$?; grep Seccomp: /proc/self/status")
    out = res.stdout + res.stderr
    assert "rc=1" in res.stdout.splitlines()[0]
    assert "Operation not permitted" in out
    assert res.stdout.splitlines()[1:] == ["rc=1", "rc=0", "Seccomp:\t2"]


def test_seccomp_without_no_new_privs(rt, bundle):
    bundle.spec["linux"]["seccomp"] = _small_profile()
    bundle.spec["process"]["noNewPrivileges"] = False
    res = run_in(rt, bundle, "mkdir /tmp/x; echo rc=$?; grep NoNewPrivs /proc/self/status")
    assert res.stdout.split() == ["rc=1", "NoNewPrivs:", "0"]


def translate_moby_profile(profile: dict, bounding: list[str]) -> dict:
    """moby's seccomp format -> OCI linux.seccomp (DEFAULTS.md §6), for amd64."""
    native = "SCMP_ARCH_X86_64"
    arches = []
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            arches = [native, *entry.get("subArchitectures", [])]
    kernel = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])

    def kver(text):
        return tuple(int(x) for x in text.split(".")[:2])

    calls = []
    for group in profile["syscalls"]:
        exc, inc = group.get("excludes") or {}, group.get("includes") or {}
        if "amd64" in (exc.get("arches") or []) or any(c in bounding for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kver(exc["minKernel"]) <= kernel:
            continue
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if any(c not in bounding for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and kver(inc["minKernel"]) > kernel:
            continue
        call = {"names": group.get("names") or [group["name"]], "action": group["action"]}
        for key in ("args", "errnoRet"):
            if group.get(key) is not None:
                call[key] = group[key]
        calls.append(call)
    out = {"defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": calls}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out


def test_seccomp_docker_default_blocks_unshare(rt, bundle):
    path = "/work/shared/api/seccomp-default.json"
    if not os.path.exists(path):
        import pytest
        pytest.skip("moby profile not available")
    with open(path) as f:
        profile = json.load(f)
    bundle.spec["process"]["capabilities"] = {k: DOCKER_CAPS for k in ("bounding", "effective", "permitted")}
    bundle.spec["process"]["noNewPrivileges"] = False
    bundle.spec["linux"]["seccomp"] = translate_moby_profile(profile, DOCKER_CAPS)
    res = run_in(rt, bundle, "unshare -n true; echo rc=$?; ls / > /dev/null && echo ls-ok; grep Seccomp: /proc/self/status")
    assert "Operation not permitted" in res.stderr
    assert res.stdout.splitlines() == ["rc=1", "ls-ok", "Seccomp:\t2"]
