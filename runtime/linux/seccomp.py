"""OCI linux.seccomp -> a BPF filter, compiled by libseccomp (or taken from the
cache, seccomp_cache.py) before fork, and installed by the child as late as
possible with one prctl: the child needs neither libseccomp nor the profile."""

from __future__ import annotations

import ctypes
import errno as _errno
import os

from .syscalls import ScmpArgCmp, Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_FLTATR_CTL_NNP = 3
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_ARCH_NAMES = {"SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
               "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
               "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
               "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
               "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc",
               "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390",
               "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_RISCV64": "riscv64"}


def action(name: str, errno_ret: int | None, default_errno: int | None = None) -> int:
    """OCI action name -> libseccomp action value."""
    if name == "SCMP_ACT_ERRNO":
        ret = errno_ret if errno_ret is not None else (default_errno if default_errno is not None else _errno.EPERM)
        return 0x00050000 | (ret & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        ret = errno_ret if errno_ret is not None else _errno.EPERM
        return 0x7FF00000 | (ret & 0xFFFF)
    return {"SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0, "SCMP_ACT_KILL_PROCESS": 0x80000000,
            "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_LOG": 0x7FFC0000,
            "SCMP_ACT_ALLOW": 0x7FFF0000}[name]


class Program:
    """A compiled filter (classic BPF) and the struct sock_fprog that points at it,
    built before fork: the child only makes one prctl."""

    def __init__(self, bpf: bytes) -> None:
        self.buf = ctypes.create_string_buffer(bpf, len(bpf))
        self.fprog = _SockFprog(len(bpf) // 8, ctypes.cast(self.buf, ctypes.c_void_p))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def prepare(sys: Syscalls, config: dict[str, Any], cache_root: str | None) -> Program:
    """The filter for ``config``, from the cache under ``cache_root`` (the runtime's
    --root) when a valid entry is there, else compiled by libseccomp and cached."""
    if cache_root is None:
        return Program(compile_bpf(sys, config))
    from . import seccomp_cache
    key = seccomp_cache.key(config, _lib_version(sys))
    bpf = seccomp_cache.get(cache_root, key)
    if bpf is None:
        bpf = compile_bpf(sys, config)
        seccomp_cache.put(cache_root, key, bpf)
    return Program(bpf)


def install(sys: Syscalls, prog: Program) -> None:
    """Install the filter on the calling thread, as libseccomp's seccomp_load does
    (no flags: no TSYNC, no log; no_new_privs left to the spec)."""
    try:
        sys.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog.fprog))
    except OSError as e:
        raise OSError(e.errno, f"seccomp_load: error {e.errno}") from None


def compile_bpf(sys: Syscalls, config: dict[str, Any]) -> bytes:
    """The filter libseccomp builds for ``config`` on this architecture, as BPF bytes."""
    lib = sys.seccomp_lib()
    default = action(config["defaultAction"], config.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        # no_new_privs is the spec's business (process.noNewPrivileges), not libseccomp's.
        _ok(lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0), "seccomp_attr_set")
        for arch in config.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(_ARCH_NAMES.get(arch, arch.lower()).encode())
            if token == 0:
                raise OSError(f"seccomp: unknown architecture {arch}")
            ret = lib.seccomp_arch_add(ctx, token)
            if ret < 0 and ret != -_errno.EEXIST:
                _ok(ret, f"seccomp_arch_add({arch})")
        for call in config.get("syscalls") or []:
            act = action(call["action"], call.get("errnoRet"))
            if act == default:
                continue  # libseccomp rejects rules equal to the default action
            for name in call.get("names") or []:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:
                    continue  # unknown to this libseccomp/arch: skip, as runc does
                _add_rules(lib, ctx, act, nr, call.get("args") or [], name)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _ok(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def _lib_version(sys: Syscalls) -> str:
    """libseccomp's version: another one may build another filter for the same profile."""
    ver = sys.seccomp_lib().seccomp_version().contents
    return f"{ver[0]}.{ver[1]}.{ver[2]}"


def _add_rules(lib: Any, ctx: int, act: int, nr: int, args: list[dict[str, Any]], name: str) -> None:
    """Conditions on distinct arguments are ANDed in one rule; several conditions on
    the same argument cannot be, so each becomes its own rule (ORed)."""
    conds = [ScmpArgCmp(a["index"], _OPS[a["op"]], a.get("value", 0), a.get("valueTwo", 0)) for a in args]
    if not conds:
        _ok(lib.seccomp_rule_add_array(ctx, act, nr, 0, None), f"seccomp rule {name}")
        return
    groups = [conds] if len({c.arg for c in conds}) == len(conds) else [[c] for c in conds]
    for group in groups:
        arr = (ScmpArgCmp * len(group))(*group)
        _ok(lib.seccomp_rule_add_array(ctx, act, nr, len(group), ctypes.cast(arr, ctypes.c_void_p)),
            f"seccomp rule {name}")


def _ok(ret: int, what: str) -> None:
    if ret < 0:
        raise OSError(-ret, f"{what}: error {-ret}")
