"""`dockerd-py`: parse flags, refuse to run twice, serve the API."""

import ctypes
import errno
import fcntl
import logging
import os
import socket
import sys

from . import config as config_mod
from .launchers import install_runtime_launcher


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = config_mod.load(argv)
        _check_not_running(cfg)
        install_runtime_launcher(cfg.exec_root)
        if cfg.cleanup:
            from . import cleanup

            cleanup.run(cfg)
            return 0
    except config_mod.ConfigError as e:
        print(f"dockerd-py: {e}", file=sys.stderr)
        return 1
    logging.basicConfig(level=cfg.level_name.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for d in (cfg.data_root, cfg.exec_root):
        os.makedirs(d, mode=0o711, exist_ok=True)
    try:
        pid_fd = _claim_pidfile(cfg.pidfile)
    except config_mod.ConfigError as e:
        print(f"dockerd-py: {e}", file=sys.stderr)
        return 1
    _become_subreaper()
    try:
        from .server import DaemonApplication

        DaemonApplication(cfg).run()
    finally:
        _remove_own_pidfile(cfg.pidfile)
        os.close(pid_fd)
    return 0


def _become_subreaper() -> None:
    """Adopt the daemonised shims when they exit, so they never linger as zombies.

    Shims double-fork to outlive the daemon; their parent is then the nearest
    subreaper. gunicorn's master reaps every child it gets, known or not.
    """
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _claim_pidfile(path: str) -> int:
    """Write our pid into the pidfile under an exclusive lock held for the daemon's life.

    The lock closes the race of two daemons starting at the same instant on one
    data-root; the content is for humans and tools.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise config_mod.ConfigError(f"pid file found, ensure docker is not running or delete {path}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _check_not_running(cfg: config_mod.DaemonConfig) -> None:
    """Refuse to start when the pidfile or a unix socket belongs to a live daemon."""
    try:
        with open(cfg.pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid() and _alive(pid):
        raise config_mod.ConfigError(
            f"pid file found, ensure docker is not running or delete {cfg.pidfile} (process with PID {pid} is still running)")
    for host in cfg.hosts:
        if host.startswith("unix://"):
            path = host[len("unix://"):]
            if os.path.exists(path) and _socket_answers(path):
                raise config_mod.ConfigError(f"{path} is in use by another daemon")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def _socket_answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _remove_own_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
