"""mount(2) and umount2(2) for the local volume driver, with the option parsing and
error texts of Docker's mount package: known flags (``ro``, ``bind``, ``noexec``,
...) become MS_* flags, everything else is the filesystem's data string."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 0x1, 0x2, 0x4, 0x8, 0x10
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 0x20, 0x40, 0x80, 0x400, 0x800
MS_BIND, MS_REC, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 0x1000, 0x4000, 0x20000, 0x40000, 0x80000, 0x100000
MS_RELATIME, MS_STRICTATIME = 0x200000, 0x1000000
MNT_DETACH = 2

# option -> (clear, flag): "clear" options remove the flag (rw, suid, ...)
_FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID), "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV),
    "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC), "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS), "dirsync": (False, MS_DIRSYNC), "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK), "atime": (True, MS_NOATIME),
    "noatime": (False, MS_NOATIME), "diratime": (True, MS_NODIRATIME), "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC), "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME), "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME),
}
_PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
                "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
                "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


class MountError(OSError):
    """Docker's text: ``mount tmpfs:/target, data: bogus: invalid argument``."""

    def __init__(self, op: str, source: str, target: str, flags: int, data: str, err: int) -> None:
        text = f"{op} " + (f"{source}:{target}" if source else target)
        if flags:
            text += f", flags: {flags:#x}"
        if data:
            text += f", data: {data}"
        super().__init__(err, text + ": " + os.strerror(err).lower())
        self.text = text + ": " + os.strerror(err).lower()

    def __str__(self) -> str:
        return self.text


def parse_options(options: str) -> tuple[int, int, str]:
    """(flags, propagation flags, data) of a comma-separated option string."""
    flags = propagation = 0
    data = []
    for o in filter(None, options.split(",")):
        if o in _FLAGS:
            clear, f = _FLAGS[o]
            flags = flags & ~f if clear else flags | f
        elif o in _PROPAGATION:
            propagation |= _PROPAGATION[o]
        else:
            data.append(o)
    return flags, propagation, ",".join(data)


def _call(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode() or None) != 0:
        raise MountError("mount", source, target, flags, data, ctypes.get_errno())


def mount(device: str, target: str, fstype: str, options: str) -> None:
    """Mount as Docker's mount.Mount does: a read-only bind is remounted read-only after binding."""
    flags, propagation, data = parse_options(options)
    first = flags & ~MS_REMOUNT if flags & MS_BIND else flags
    _call(device, target, fstype, first & ~(MS_RDONLY if flags & MS_BIND else 0), data)
    try:
        if flags & MS_BIND and flags & ~(MS_BIND | MS_REC | MS_REMOUNT):
            _call("", target, "", (flags & ~MS_REC) | MS_REMOUNT, "")
        if propagation:
            _call("", target, "", propagation, "")
    except MountError:
        unmount(target)
        raise


def unmount(target: str) -> None:
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
            raise MountError("unmount", "", target, 0, "", err)


def is_mounted(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4].encode().decode("unicode_escape") == real for line in f if line.strip())
