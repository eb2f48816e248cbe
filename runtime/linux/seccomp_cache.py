"""Compiled seccomp filters cached on disk, under the runtime's --root.

libseccomp needs ~12 ms to build Docker's default profile (3 architectures,
~1000 instructions); every container and every exec of a Docker container
uses the same few profiles. An entry is keyed by everything the BPF depends
on (profile JSON, machine, kernel, libseccomp version) and holds that key in
full, so a hash collision, a foreign or a corrupt file is detected and the
filter rebuilt; it is never trusted blindly. Entries are written atomically.

Entry: MAGIC, key length, BPF length, CRC-32 of the BPF (<III), key, BPF.
"""

from __future__ import annotations

import os
import struct
import zlib

from .. import jsonio
from ..state import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DIR = "@seccomp"  # "@" is not allowed in a container id: no clash with <root>/<id>
MAGIC = b"DPRSECC1"
_HEADER = struct.Struct("<III")
_BPF_MAXINSNS = 4096
# libseccomp's programs start with "ld [4]" (load seccomp_data.arch).
_FIRST_INSN = struct.pack("<HBBI", 0x20, 0, 0, 4)
MAX_ENTRIES = 64  # a full directory is emptied before the next write


def key(config: dict[str, Any], lib_version: str) -> bytes:
    """Everything the compiled filter depends on."""
    u = os.uname()
    return "\0".join(("v1", u.machine, u.release, lib_version, jsonio.dumps(config))).encode()


def path(root: str, k: bytes) -> str:
    return os.path.join(root, DIR, f"{zlib.crc32(k):08x}{zlib.adler32(k):08x}.bpf")


def get(root: str, k: bytes) -> bytes | None:
    """The cached BPF for key ``k``, or None (absent, foreign or corrupt)."""
    try:
        with open(path(root, k), "rb") as f:
            data = f.read()
    except OSError:
        return None
    return parse(data, k)


def parse(data: bytes, k: bytes) -> bytes | None:
    head = len(MAGIC) + _HEADER.size
    if len(data) < head or not data.startswith(MAGIC):
        return None
    klen, blen, crc = _HEADER.unpack_from(data, len(MAGIC))
    if len(data) != head + klen + blen or data[head:head + klen] != k:
        return None
    bpf = data[head + klen:]
    if not blen or blen % 8 or blen // 8 > _BPF_MAXINSNS or zlib.crc32(bpf) != crc \
            or not bpf.startswith(_FIRST_INSN):
        return None
    return bpf


def put(root: str, k: bytes, bpf: bytes) -> None:
    """Store, best effort: a cache that cannot be written is only slower."""
    directory = os.path.join(root, DIR)
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        names = os.listdir(directory)
        if len(names) >= MAX_ENTRIES:
            for name in names:
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass
        write_atomic(path(root, k), MAGIC + _HEADER.pack(len(k), len(bpf), zlib.crc32(bpf)) + k + bpf)
    except OSError:
        pass
