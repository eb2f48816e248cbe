"""The ``bridge`` network driver: a Linux bridge, one veth per container,
MASQUERADE for outbound traffic and DNAT for published ports (IPv6 host addresses too, on an IPv6 network).

Kernel state is named after the ids it is given, so a restarted daemon finds
it again: bridge ``br-<network[:12]>`` unless named by the
``com.docker.network.bridge.name`` option, veth host side
``vdpy<endpoint[:11]>``, netfilter table ``ip <prefix>-<bridge>`` (and ``ip6`` for an IPv6 network; see
`_nft`; isolation and internal networks are its forward rules; ICC off is a ``bridge`` table of the
same name, with Docker's exceptions for legacy links: `network_link`). The veth pair is made at join, its
container side created directly inside the sandbox (moving a device between
namespaces costs the kernel an RCU grace period, ~20 ms). Published ports
are DNAT rules only (no userland proxy); loopback access works through DNAT
in nat/output plus ``route_localnet=1`` on the bridge and MASQUERADE of
127.0.0.0/8 sources. The create option ``dockerd-py.iptables=false`` (daemon ``--iptables=false``)
makes no netfilter state at all (no table, no ``route_localnet``); ``dockerd-py.ip_forward=false``
leaves ``net.ipv4.ip_forward`` alone.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

from dockerd_py import errors
from dockerd_py.hookspecs import hookimpl

from . import _netlink, _nft

DEFAULT_PREFIX = "dockerd-py"


@dataclass
class _Net:
    bridge: str
    subnet: str
    gateway: str
    prefixlen: int
    mtu: int
    table: str
    internal: bool
    icc: bool
    user_table: str  # the user's table, made with the default bridge ("" otherwise)
    subnet6: str = ""   # an IPv6 network's subnet and gateway (its table: ip6 <table>)
    gateway6: str = ""
    netfilter: bool = True  # False: daemon --iptables=false, no table, no rule (ports: the daemon relays)
    route: str = ""  # the containers' default route when not `gateway` (aux address DefaultGatewayIPv4)

    @property
    def icc_table(self) -> bool:
        """ICC off through netfilter (the ``bridge`` table); without netfilter: isolated ports."""
        return not self.icc and self.netfilter


def mac_for(ip: str) -> str:
    """Engine 27's MAC for an IPv4 address: 02:42 then the four address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def veth_name(endpoint_id: str) -> str:
    """The host side of an endpoint's veth pair; 15 chars at most."""
    return "vdpy" + endpoint_id[:11]


class BridgeDriver:
    """Registered as ``network.bridge``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nets: dict[str, _Net] = {}
        self._eps: dict[str, dict[str, str]] = {}

    def _net(self, network_id: str) -> _Net:
        net = self._nets.get(network_id)
        if net is None:
            raise errors.NotFound(f"network {network_id} not found")
        return net

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": "local", "connectivity_scope": "local", "needs_sandbox": True}

    @hookimpl
    def network_create(self, network_id: str, ipv4: list[dict[str, str]],
                       options: dict[str, str], ipv6: list[dict[str, str]] | None = None) -> bool:
        if not ipv4:
            raise errors.InvalidParameter("bridge network needs an IPv4 subnet")
        subnet = ipaddress.ip_network(ipv4[0]["subnet"], strict=False)
        gateway = ipv4[0].get("gateway") or str(next(subnet.hosts()))
        bridge = options.get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"
        prefix = options.get("dockerd-py.netfilter_prefix") or DEFAULT_PREFIX
        mtu_option = int(options.get("com.docker.network.driver.mtu") or 0)  # 0: none given
        mtu = mtu_option or 1500
        masq = options.get("com.docker.network.bridge.enable_ip_masquerade", "true") == "true"
        icc = options.get("com.docker.network.bridge.enable_icc", "true") == "true"
        internal = options.get("dockerd-py.internal") == "true"
        default = options.get("com.docker.network.bridge.default_bridge") == "true"
        netfilter = options.get("dockerd-py.iptables", "true") == "true"
        info = _netlink.link_info(bridge)
        if info is not None and info[0] != "bridge":
            raise errors.Conflict(f"interface {bridge} exists and is not a bridge")
        net = _Net(bridge, str(subnet), gateway, subnet.prefixlen, mtu, f"{prefix}-{bridge}",
                   internal, icc, f"{prefix}-user-{bridge}" if default and netfilter else "", netfilter=netfilter,
                   route=(ipv4[0].get("aux_addresses") or {}).get("DefaultGatewayIPv4", ""))
        if ipv6:
            subnet6 = ipaddress.IPv6Network(ipv6[0]["subnet"], strict=False)
            net.subnet6, net.gateway6 = str(subnet6), ipv6[0].get("gateway") or str(next(subnet6.hosts()))
        with self._lock:
            if netfilter:
                _nft.check_available()
            _netlink.ensure_bridge(bridge, f"{gateway}/{subnet.prefixlen}", mtu_option, net.table)
            if options.get("dockerd-py.ip_forward", "true") == "true":
                _netlink.set_sysctl("net/ipv4/ip_forward", "1")
            if net.subnet6:
                _netlink.set_sysctl(f"net/ipv6/conf/{bridge}/disable_ipv6", "0")
                _netlink.add_address(bridge, f"{net.gateway6}/{ipaddress.IPv6Network(net.subnet6).prefixlen}")
            if netfilter:
                self._program_netfilter(net, masq)
            self._nets[network_id] = net
        return True

    @staticmethod
    def _program_netfilter(net: _Net, masq: bool) -> None:
        """The network's tables (and the user's, with the default bridge), then route_localnet
        for the DNAT of 127.0.0.1: the table's guard drops 127/8 arriving from the bridge."""
        if net.user_table:
            _nft.ensure_user_table(net.user_table)
        _nft.ensure_table(net.table, net.bridge, net.subnet, masq, net.internal, icc=not net.icc_table)
        if net.subnet6:
            _nft.ensure_table6(net.table, net.bridge, net.subnet6, masq, net.internal)
        _netlink.set_sysctl(f"net/ipv4/conf/{net.bridge}/route_localnet", "1")

    @hookimpl
    def network_delete(self, network_id: str) -> bool:
        with self._lock:
            net = self._nets.pop(network_id, None)
            if net is not None:
                tables = [f"ip {net.table}", f"bridge {net.table}"]
                if net.user_table:  # only the daemon's cleanup deletes the default bridge
                    tables.append(f"ip {net.user_table}")
                if net.subnet6:
                    tables.append(f"ip6 {net.table}")
                _nft.delete_tables(*tables)
                # only a bridge this daemon made (marked by its ifalias)
                if _netlink.link_info(net.bridge) == ("bridge", net.table):
                    _netlink.delete_link(net.bridge)
        return True

    @hookimpl
    def network_endpoint_create(self, network_id: str, endpoint_id: str,
                                iface: dict[str, str]) -> dict[str, str]:
        net = self._net(network_id)
        address = iface.get("address") or ""
        if not address:
            raise errors.InvalidParameter("bridge endpoint needs an IPv4 address")
        ip = str(ipaddress.ip_interface(address).ip)
        mac = iface.get("mac_address") or mac_for(ip)
        with self._lock:  # the veth is made at join, once the sandbox is known
            if net.icc_table:  # (again after a restart: the daemon re-creates its running endpoints)
                _nft.add_icc_port(net.table, veth_name(endpoint_id))
            self._eps[endpoint_id] = {"address": address, "ip": ip, "mac_address": mac,
                                      "address6": iface.get("address_ipv6") or ""}
        return {"address": address, "mac_address": mac}

    @hookimpl
    def network_endpoint_delete(self, network_id: str, endpoint_id: str) -> bool:
        _netlink.delete_link(veth_name(endpoint_id))  # its container side goes with it
        net = self._nets.get(network_id)
        if net is not None and net.icc_table:
            with self._lock:
                _nft.drop_icc_port(net.table, veth_name(endpoint_id), endpoint_id)
        with self._lock:
            self._eps.pop(endpoint_id, None)
        return True

    @hookimpl
    def network_join(self, network_id: str, endpoint_id: str, sandbox_key: str,
                     ifname: str, default_route: bool = True) -> dict[str, str]:
        net = self._net(network_id)
        ep = self._eps.get(endpoint_id)
        if ep is None:
            raise errors.NotFound(f"endpoint {endpoint_id} not found")
        gateway = "" if net.internal else net.route or net.gateway  # an internal network has no way out
        gateway6 = "" if net.internal or not ep["address6"] else net.gateway6
        _netlink.create_veth(veth_name(endpoint_id), net.bridge, net.mtu, sandbox_key, ifname,
                             ep["mac_address"], ep["address"], gateway if default_route else "",
                             isolated=not net.icc and not net.netfilter, address6=ep["address6"],
                             gateway6=gateway6 if default_route else "")
        return {"gateway": gateway, "gateway_ipv6": gateway6}

    @hookimpl
    def network_set_default_route(self, network_id: str, endpoint_id: str, sandbox_key: str) -> bool:
        net = self._net(network_id)
        if not net.internal:
            _netlink.in_netns(sandbox_key, _netlink.replace_default_route, net.route or net.gateway)
            if net.gateway6 and self._eps.get(endpoint_id, {}).get("address6"):
                _netlink.in_netns(sandbox_key, _netlink.replace_default_route, net.gateway6)
        return True

    @hookimpl
    def network_leave(self) -> bool:
        return True  # the veth goes away in endpoint_delete

    @hookimpl
    def network_program_external(self, network_id: str, endpoint_id: str,
                                 bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        net = self._net(network_id)
        ep = self._eps.get(endpoint_id)
        if ep is None:
            raise errors.NotFound(f"endpoint {endpoint_id} not found")
        ip6 = str(ipaddress.ip_interface(ep["address6"]).ip) if ep.get("address6") else ""
        if not ip6 and any(":" in b["host_ip"] for b in bindings):
            raise errors.InvalidParameter("IPv6 port bindings need an endpoint with an IPv6 address")
        rules = [
            (b["host_ip"], b["proto"], int(b["host_port"]), ip6 if ":" in b["host_ip"] else ep["ip"],
             int(b["container_port"]))
            for b in bindings
        ]
        if net.netfilter:
            with self._lock:
                _nft.add_dnat(net.table, f"ep:{endpoint_id}", rules)
        return [dict(b) for b in bindings]

    @hookimpl
    def network_link(self, network_id: str, endpoint_id: str, linked_endpoint_id: str,
                     ports: list[tuple[str, int]]) -> bool:
        """Docker's legacy-link exception to ICC off (nothing to do with ICC on); gone with
        either endpoint (`network_endpoint_delete`)."""
        net = self._net(network_id)
        parent, child = self._eps.get(endpoint_id), self._eps.get(linked_endpoint_id)
        if net.icc_table and parent and child:
            with self._lock:
                _nft.add_link(net.table, (endpoint_id, parent["ip"]), (linked_endpoint_id, child["ip"]), ports)
        return True

    @hookimpl
    def network_revoke_external(self, network_id: str, endpoint_id: str) -> bool:
        net = self._nets.get(network_id)
        if net is not None and net.netfilter:
            with self._lock:
                _nft.delete_tagged(net.table, f"ep:{endpoint_id}")
                if net.subnet6:
                    _nft.delete_tagged(net.table, f"ep:{endpoint_id}", "ip6")
        return True


def make_plugin() -> BridgeDriver:
    return BridgeDriver()
