"""The ``host`` network driver: containers share the host's network namespace.

No sandbox, no interfaces, no port publishing (Docker discards published
ports in host mode).
"""

from __future__ import annotations

from typing import Any

from dockerd_py.hookspecs import hookimpl


class HostDriver:
    """Registered as ``network.host``."""

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": "local", "connectivity_scope": "local", "needs_sandbox": False}

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


def make_plugin() -> HostDriver:
    return HostDriver()
