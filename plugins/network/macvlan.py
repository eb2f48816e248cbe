"""The ``macvlan`` network driver (see `_sublink`): macvlan_mode bridge (default), private, vepa, passthru."""

from __future__ import annotations

from dockerd_py import errors

from ._sublink import SubLinkDriver, SubLinkNet


class MacvlanDriver(SubLinkDriver):
    """Registered as ``network.macvlan``."""

    kind = "macvlan"
    modes = {"bridge": 4, "private": 1, "vepa": 2, "passthru": 8}
    dummy_prefix = "dm-"

    def _check_parent_free(self, parent: str, mode: str, others: dict[str, SubLinkNet]) -> None:
        """Networks share a parent, except one in passthru mode, as Docker."""
        for other_id, other in others.items():
            if other.parent != parent:
                continue
            if mode == "passthru":
                raise errors.InvalidParameter(f"cannot use mode passthru, macvlan network {other_id} is already "
                                              f"using parent interface {parent}")
            if other.mode == "passthru":
                raise errors.InvalidParameter(f"macvlan network {other_id} is already using parent interface "
                                              f"{parent} in mode passthru")


def make_plugin() -> MacvlanDriver:
    return MacvlanDriver()
