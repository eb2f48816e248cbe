"""cgroup v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup.

v2 has no devices.allow: the kernel asks the cgroup's eBPF programs instead. As runc,
the OCI rule list is first reduced the way the v1 devices controller would apply it
(``reduce``: an "a" rule sets the default verdict and drops every exception, a rule
with the default verdict takes access bits away from the exception of exactly that
device, any other rule adds access bits to it), then each exception becomes one
block of the program (``assemble``) and a miss returns the default verdict.

The program reads ``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor}``
where access_type = access << 16 | type.
"""

from __future__ import annotations

import os
import struct

from ..errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..linux.syscalls import Syscalls

WILDCARD = -1
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_ALL = 7

# bpf(2)
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# the few eBPF opcodes the program needs
_LDXW = 0x61      # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54   # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K
_MOV32_X = 0xBC   # BPF_ALU | BPF_MOV | BPF_X
_MOV64_K = 0xB7   # BPF_ALU64 | BPF_MOV | BPF_K
_JNE_K = 0x55     # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5D     # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95      # BPF_JMP | BPF_EXIT

class Rules:
    """The v1 devices controller's state: a default verdict and exceptions to it."""

    def __init__(self) -> None:
        self.default_allow = False  # a new v1 cgroup as runc builds it: an allow-list
        self.exceptions: dict[tuple[str, int, int], int] = {}

    def apply(self, rule: dict[str, Any]) -> None:
        kind = rule.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise ConfigError(f"cannot add rule with non-cgroup type {kind!r}")
        allow = bool(rule.get("allow"))
        if kind == "a":
            self.default_allow, self.exceptions = allow, {}
            return
        key = (kind, _num(rule.get("major")), _num(rule.get("minor")))
        access = access_bits(rule.get("access") or "rwm")
        if allow != self.default_allow:
            self.exceptions[key] = self.exceptions.get(key, 0) | access
            return
        for partial in ((kind, WILDCARD, key[2]), (kind, key[1], WILDCARD), (kind, WILDCARD, WILDCARD)):
            if partial != key and self.exceptions.get(partial, 0) & access:
                raise ConfigError(f"requested rule {_text(key, access)} not supported by devices cgroupv1 "
                                 f"(cannot punch hole in existing wildcard rule {_text(partial, self.exceptions[partial])})")
        left = self.exceptions.get(key, 0) & ~access
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)


def _num(value: Any) -> int:
    return WILDCARD if value is None or value == WILDCARD else int(value)


def access_bits(text: str) -> int:
    bits = 0
    for ch in text:
        if ch not in _ACCESS:
            raise ConfigError(f"invalid device access {text!r}")
        bits |= _ACCESS[ch]
    return bits


def _text(key: tuple[str, int, int], access: int) -> str:
    major, minor = ("*" if n == WILDCARD else str(n) for n in key[1:])
    return f"{key[0]} {major}:{minor} {''.join(c for c in 'rwm' if access & _ACCESS[c])}"


def parse_rule(text: str) -> dict[str, Any]:
    """A devices.allow line ("c 1:3 rwm", "c *:* m") as an OCI allow rule."""
    kind, numbers, access = text.split()
    major, minor = (None if n == "*" else int(n) for n in numbers.split(":"))
    return {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}


def reduce(rules: list[dict[str, Any]]) -> Rules:
    state = Rules()
    for rule in rules:
        state.apply(rule)
    return state


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def assemble(state: Rules) -> bytes:
    """The program: R2 = type, R3 = access, R4 = major, R5 = minor, then one block per exception."""
    prog = [_insn(_LDXW, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),
            _insn(_LDXW, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),
            _insn(_LDXW, 4, 1, 4), _insn(_LDXW, 5, 1, 8)]
    verdict = 0 if state.default_allow else 1
    for (kind, major, minor), access in sorted(state.exceptions.items()):
        checks: list[tuple[int, int, int, int]] = [(_JNE_K, 2, 0, _TYPES[kind])]  # (code, dst, src, imm)
        if access != _ALL:  # every requested bit must be in the rule: (R3 & access) == R3
            checks += [(_MOV32_X, 1, 3, 0), (_AND32_K, 1, 0, access), (_JNE_X, 1, 3, 0)]
        if major != WILDCARD:
            checks.append((_JNE_K, 4, 0, major))
        if minor != WILDCARD:
            checks.append((_JNE_K, 5, 0, minor))
        block_end = len(checks) + 2  # the checks, then mov r0 + exit
        for i, (code, dst, src, imm) in enumerate(checks):
            jump = block_end - i - 1 if code in (_JNE_K, _JNE_X) else 0
            prog.append(_insn(code, dst, src, jump, imm))
        prog += [_insn(_MOV64_K, 0, imm=verdict), _insn(_EXIT)]
    prog += [_insn(_MOV64_K, 0, imm=1 if state.default_allow else 0), _insn(_EXIT)]
    return b"".join(prog)


def attach(sys: Syscalls, cgroup_dir: str, rules: list[dict[str, Any]]) -> None:
    """Load the program for ``rules`` and attach it to ``cgroup_dir`` (BPF_F_ALLOW_MULTI, as runc)."""
    code = assemble(reduce(rules))
    prog_fd = sys.bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, code, b"Apache")
    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sys.bpf(BPF_PROG_ATTACH, struct.pack("=IIIII", dir_fd, prog_fd, BPF_CGROUP_DEVICE,
                                                 BPF_F_ALLOW_MULTI, 0), "BPF_PROG_ATTACH")
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)  # the cgroup keeps the attached program
