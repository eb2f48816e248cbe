"""The ``ipvlan`` network driver (see `_sublink`): ipvlan_mode l2 (default), l3, l3s; endpoints share the parent's MAC."""

from __future__ import annotations

from ._sublink import SubLinkDriver


class IpvlanDriver(SubLinkDriver):
    """Registered as ``network.ipvlan``."""

    kind = "ipvlan"
    modes = {"l2": 0, "l3": 1, "l3s": 2}
    mac_per_endpoint = False


def make_plugin() -> IpvlanDriver:
    return IpvlanDriver()
