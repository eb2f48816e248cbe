"""Activated legacy plugins by name, as Docker's pkg/plugins: lookup, activation, cache.

``get(name, implements)`` finds the plugin (retrying for a socket or spec
that is not there yet: 1, 2, 4, 8 s while the total stays under 30 s),
activates it once (``POST /Plugin.Activate`` → ``{"Implements": [...]}``)
and checks that it implements the wanted subsystem (``VolumeDriver``,
``NetworkDriver``, ``IpamDriver``). A failed activation is forgotten, so
the next lookup tries again. Nothing here knows about volumes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from .client import RETRY_TOTAL, PluginClient, PluginError, backoff
from .discovery import PluginDirs, PluginNotFound

log = logging.getLogger("dockerd_py.remoteplugins")

ACTIVATE_TIMEOUT = 30.0


class NotImplementing(LookupError):
    pass


@dataclass
class Plugin:
    name: str
    client: PluginClient
    implements: tuple[str, ...]


class Registry:
    def __init__(self, dirs: PluginDirs | None = None, retry_total: float | None = None) -> None:
        self.dirs = dirs or PluginDirs.from_env()
        # Docker's 30 s; DOCKERD_PY_PLUGIN_RETRY_SECONDS shortens it (tests of a plugin that is missing)
        self.retry_total = retry_total if retry_total is not None else \
            float(os.environ.get("DOCKERD_PY_PLUGIN_RETRY_SECONDS") or RETRY_TOTAL)
        self._plugins: dict[str, Plugin] = {}
        self._lock = threading.Lock()
        self._activating: dict[str, threading.Lock] = {}

    def get(self, name: str, implements: str, retry: bool = True) -> Plugin:
        """The activated plugin `name`; PluginNotFound, PluginError or NotImplementing."""
        plugin = self._plugins.get(name) or self._load(name, retry)
        if implements not in plugin.implements:
            raise NotImplementing(f"{name} does not implement {implements}")
        return plugin

    def all(self, implements: str) -> list[Plugin]:
        """Every plugin found on disk (activated if needed) that implements `implements`."""
        out = []
        for name in self.dirs.scan():  # only plugins still there: a vanished one would stall on retries
            try:
                out.append(self.get(name, implements, retry=False))
            except (PluginNotFound, PluginError, NotImplementing) as e:
                log.debug("plugin %s skipped: %s", name, e)
        return out

    def _load(self, name: str, retry: bool) -> Plugin:
        with self._lock:
            gate = self._activating.setdefault(name, threading.Lock())
        with gate:  # one activation per name at a time
            if name in self._plugins:
                return self._plugins[name]
            start, retries = time.monotonic(), 0
            while True:
                try:
                    endpoint = self.dirs.find(name)
                    break
                except PluginNotFound:
                    wait = backoff(retries)
                    if not retry or time.monotonic() - start + wait > self.retry_total:
                        raise
                    retries += 1
                    log.warning("Unable to locate plugin: %s, retrying in %ss", name, int(wait))
                    time.sleep(wait)
            client = PluginClient(endpoint, retry_total=self.retry_total if retry else 0)
            manifest = client.call("Plugin.Activate", None, ACTIVATE_TIMEOUT, retry=retry)
            implements = tuple(str(i) for i in manifest.get("Implements") or [])
            client.retry_total = self.retry_total
            plugin = Plugin(name, client, implements)
            self._plugins[name] = plugin
            log.info("plugin %s activated: %s", name, ", ".join(implements))
            return plugin

    def forget(self, name: str) -> None:
        """Drop an activated plugin (it went away); the next lookup activates it again."""
        self._plugins.pop(name, None)
