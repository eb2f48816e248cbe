"""Recursive read-only bind mounts ("rro"), as Docker 25+ (API 1.44) makes them.

A read-only bind is read-only all the way down (its submounts too) when the
kernel has mount_setattr(2) and the container's runtime lists "rro" among the
mountOptions of its `features` document (runc >= 1.1 and ours do; crun 1.8 has
no `features` verb). Otherwise it is read-only on top only, unless the mount
asks for BindOptions.ReadOnlyForceRecursive: then the start fails with Docker's
text. The kernel's answer is read once, a runtime's once per executable.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import subprocess

from ..errors import DockerError

# Syscall numbers shared by every architecture (the unified table, Linux >= 5.1).
_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT, _SYS_MOUNT_SETATTR = 430, 431, 432, 442
_FSOPEN_CLOEXEC = _FSMOUNT_CLOEXEC = 1
_FSCONFIG_CMD_CREATE = 6
_AT_EMPTY_PATH, _AT_RECURSIVE = 0x1000, 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_FEATURES_TIMEOUT = 10.0


class Unsupported(DockerError):
    """ReadOnlyForceRecursive where rro cannot be made: Docker's 500 at start (createSpec's errdefs.System)."""

    status = 500


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _go_error(err: int) -> str:
    """An errno as Go prints it ("function not implemented")."""
    text = os.strerror(err)
    return text[:1].lower() + text[1:]


@functools.lru_cache(maxsize=1)
def kernel_error() -> str:
    """"" when the kernel makes a mount tree read-only recursively, else why not (Docker's words).

    Docker mounts a tmpfs on a temporary directory and tries mount_setattr on
    it; a detached tmpfs (fsopen/fsmount) tries the same with no mount anyone
    could see and nothing to unmount. A kernel without fsopen (< 5.2) has no
    mount_setattr either: reported as Docker reports that.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fds: list[int] = []

    def call(*args) -> int:
        result = libc.syscall(*args)
        if result < 0:
            raise OSError(ctypes.get_errno(), "")
        return result

    try:
        try:
            fds.append(call(_SYS_FSOPEN, b"tmpfs", _FSOPEN_CLOEXEC))
            call(_SYS_FSCONFIG, fds[0], _FSCONFIG_CMD_CREATE, None, None, 0)
            fds.append(call(_SYS_FSMOUNT, fds[0], _FSMOUNT_CLOEXEC, 0))
        except OSError as e:
            if e.errno == errno.ENOSYS:
                return f"failed to call mount_setattr: {_go_error(e.errno)}"
            return f"failed to mount tmpfs: {_go_error(e.errno)}"
        attr = _MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0)
        try:
            call(_SYS_MOUNT_SETATTR, fds[1], b"", _AT_EMPTY_PATH | _AT_RECURSIVE, ctypes.byref(attr),
                 ctypes.sizeof(attr))
        except OSError as e:
            return f"failed to call mount_setattr: {_go_error(e.errno)}"
        return ""
    finally:
        for fd in fds:
            os.close(fd)


@functools.lru_cache(maxsize=None)
def _mount_options(path: str) -> tuple[str, ...] | None:
    """The mountOptions of `<path> features`; None when the runtime gives no features document."""
    try:
        out = subprocess.run([path, "features"], stdin=subprocess.DEVNULL, capture_output=True, check=True,
                             timeout=_FEATURES_TIMEOUT).stdout
        doc = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    return tuple(o for o in doc.get("mountOptions") or () if isinstance(o, str))


def support_error(runtime: str, path: str) -> str:
    """"" when a container of runtime `runtime` (executable `path`) can have rro mounts, else Docker's text."""
    kernel = kernel_error()
    if kernel:
        return f"rro is not supported: {kernel} (kernel is older than 5.12?)"
    options = _mount_options(path)
    if options is None:
        return f'rro is not supported by runtime "{runtime}": OCI features struct is not available'
    return "" if "rro" in options else f'rro is not supported by runtime "{runtime}"'

