"""The ``null`` network driver (Docker's ``none`` network): loopback only.

The daemon gives the container a network namespace with ``lo`` up; this
driver adds nothing to it and publishes no ports.
"""

from __future__ import annotations

from typing import Any

from dockerd_py.hookspecs import hookimpl


class NullDriver:
    """Registered as ``network.null``."""

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": "local", "connectivity_scope": "local", "needs_sandbox": True}

    @hookimpl
    def network_create(self) -> bool:
        return True

    @hookimpl
    def network_delete(self) -> bool:
        return True

    @hookimpl
    def network_endpoint_create(self) -> dict[str, str]:
        return {"address": "", "mac_address": ""}

    @hookimpl
    def network_endpoint_delete(self) -> bool:
        return True

    @hookimpl
    def network_join(self) -> dict[str, str]:
        return {"gateway": ""}

    @hookimpl
    def network_leave(self) -> bool:
        return True


def make_plugin() -> NullDriver:
    return NullDriver()
