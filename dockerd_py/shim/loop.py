"""The shim's event loop: one selector whose keys carry their handlers, woken by SIGCHLD.

Single-threaded on purpose (the shim forks and execs the runtime). A registered object's
`data` is its handler, called as handler(key, mask).
"""

import os
import selectors
import signal
from collections.abc import Callable

from .shimlog import log_exception

MAX_HANDLER_ERRORS = 100  # handler exceptions survived (and logged) before the loop gives up


class Loop:
    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.errors = 0
        self.wake_r = -1

    def on_sigchld(self, handler: Callable[[], None]) -> None:
        """Call `handler` in the loop whenever SIGCHLD arrives (through signal.set_wakeup_fd)."""
        wr, ww = os.pipe()
        os.set_blocking(wr, False)
        os.set_blocking(ww, False)
        self.wake_r = wr
        signal.set_wakeup_fd(ww, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(wr, selectors.EVENT_READ, lambda key, mask: self.woken(handler))

    def woken(self, handler: Callable[[], None]) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        handler()

    def run_once(self, timeout: float | None) -> None:
        """Wait up to `timeout` seconds (None: no limit) and call the handlers of what is ready."""
        for key, mask in self.sel.select(timeout):
            try:
                key.data(key, mask)
            except Exception:  # noqa: BLE001 - keep serving the container
                self.errors += 1
                log_exception(f"handler error #{self.errors}")
                if self.errors > MAX_HANDLER_ERRORS:
                    raise
