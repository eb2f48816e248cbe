"""IpcMode shareable: the /dev/shm tmpfs a container shares with its IPC joiners.

As Docker: a tmpfs (mode 1777, size ShmSize, nosuid,nodev,noexec) mounted on the host at
<container dir>/mounts/shm when the container starts, bind-mounted as its /dev/shm (and as
the /dev/shm of every IpcMode container:<it>), unmounted when it stops or is removed.
`dockerd-py --cleanup` unmounts any left (everything below the data-root).
"""

import ctypes
import errno
import os

from ...oci.defaults import DEFAULT_SHM_SIZE

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MNT_DETACH = 2


def path(container_dir: str) -> str:
    return os.path.join(container_dir, "mounts", "shm")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount(container_dir: str, size: int | None) -> str:
    """Mount the shareable /dev/shm of a container; its host path."""
    target = path(container_dir)
    os.makedirs(target, mode=0o700, exist_ok=True)
    unmount(container_dir)  # a leftover of a daemon that died with the container running
    data = f"mode=1777,size={size or DEFAULT_SHM_SIZE}".encode()
    if _libc().mount(b"shm", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mounting shm tmpfs: {os.strerror(err)}", target)
    return target


def unmount(container_dir: str) -> None:
    """Unmount it if mounted (idempotent)."""
    target = path(container_dir)
    while os.path.ismount(target):
        if _libc().umount2(target.encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return
            raise OSError(err, f"unmounting shm: {os.strerror(err)}", target)
