"""Network namespaces of sandboxes: ``<exec-root>/netns/<container-id>``, a
bind mount of a new network namespace with ``lo`` up; made without forking."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from typing import Any

from .. import errors

# --------------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ_FLAGS = struct.Struct("=16sH22x")  # struct ifreq with ifr_flags
_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _IFREQ_FLAGS.unpack(fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ_FLAGS.pack(b"lo", 0)))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ_FLAGS.pack(b"lo", flags | _IFF_UP))


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _new_netns_on(path: str) -> None:
    """Runs on a thread of its own, which it leaves in the new namespace."""
    libc = _c()
    _check(libc.unshare(_CLONE_NEWNET), "unshare")
    _loopback_up()
    _check(libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", _MS_BIND, None), "mount")


def create_netns(path: str) -> None:
    """Bind-mount a new network namespace on `path` and bring up its ``lo``.

    Namespaces are per thread: a short-lived thread unshares its network
    namespace and bind-mounts it, which keeps it alive after the thread
    ends. No process is forked, and no thread but that one changes namespace.
    """
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    failure: list[Exception] = []

    def run() -> None:
        try:
            _new_netns_on(path)
        except Exception as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="netns-create")
    thread.start()
    thread.join()
    if failure:
        os.unlink(path)
        raise errors.SystemErr(
            f"failed to create network namespace {path}: {failure[0]}") from failure[0]


def remove_netns(path: str) -> None:
    """Unmount and unlink a netns file; absent or unmounted is fine."""
    if not os.path.exists(path):
        return
    if _c().umount2(path.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise errors.SystemErr(f"umount {path}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


