"""The few mount syscalls the child needs, through ctypes (numbers are the same on every arch)."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442

_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # not ctypes.util: it runs ldconfig, slow to start
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def private_mount_namespace() -> None:
    """A mount namespace of our own, where nothing propagates back to the host."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")


def clone_tree(source: str, readonly: bool) -> int:
    """A detached recursive copy of the mount tree at `source` (an fd), read-only if asked."""
    fd = _check(_libc.syscall(_SYS_OPEN_TREE, -100, source.encode(), OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE),
                f"open_tree {source}")
    if readonly:
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        _check(_libc.syscall(_SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH | AT_RECURSIVE, ctypes.byref(attr),
                             ctypes.sizeof(attr)), f"mount_setattr {source}")
    return fd


def attach_tree(fd: int, target: str) -> None:
    """Mount a detached tree at `target`, resolved against the current root (the chroot)."""
    _check(_libc.syscall(_SYS_MOVE_MOUNT, fd, b"", -100, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
           f"move_mount {target}")
