"""A driver that makes no interfaces: the shared body of ``host`` and ``null``."""

from __future__ import annotations

from typing import Any

from dockerd_py.hookspecs import hookimpl


class PassiveDriver:
    """Answers every network hook without touching the kernel.

    `needs_sandbox` says whether the container gets a network namespace of its own.
    """

    needs_sandbox: bool = True

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": "local", "connectivity_scope": "local", "needs_sandbox": self.needs_sandbox}

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
