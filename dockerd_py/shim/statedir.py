"""AF_UNIX addresses for the sockets in the state directory DIR, however long its path.

sun_path holds 108 bytes; a longer path is reached through /proc/PID/fd/DIRFD/NAME,
DIRFD being an O_PATH fd of DIR that the daemonised shim keeps open (`keep_dir_fd`).
"""

import os

_dir_fd = -1


def keep_dir_fd(state_dir: str) -> None:
    """Open DIR (O_PATH) for the rest of this process's life, for `sock_addr`."""
    global _dir_fd
    _dir_fd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def sock_addr(path: str) -> str:
    """An address for `path` (a file in DIR) that fits in sun_path: the path itself, or
    the same file reached through /proc/PID/fd/DIRFD."""
    if len(path.encode()) < 100 or _dir_fd < 0:
        return path
    return f"/proc/{os.getpid()}/fd/{_dir_fd}/{os.path.basename(path)}"
