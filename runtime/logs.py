"""A tiny logrus-compatible logger (the logging module is too slow to import).

Without --log, warnings/errors go to stderr as logrus text lines. With --log,
every line goes to the file (JSON lines with --log-format json, which is what
containerd reads) and fatal errors are also printed plainly on stderr, as runc.
"""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import sys
import time
from . import jsonio

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


class Logger:
    def __init__(self) -> None:
        self.fd: int | None = None
        self.json = False
        self.level = _LEVELS["warning"]

    def configure(self, path: str | None, fmt: str, debug: bool) -> None:
        self.json = fmt == "json"
        self.level = _LEVELS["debug" if debug else "warning"]
        if path:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def log(self, level: str, msg: str) -> None:
        if _LEVELS[level] < self.level:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.json:
            line = jsonio.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f"time={jsonio.dumps(now)} level={level} msg={jsonio.dumps(msg)}"
        target = self.fd if self.fd is not None else 2
        try:
            os.write(target, (line + "\n").encode())
        except OSError:
            pass

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def warning(self, msg: str) -> None:
        self.log("warning", msg)

    def fatal(self, msg: str) -> None:
        """The error that ends the command (exit status 1 follows)."""
        self.log("error", msg)
        if self.fd is not None:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()


log = Logger()
