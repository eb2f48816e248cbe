"""The ``null`` network driver (Docker's ``none`` network): loopback only.

The daemon gives the container a network namespace with ``lo`` up; this
driver adds nothing to it and publishes no ports.
"""

from ._passive import PassiveDriver


class NullDriver(PassiveDriver):
    """Registered as ``network.null``."""

    needs_sandbox = True


def make_plugin() -> NullDriver:
    return NullDriver()
