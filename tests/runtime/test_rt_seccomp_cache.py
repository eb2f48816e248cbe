"""Compiled seccomp filters are cached under --root (runtime/linux/seccomp_cache.py):
a cached filter gives the same verdicts as a fresh one, in create and in exec,
and a corrupt or foreign entry is rebuilt, never loaded."""

from __future__ import annotations

import copy
import os
import struct
import zlib

from conftest import reap, run_in
from dockerd_runtime.linux import seccomp_cache

_PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                         {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]}]}
_SCRIPT = ("mkdir /tmp/x 2>/dev/null; echo mkdir=$?; touch /dev/shm/f; chmod 777 /dev/shm/f 2>/dev/null;"
           " echo chmod777=$?; chmod 700 /dev/shm/f; echo chmod700=$?; grep Seccomp: /proc/self/status")
_EXPECTED = ["mkdir=1", "chmod777=1", "chmod700=0", "Seccomp:\t2"]


def _entries(root: str) -> list[str]:
    d = os.path.join(root, seccomp_cache.DIR)
    return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []


def test_same_verdicts_with_cached_filter_in_run_and_exec(rt, bundle):
    """Run twice (ours: compiled, then from the cache) and exec into a running
    container (ours: from the cache), with and without no_new_privs; runc alike."""
    for nnp in (True, False):
        bundle.spec["process"]["noNewPrivileges"] = nnp
        bundle.spec["linux"]["seccomp"] = copy.deepcopy(_PROFILE)
        for _ in range(2):
            res = run_in(rt, bundle, _SCRIPT)
            assert res.returncode == 0, res.stderr
            assert res.stdout.splitlines() == _EXPECTED
        cid = rt.new_id()
        bundle.args("sleep", "100").write(cid)
        rt.ok("run", "-d", "--bundle", bundle.path, cid)
        res = rt.cmd("exec", cid, "sh", "-c", _SCRIPT)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines() == _EXPECTED
        rt.ok("delete", "--force", cid)
        reap()
    if rt.name == "ours":
        assert len(_entries(rt.root)) == 1  # one per distinct profile (nnp is not part of the key)


def test_corrupt_or_foreign_entry_is_rebuilt(ours, bundle):
    allow_all = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}
    bundle.spec["linux"]["seccomp"] = allow_all
    assert run_in(ours, bundle, "true").returncode == 0
    [foreign] = _entries(ours.root)
    bundle.spec["linux"]["seccomp"] = copy.deepcopy(_PROFILE)
    assert run_in(ours, bundle, _SCRIPT).stdout.splitlines() == _EXPECTED
    [entry] = [p for p in _entries(ours.root) if p != foreign]
    good = open(entry, "rb").read()
    other = open(foreign, "rb").read()
    flipped = bytearray(good)
    flipped[-3] ^= 0xFF  # inside the BPF: CRC mismatch
    for bad in (other, good[:-8], bytes(flipped), b"", b"XXXXXXXX" + good[8:], good + b"\0" * 8):
        with open(entry, "wb") as f:
            f.write(bad)
        res = run_in(ours, bundle, _SCRIPT)
        assert res.stdout.splitlines() == _EXPECTED, (bad[:16], res.stderr)
        assert open(entry, "rb").read() == good  # rebuilt and rewritten


def test_parse_validates_entry():
    key = b"v1\0x86_64\0k"
    bpf = bytes.fromhex("2000000004000000") + b"\x06\x00\x00\x00\x00\x00\xff\x7f"
    entry = seccomp_cache.MAGIC + struct.pack("<III", len(key), len(bpf), zlib.crc32(bpf)) + key + bpf
    assert seccomp_cache.parse(entry, key) == bpf
    assert seccomp_cache.parse(entry, key + b"x") is None  # another profile's entry
    assert seccomp_cache.parse(entry[:-1], key) is None
    odd = seccomp_cache.MAGIC + struct.pack("<III", len(key), 7, zlib.crc32(bpf[:7])) + key + bpf[:7]
    assert seccomp_cache.parse(odd, key) is None  # not whole instructions
    nold = bpf[8:] + bpf[:8]
    wrong_start = seccomp_cache.MAGIC + struct.pack("<III", len(key), len(nold), zlib.crc32(nold)) + key + nold
    assert seccomp_cache.parse(wrong_start, key) is None  # does not start with libseccomp's arch load


def test_unwritable_cache_still_runs(ours, bundle):
    """A cache that cannot be written (a file where the directory should be) is only slower."""
    os.makedirs(ours.root, exist_ok=True)
    open(os.path.join(ours.root, seccomp_cache.DIR), "w").close()
    bundle.spec["linux"]["seccomp"] = copy.deepcopy(_PROFILE)
    res = run_in(ours, bundle, _SCRIPT)
    assert res.stdout.splitlines() == _EXPECTED, res.stderr
    os.unlink(os.path.join(ours.root, seccomp_cache.DIR))
