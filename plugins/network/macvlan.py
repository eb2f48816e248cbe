"""The ``macvlan`` network driver (see `_sublink`): macvlan_mode bridge (default), private, vepa, passthru."""

from __future__ import annotations

from ._sublink import SubLinkDriver


class MacvlanDriver(SubLinkDriver):
    """Registered as ``network.macvlan``."""

    kind = "macvlan"
    modes = {"bridge": 4, "private": 1, "vepa": 2, "passthru": 8}


def make_plugin() -> MacvlanDriver:
    return MacvlanDriver()
