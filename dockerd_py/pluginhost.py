"""PluginHost: the pluggy PluginManager plus routing of driver hooks.

A driver is one plugin registered as ``"<kind>.<name>"`` (``network.bridge``).
``host.driver("network", "bridge").call("network_create", ...)`` reaches only
that driver: the call goes through ``pm.subset_hook_caller`` with every other
driver of the same kind removed, so wrapper plugins (``wrapper=True``; tracing,
audit) still wrap it. A plugin that is not a driver may implement driver hooks
only as wrappers; a plain impl would pre-empt the routed driver, so
registration refuses it.

Built-in drivers load exactly as third-party ones: entry points of the
``dockerd_py`` group. An entry point names a module or a class. A class is
instantiated with no arguments; a module that defines ``make_plugin()`` is
asked for a fresh plugin object (so two daemons in one process share no
driver state); any other module is registered as is.

Nothing happens at import time; ``PluginHost()`` does the loading.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import os
import threading
from typing import Any

import pluggy

from . import errors, hookspecs

log = logging.getLogger(__name__)

_MISSING: Any = object()


def _describe(exc: Exception) -> str:
    """An exception as Go would print it: a kernel error (errno first, e.g. pyroute2's
    NetlinkError) as its lower-case strerror, not a tuple."""
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else (
        exc.args[0] if len(exc.args) == 2 and isinstance(exc.args[0], int) and isinstance(exc.args[1], str) else None)
    if not code:
        return str(exc)
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


class Driver:
    """A handle whose calls reach exactly one registered driver."""

    def __init__(self, host: "PluginHost", kind: str, name: str) -> None:
        self.host, self.kind, self.name = host, kind, name

    def call(self, hook: str, default: Any = _MISSING, **kwargs: Any) -> Any:
        """Call `hook` on this driver; `default` is returned if it has no answer."""
        caller = self.host._routed_caller(self.kind, self.name, hook)
        try:
            result = caller(driver=self.name, **kwargs)
        except errors.DockerError:
            raise
        except Exception as exc:  # a driver bug or a kernel error
            log.exception("%s driver %s: %s failed", self.kind, self.name, hook)
            raise errors.SystemErr(f"{self.kind} driver {self.name}: {_describe(exc)}") from exc
        if result is None:
            if default is not _MISSING:
                return default
            raise errors.NotImplementedErr(
                f"{self.kind} driver {self.name} does not implement {hook}"
            )
        return result


class PluginHost:
    """Owns the PluginManager; registers plugins; routes driver calls."""

    def __init__(self, load_entrypoints: bool = True, blocked: tuple[str, ...] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._callers: dict[tuple[str, str, str], Any] = {}
        for name in blocked:
            self.pm.set_blocked(name)
        if os.environ.get("DOCKERD_TRACE_PLUGINS") == "1":
            self.pm.enable_tracing()
        if load_entrypoints:
            self.load_entrypoints()

    def load_entrypoints(self, group: str = hookspecs.PROJECT) -> None:
        """Register every entry point of `group`, then check for unknown hooks."""
        for ep in importlib.metadata.entry_points(group=group):
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            self.register(ep.name, _instantiate(ep.load()))
        self.check_pending()

    def check_pending(self) -> None:
        """Fail on hook impls that match no spec (a misspelled hook name)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise errors.SystemErr(f"plugin error: {exc}") from exc

    def register(self, name: str, plugin: object) -> None:
        """Register `plugin` as `name`; ``"<kind>.<driver>"`` makes it a driver."""
        with self._lock:
            if self.pm.has_plugin(name):
                raise errors.Conflict(f'plugin "{name}" is already registered')
            self.pm.register(plugin, name=name)
            try:
                self._check_not_preempting(name, plugin)
            except Exception:
                self.pm.unregister(name=name)
                raise
            self._callers.clear()

    def unregister(self, name: str) -> None:
        with self._lock:
            self.pm.unregister(name=name)
            self._callers.clear()

    def drivers(self, kind: str) -> list[str]:
        """Names of the registered drivers of `kind`, e.g. ["bridge", "host"]."""
        prefix = kind + "."
        return sorted(
            n[len(prefix):] for n, _ in self.pm.list_name_plugin() if n and n.startswith(prefix)
        )

    def driver(self, kind: str, name: str) -> Driver:
        """A handle for one driver; NotFound if it is not registered."""
        if self.pm.get_plugin(f"{kind}.{name}") is None:
            raise errors.NotFound(f'plugin "{name}" not found')
        return Driver(self, kind, name)

    def _routed_caller(self, kind: str, name: str, hook: str) -> Any:
        key = (kind, name, hook)
        with self._lock:
            caller = self._callers.get(key)
            if caller is None:
                me = f"{kind}.{name}"
                if self.pm.get_plugin(me) is None:
                    raise errors.NotFound(f'plugin "{name}" not found')
                others = [
                    p for n, p in self.pm.list_name_plugin()
                    if n and n.startswith(kind + ".") and n != me
                ]
                caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
                self._callers[key] = caller
            return caller

    def _check_not_preempting(self, name: str, plugin: object) -> None:
        """Non-driver plugins may implement `<kind>_*` hooks only as wrappers."""
        kind = name.split(".", 1)[0] if "." in name else ""
        for caller in self.pm.get_hookcallers(plugin) or []:
            hook_kind = caller.name.split("_", 1)[0]
            if hook_kind == kind:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    raise errors.InvalidParameter(
                        f'plugin "{name}" implements {caller.name} but is not a '
                        f'"{hook_kind}.<name>" driver; use wrapper=True'
                    )


def _instantiate(obj: Any) -> object:
    """Turn an entry point's target into the object to register."""
    if inspect.isclass(obj):
        return obj()
    factory = getattr(obj, "make_plugin", None)
    if inspect.ismodule(obj) and callable(factory):
        return factory()
    return obj
