"""The only ctypes boundary of the runtime.

Python 3.11 has no os.unshare/os.setns/mount/pivot_root, so they are called on
libc (and libseccomp) through ctypes here, and nowhere else. Everything that
changes the system goes through a ``Syscalls`` object, so rootfs and namespace
logic can be exercised with ``FakeSyscalls`` (which records calls) without root.
"""

from __future__ import annotations

import ctypes
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# clone(2)/unshare(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# personality(2) execution domains of linux.personality
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}

# mount_setattr(2)
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_OPEN_TREE = 428  # every architecture (new syscall numbering)
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_SYS_BPF = 321  # x86_64
_BPF_PROG_LOAD = 5
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
AT_EMPTY_PATH = 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x100000

# netdevice(7): the interface flags of one device
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class Syscalls:
    """Thin, typed wrappers over libc; each raises OSError with errno."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._seccomp: Any = None

    def _check(self, ret: int, what: str, *paths: str) -> int:
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err).lower()}", *paths[:1])  # Go's wording
        return ret

    # --- mounts -----------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None,
              flags: int = 0, data: str | None = None) -> None:
        ret = self._libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {source or ''}:{target} (via {fstype or 'none'}, "
                               f"flags 0x{flags:x}{', data: ' + data if data else ''}): {os.strerror(err).lower()}")

    def umount2(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(_b(target), flags), f"umount {target}")

    def mount_setattr(self, target: str, attr_set: int, attr_clr: int, recursive: bool = True, *,
                      fd: int = -100, userns_fd: int = 0) -> None:
        """Change the attributes of the mount at target (and of every mount below it);
        with ``fd`` (target ""), of that detached mount."""
        attr = ctypes.create_string_buffer(struct.pack("QQQQ", attr_set, attr_clr, 0, userns_fd), 32)
        flags = (AT_RECURSIVE if recursive else 0) | (AT_EMPTY_PATH if not target else 0)
        ret = self._libc.syscall(_SYS_MOUNT_SETATTR, fd, _b(target), flags, attr, ctypes.c_size_t(32))
        self._check(ret, f"mount_setattr {target or 'fd ' + str(fd)}")

    def open_tree(self, path: str, recursive: bool) -> int:
        """A detached copy of the mount tree at path (OPEN_TREE_CLONE), close-on-exec."""
        flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
        return self._check(self._libc.syscall(_SYS_OPEN_TREE, -100, _b(path), flags), f"open_tree {path}", path)

    def move_mount(self, fd: int, target: str) -> None:
        """Attach the detached mount ``fd`` at target."""
        ret = self._libc.syscall(_SYS_MOVE_MOUNT, fd, b"", -100, _b(target), MOVE_MOUNT_F_EMPTY_PATH)
        self._check(ret, f"move_mount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._check(self._libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root")

    # --- bpf(2) (cgroup v2 device programs) --------------------------------
    def bpf(self, cmd: int, attr: bytes, what: str) -> int:
        buf = ctypes.create_string_buffer(attr, len(attr))
        return self._check(self._libc.syscall(_SYS_BPF, cmd, buf, ctypes.c_uint(len(attr))), what)

    def bpf_prog_load(self, prog_type: int, code: bytes, license: bytes) -> int:
        """BPF_PROG_LOAD of ``code`` (8-byte instructions); if refused, loaded again to put the verifier's log in the error."""
        insns = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(license)

        def attr(log: Any = None) -> bytes:
            return struct.pack("=IIQQIIQII16s", prog_type, len(code) // 8, ctypes.addressof(insns),
                               ctypes.addressof(lic), 1 if log else 0, len(log) if log else 0,
                               ctypes.addressof(log) if log else 0, 0, 0, b"dockerd_py_dev")
        try:
            return self.bpf(_BPF_PROG_LOAD, attr(), "BPF_PROG_LOAD")
        except OSError:
            log = ctypes.create_string_buffer(65536)
            try:
                return self.bpf(_BPF_PROG_LOAD, attr(log), "BPF_PROG_LOAD")
            except OSError as e:
                raise OSError(e.errno, f"{e.strerror}: {log.value.decode(errors='replace').strip()}") from None

    # --- namespaces -------------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), f"unshare(0x{flags:x})")

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._check(self._libc.setns(fd, nstype), f"setns(0x{nstype:x})")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.setdomainname(raw, len(raw)), "setdomainname")

    def link_up(self, name: str) -> None:
        """Set a network device up (SIOCSIFFLAGS on a throw-away socket: no socket module)."""
        fd = self._check(self._libc.socket(2, 2 | os.O_CLOEXEC, 0), "socket")  # AF_INET, SOCK_DGRAM
        try:
            ifreq = ctypes.create_string_buffer(name.encode(), 40)  # ifr_name[16] + ifr_flags
            self._check(self._libc.ioctl(fd, ctypes.c_ulong(_SIOCGIFFLAGS), ifreq), f"get flags of {name}")
            struct.pack_into("H", ifreq, 16, struct.unpack_from("H", ifreq, 16)[0] | _IFF_UP)
            self._check(self._libc.ioctl(fd, ctypes.c_ulong(_SIOCSIFFLAGS), ifreq), f"set {name} up")
        finally:
            os.close(fd)

    # --- process attributes -------------------------------------------------
    def personality(self, spec: dict[str, Any]) -> None:
        """linux.personality: the execution domain (LINUX / LINUX32)."""
        self._check(self._libc.personality(ctypes.c_ulong(PERSONALITY_DOMAINS[spec["domain"]])), "personality")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return self._check(self._libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                                            ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)), f"prctl({option})")

    def capget(self) -> tuple[int, int, int]:
        """Return (effective, permitted, inheritable) of the calling thread as 64-bit masks."""
        hdr = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0), 8)
        data = ctypes.create_string_buffer(24)
        self._check(self._libc.capget(hdr, data), "capget")
        e0, p0, i0, e1, p1, i1 = struct.unpack("6I", data.raw)
        return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        hdr = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0), 8)
        lo, hi = 0xFFFFFFFF, 32
        data = ctypes.create_string_buffer(struct.pack(
            "6I", effective & lo, permitted & lo, inheritable & lo,
            effective >> hi & lo, permitted >> hi & lo, inheritable >> hi & lo), 24)
        self._check(self._libc.capset(hdr, data), "capset")

    # --- seccomp (libseccomp.so.2) -----------------------------------------
    def seccomp_lib(self) -> Any:
        """The libseccomp handle, loaded on first use (most containers need it once)."""
        if self._seccomp is None:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
            lib.seccomp_init.restype = ctypes.c_void_p
            lib.seccomp_init.argtypes = [ctypes.c_uint32]
            lib.seccomp_release.argtypes = [ctypes.c_void_p]
            lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
            lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
            lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
            lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
            lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                                   ctypes.c_uint, ctypes.c_void_p]
            lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
            self._seccomp = lib
        return self._seccomp


class ScmpArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp from <seccomp.h>."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class FakeSyscalls(Syscalls):
    """Records every call instead of performing it (unit tests, no root needed)."""

    def __init__(self) -> None:  # noqa: D107 - no libc needed
        self.calls: list[tuple[Any, ...]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in ("calls", "capget", "seccomp_lib"):
            return object.__getattribute__(self, name)
        calls = object.__getattribute__(self, "calls")

        def record(*args: Any) -> None:
            calls.append((name, *args))
        return record

    def capget(self) -> tuple[int, int, int]:
        return (1 << 41) - 1, (1 << 41) - 1, 0


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


_default: Syscalls | None = None


def default() -> Syscalls:
    """The process-wide real Syscalls (created lazily)."""
    global _default
    if _default is None:
        _default = Syscalls()
    return _default
