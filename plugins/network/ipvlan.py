"""The ``ipvlan`` network driver (see `_sublink`): ipvlan_mode l2 (default), l3, l3s; endpoints share the parent's MAC."""

from __future__ import annotations

from dockerd_py import errors

from ._sublink import SubLinkDriver, SubLinkNet


class IpvlanDriver(SubLinkDriver):
    """Registered as ``network.ipvlan``."""

    kind = "ipvlan"
    modes = {"l2": 0, "l3": 1, "l3s": 2}
    mac_per_endpoint = False
    dummy_prefix = "di-"

    def _check_parent_free(self, parent: str, mode: str, others: dict[str, SubLinkNet]) -> None:
        """One ipvlan network per parent, as Docker."""
        for other_id, other in others.items():
            if other.parent == parent:
                raise errors.InvalidParameter(f"network {self.dummy_prefix}{other_id[:12]} is already using "
                                              f"parent interface {parent}")


def make_plugin() -> IpvlanDriver:
    return IpvlanDriver()
