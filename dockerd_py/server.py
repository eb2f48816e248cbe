"""The HTTP server: gunicorn embedded as a library, one gthread worker.

The master owns the listening sockets; the single worker holds the daemon's
in-memory state (built from disk in `load`, after the fork), with many
threads because every streaming or hijacked request holds one.
"""

import logging
import mmap
import os
import sys

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from .config import DaemonConfig

log = logging.getLogger("dockerd_py")


def gunicorn_binds(hosts: list[str]) -> list[str]:
    """Translate dockerd's -H forms into gunicorn bind addresses."""
    binds = []
    for host in hosts:
        if host.startswith("unix://"):
            binds.append("unix:" + host[len("unix://"):])
        elif host.startswith("tcp://"):
            binds.append(host[len("tcp://"):] or "127.0.0.1:2375")
        elif host.startswith("fd://"):
            # Under socket activation (LISTEN_FDS) gunicorn adopts every socket systemd
            # passed by itself; naming them again would open them twice.
            number = host[len("fd://"):]
            if number and "LISTEN_FDS" not in os.environ:
                binds.append(f"fd://{int(number)}")
        else:
            raise ValueError(f"invalid host {host!r}: use unix://, tcp:// or fd://")
    return binds


class DaemonApplication(BaseApplication):
    def __init__(self, config: DaemonConfig) -> None:
        self.daemon_config = config
        # one byte shared with the forked worker: 1 once the master halts (SIGTERM/SIGINT), so that
        # a worker that exits for any other reason (a reload, a timeout) leaves the containers alone
        self._halting = mmap.mmap(-1, 1)
        super().__init__()

    @property
    def halting(self) -> bool:
        return self._halting[0] == 1

    def load_config(self) -> None:
        cfg = self.daemon_config
        settings = {
            "bind": gunicorn_binds(cfg.hosts),
            "workers": 1,
            "worker_class": "gthread",
            "threads": 512,
            "timeout": 60,
            "graceful_timeout": 3,
            "keepalive": 120,
            "loglevel": cfg.level_name,
            "accesslog": "-" if cfg.debug else None,
            "access_log_format": '%(h)s "%(r)s" %(s)s %(B)s %(L)ss',
            "proc_name": "dockerd-py",
            "umask": 0o117 if cfg.group else 0o177,
            "worker_exit": _worker_exit,
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: no global control socket
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as e:   # as BaseApplication.run
            print(f"\nError: {e}\n", file=sys.stderr)
            sys.exit(1)

    def load(self):
        import gunicorn.http.wsgi

        from .api.app import create_app
        from .api.versioning import SERVER_HEADER
        from .engine import Engine

        # gunicorn always writes its own `Server` header; make it Docker's (clients log it)
        gunicorn.http.wsgi.SERVER = SERVER_HEADER

        engine = Engine(self.daemon_config)
        engine.start()
        return create_app(engine)


class _Arbiter(Arbiter):
    """gunicorn's master. Without --live-restore, the worker stops the containers at shutdown
    (in `worker_exit`, after its own `graceful_timeout` for open requests) and bounds that by
    Docker's shutdown timeout itself: the master waits for it instead of killing it after
    `graceful_timeout`."""

    def stop(self, graceful: bool = True) -> None:
        self.app._halting[0] = 1
        if not self.app.daemon_config.live_restore:
            self.cfg.set("graceful_timeout", _UNBOUNDED_SECONDS)
        super().stop(graceful)


_UNBOUNDED_SECONDS = 10**9


def _worker_exit(server, worker) -> None:
    from .engine import Engine

    if Engine.current is not None:
        Engine.current.shutdown(daemon_exits=server.app.halting)
