"""The ``host`` network driver: containers share the host's network namespace.

No sandbox, no interfaces, no port publishing (Docker discards published
ports in host mode).
"""

from ._passive import PassiveDriver


class HostDriver(PassiveDriver):
    """Registered as ``network.host``."""

    needs_sandbox = False


def make_plugin() -> HostDriver:
    return HostDriver()
