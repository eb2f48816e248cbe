"""Network namespaces of sandboxes: ``<exec-root>/netns/<container-id>``, a
bind mount of a new network namespace with ``lo`` up; made without forking.

Namespaces are per thread, so whatever must happen inside one runs on a
short-lived thread of its own (`on_own_thread`, `in_netns`), never on the
caller's; no process is forked. Sockets and netlink handles keep the
namespace they were opened in after that thread ends.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .. import errors

T = TypeVar("T")

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


def on_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on a short-lived thread of its own: its result, or its exception raised here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def enter(netns_path: str) -> None:
    """setns(2) the calling thread into the network namespace at `netns_path`."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _c().setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "not a network namespace" if err == errno.EINVAL else f"setns: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(netns_path: str, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) inside the network namespace of `netns_path` (on a thread of its own)."""

    def run() -> T:
        enter(netns_path)
        return fn(*args)

    return on_own_thread(run)


def create_netns(path: str) -> None:
    """Bind-mount a new network namespace on `path` and bring up its ``lo``.

    The bind mount keeps the namespace alive after the thread that made it ends.
    """
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    try:
        on_own_thread(_new_netns_on, path)
    except Exception as exc:
        os.unlink(path)
        raise errors.SystemErr(f"failed to create network namespace {path}: {exc}") from exc


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


