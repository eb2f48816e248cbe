"""The shared body of the ``macvlan`` and ``ipvlan`` drivers: containers get a
link of that type on a host parent interface, made directly inside their netns.

Options as Docker's: ``parent`` (a host interface, not ``lo``; ``eth0.10`` makes
that VLAN sub-interface if missing, removed with the last network on it; none: a
dummy parent ``dm-<network[:12]>`` (ipvlan: ``di-``) is made, removed with the
network, and the network is internal), the mode (``macvlan_mode`` bridge
(default), private, vepa, passthru; ``ipvlan_mode`` l2 (default), l3, l3s). An
internal network gives its endpoints no default route. Links this driver made on
the host carry the ifalias ``<prefix>-<network[:12]>``, the mark that lets a later
process delete them. Where the kernel has no dummy driver, the dummy parent is
a veth pair (``dm-``/``dp-<network[:12]>``, both ends up), which serves the same.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import NetlinkError

from dockerd_py import errors
from dockerd_py.hookspecs import hookimpl

from . import _netlink, _sandbox_link

DEFAULT_PREFIX = "dockerd-py"


@dataclass
class SubLinkNet:
    parent: str
    mode: str
    gateway: str
    internal: bool
    mtu: int
    owner: str
    made_parent: bool
    eps: dict[str, dict[str, str]] = field(default_factory=dict)


class SubLinkDriver:
    kind = ""            # "macvlan" / "ipvlan"
    dummy_prefix = ""    # Docker's names of the dummy parent: dm-<id12> (macvlan), di-<id12> (ipvlan)
    modes: dict[str, int] = {}  # name -> the kernel's value, the default first
    mac_per_endpoint = True   # ipvlan links share their parent's MAC

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nets: dict[str, SubLinkNet] = {}

    @property
    def mode_option(self) -> str:
        return f"{self.kind}_mode"

    def _net(self, network_id: str) -> SubLinkNet:
        net = self._nets.get(network_id)
        if net is None:
            raise errors.NotFound(f"network {network_id} not found")
        return net

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": "local", "connectivity_scope": "global", "needs_sandbox": True}

    @hookimpl
    def network_create(self, network_id: str, ipv4: list[dict[str, str]], options: dict[str, str]) -> bool:
        default = next(iter(self.modes))
        mode = options.get(self.mode_option) or default
        if mode not in self.modes:
            raise errors.InvalidParameter(f"requested {self.kind} mode '{mode}' is not valid, "
                                          f"'{default}' mode is the {self.kind} driver default")
        prefix = options.get("dockerd-py.netfilter_prefix") or DEFAULT_PREFIX
        owner = f"{prefix}-{network_id[:12]}"
        parent = options.get("parent") or ""
        if parent == "lo":
            raise errors.InvalidParameter(f"loopback interface is not a valid {self.kind} parent link")
        internal = options.get("dockerd-py.internal") == "true" or not parent  # Docker: no parent is internal
        parent = parent or f"{self.dummy_prefix}{network_id[:12]}"
        with self._lock:
            self._check_parent_free(parent, mode, {i: n for i, n in self._nets.items() if i != network_id})
        made = self._ensure_parent(parent, network_id, owner, prefix)
        gateway = ipv4[0].get("gateway", "") if ipv4 else ""
        mtu = int(options.get("com.docker.network.driver.mtu") or 0)
        with self._lock:  # before the probe: a failed create is undone by network_delete
            self._nets[network_id] = SubLinkNet(parent, mode, gateway, internal, mtu, owner, made)
        self._probe(parent, mode)
        return True

    def _check_parent_free(self, parent: str, mode: str, others: dict[str, SubLinkNet]) -> None:
        """Refuse (400) a parent that other networks of this driver hold as Docker does."""

    def _ensure_parent(self, parent: str, network_id: str, owner: str, prefix: str) -> bool:
        """Make a missing parent (the dummy, or a VLAN sub-interface); whether the parent is
        one this daemon made (its ifalias is a mark of ours), so the last network on it removes it."""
        info = _netlink.link_info(parent)
        if info is not None:
            return re.fullmatch(re.escape(prefix) + r"-[0-9a-f]{12}", info[1] or "") is not None
        if parent == f"{self.dummy_prefix}{network_id[:12]}":
            self._ensure_dummy(parent, f"dp-{network_id[:12]}", owner)
            return True
        base, dot, vid = parent.rpartition(".")
        if not dot or not base or not vid.isdigit() or _netlink.link_info(base) is None:
            raise errors.InvalidParameter(f"invalid subinterface vlan name {parent}, "
                                          "example formatting is eth0.10")
        try:
            _sandbox_link.ensure_vlan(parent, base, int(vid), owner)
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise errors.InvalidParameter("vlan is not supported by this host's kernel") from None
            raise
        return True

    def _ensure_dummy(self, name: str, peer: str, owner: str) -> None:
        try:
            _sandbox_link.ensure_dummy(name, owner)
        except NetlinkError as exc:
            if exc.code != errno.EOPNOTSUPP:
                raise
            _sandbox_link.ensure_veth_parent(name, peer, owner)

    _probed: set[str] = set()

    def _probe(self, parent: str, mode: str) -> None:
        """Fail at create, not at the first container, on a kernel without this link type."""
        if self.kind in SubLinkDriver._probed:
            return
        try:
            _sandbox_link.probe(self.kind, parent, self.mode_option, self.modes[mode])
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise errors.InvalidParameter(f"{self.kind} is not supported by this host's kernel") from None
            raise
        SubLinkDriver._probed.add(self.kind)

    @hookimpl
    def network_delete(self, network_id: str) -> bool:
        with self._lock:
            net = self._nets.pop(network_id, None)
            shared = net is not None and any(n.parent == net.parent for n in self._nets.values())
        if net is not None and net.made_parent and not shared and _netlink.link_info(net.parent) is not None:
            _netlink.delete_link(net.parent)  # the last network on a parent this daemon made
        return True

    @hookimpl
    def network_endpoint_create(self, network_id: str, endpoint_id: str, iface: dict[str, str]) -> dict[str, str]:
        net = self._net(network_id)
        address = iface.get("address") or ""
        if not address:
            raise errors.InvalidParameter(f"{self.kind} endpoint needs an IPv4 address")
        mac = ""
        if self.mac_per_endpoint:
            mac = iface.get("mac_address") or \
                "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Interface(address).ip.packed)
        with self._lock:
            net.eps[endpoint_id] = {"address": address, "mac": mac}
        return {"address": address, "mac_address": mac}

    @hookimpl
    def network_join(self, network_id: str, endpoint_id: str, sandbox_key: str, ifname: str,
                     default_route: bool = True) -> dict[str, str]:
        net = self._net(network_id)
        ep = net.eps.get(endpoint_id)
        if ep is None:
            raise errors.NotFound(f"endpoint {endpoint_id} not found")
        gateway = "" if net.internal else net.gateway
        _sandbox_link.create_sublink(self.kind, net.parent, self.mode_option, self.modes[net.mode], sandbox_key, ifname,
                                     ep["mac"], ep["address"], gateway if default_route else "", net.mtu)
        return {"gateway": gateway}

    @hookimpl
    def network_set_default_route(self, network_id: str, sandbox_key: str) -> bool:
        net = self._net(network_id)
        if net.gateway and not net.internal:
            _sandbox_link.replace_default_route(sandbox_key, net.gateway)
        return True

    @hookimpl
    def network_leave(self, sandbox_key: str, ifname: str) -> bool:
        if sandbox_key and ifname:  # the link lives in the sandbox only: delete it there
            _sandbox_link.delete_in(sandbox_key, ifname)
        return True

    @hookimpl
    def network_endpoint_delete(self, network_id: str, endpoint_id: str) -> bool:
        net = self._nets.get(network_id)
        if net is not None:
            with self._lock:
                net.eps.pop(endpoint_id, None)
        return True

