"""Interfaces that are not veth pairs of ours, put into (and out of) a sandbox.

- `adopt`/`give_back`: an interface a remote network plugin made on the host
  (its Join's ``InterfaceName.SrcName``) is moved into the container's netns,
  renamed, addressed, given the plugin's gateway and static routes; on leave it
  goes back to the host under its source name (the plugin deletes it), as
  Docker's sandbox does;
- `create_sublink`: a macvlan/ipvlan interface on a host parent, made directly
  inside the netns (IFLA_NET_NS_FD) under its final name.

Requests to the host go through `_netlink`'s host worker, requests inside a
sandbox through `_netlink.in_netns`.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from pyroute2 import IPRoute, NetlinkError

from . import _netlink

ROUTE_NEXTHOP, ROUTE_CONNECTED = 0, 1   # Docker's StaticRoute RouteType


def _netns_fd(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _move(ipr: IPRoute, name: str, fd: int) -> None:
    ipr.link("set", index=socket.if_nametoindex(name), net_ns_fd=fd)


def _configure(src: str, ifname: str, mac: str, address: str, gateway: str,
               routes: Sequence[Mapping[str, Any]], mark: str) -> None:
    index = socket.if_nametoindex(src)
    with _netlink._open() as ipr:
        ipr.link("set", index=index, state="down")
        changes: dict[str, Any] = {"ifname": ifname} if ifname != src else {}
        if mac:
            changes["address"] = mac
        if changes:
            ipr.link("set", index=index, **changes)
        if mark:
            ipr.link("set", index=index, ifalias=mark)
    _netlink._configure_inside(ifname, address, "")
    with _netlink._open() as ipr:
        for r in routes:
            dst = str(ipaddress.ip_network(r["Destination"], strict=False))
            if int(r.get("RouteType") or 0) == ROUTE_CONNECTED:
                ipr.route("add", dst=dst, oif=index, scope=253, proto=_netlink._RTPROT_BOOT)
            else:
                ipr.route("add", dst=dst, gateway=r["NextHop"], oif=index, proto=_netlink._RTPROT_BOOT)
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=index, proto=_netlink._RTPROT_BOOT)


def adopt(src: str, netns_path: str, ifname: str, mac: str, address: str, gateway: str,
          routes: Sequence[Mapping[str, Any]] = (), mark: str = "") -> None:
    """Move host interface `src` into the netns as `ifname`; address (CIDR), MAC, routes;
    `mark` becomes its ifalias (a later process finds it by that: `delete_marked_in`)."""
    fd = _netns_fd(netns_path)
    try:
        _netlink._host.run(_move, src, fd)
    finally:
        os.close(fd)
    _netlink.in_netns(netns_path, _configure, src, ifname, mac, address, gateway, routes, mark)


def _move_out(ifname: str, src: str, host_fd: int) -> None:
    with _netlink._open() as ipr:
        try:
            index = socket.if_nametoindex(ifname)
        except OSError:
            return  # gone already (the plugin deleted it, or a restart)
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, ifname=src)
        ipr.link("set", index=index, net_ns_fd=host_fd)


def give_back(netns_path: str, ifname: str, src: str) -> None:
    """Take `ifname` out of the netns, back to the host named `src`. Idempotent."""
    if not os.path.exists(netns_path):
        return
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _netlink.in_netns(netns_path, _move_out, ifname, src, host_fd)
    finally:
        os.close(host_fd)


def _add_sublink(ipr: IPRoute, spec: dict[str, Any]) -> None:
    ipr.link("add", **spec)


def create_sublink(kind: str, parent: str, mode_attr: str, mode: int, netns_path: str,
                   ifname: str, mac: str, address: str, gateway: str, mtu: int = 0) -> None:
    """A `kind` (macvlan, ipvlan) link on `parent`, made inside the netns as `ifname`, configured."""
    fd = _netns_fd(netns_path)
    spec: dict[str, Any] = {"ifname": ifname, "kind": kind, "link": socket.if_nametoindex(parent),
                            mode_attr: mode, "net_ns_fd": fd}
    if mac:
        spec["address"] = mac
    if mtu:
        spec["mtu"] = mtu
    try:
        _netlink._host.run(_add_sublink, spec)
    finally:
        os.close(fd)
    _netlink.in_netns(netns_path, _netlink._configure_inside, ifname, address, gateway)


def _ensure_link(ipr: IPRoute, name: str, spec: dict[str, Any], owner: str) -> None:
    try:
        ipr.link("add", ifname=name, **spec)
        ipr.link("set", index=socket.if_nametoindex(name), ifalias=owner)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise
    ipr.link("set", index=socket.if_nametoindex(name), state="up")


def ensure_dummy(name: str, owner: str) -> None:
    """A dummy link `name` (a parent for macvlan/ipvlan without one), marked by `owner`."""
    _netlink._host.run(_ensure_link, name, {"kind": "dummy"}, owner)


def ensure_vlan(name: str, parent: str, vlan_id: int, owner: str) -> None:
    """The VLAN sub-interface `name` (``eth0.10``) of `parent`, marked by `owner`."""
    _netlink._host.run(_ensure_link, name, {"kind": "vlan", "link": socket.if_nametoindex(parent),
                                            "vlan_id": vlan_id}, owner)


def _ensure_veth(ipr: IPRoute, name: str, peer: str, owner: str) -> None:
    try:
        ipr.link("add", ifname=name, kind="veth", peer={"ifname": peer})
        ipr.link("set", index=socket.if_nametoindex(name), ifalias=owner)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise
    for n in (peer, name):
        ipr.link("set", index=socket.if_nametoindex(n), state="up")


def ensure_veth_parent(name: str, peer: str, owner: str) -> None:
    """A stand-in for a dummy parent where the kernel has no dummy driver: a veth pair, both ends up."""
    _netlink._host.run(_ensure_veth, name, peer, owner)


def _probe(ipr: IPRoute, kind: str, parent: str, mode_attr: str, mode: int) -> None:
    name = f"dpyprobe{os.getpid() % 100000}"
    ipr.link("add", ifname=name, kind=kind, link=socket.if_nametoindex(parent), **{mode_attr: mode})
    _netlink._delete_link(ipr, name)


def probe(kind: str, parent: str, mode_attr: str, mode: int) -> None:
    """Create and delete a `kind` link on `parent`: NetlinkError(EOPNOTSUPP) if the kernel lacks it."""
    _netlink._host.run(_probe, kind, parent, mode_attr, mode)


def _delete_inside(ifname: str) -> None:
    with _netlink._open() as ipr:
        _netlink._delete_link(ipr, ifname)


def delete_in(netns_path: str, ifname: str) -> None:
    """Delete `ifname` inside the netns, if both are still there."""
    if os.path.exists(netns_path):
        _netlink.in_netns(netns_path, _delete_inside, ifname)


def replace_default_route(netns_path: str, gateway: str) -> None:
    """The netns's default route goes via `gateway` now."""
    _netlink.in_netns(netns_path, _netlink.replace_default_route, gateway)


def _delete_marked(mark: str) -> None:
    with _netlink._open() as ipr:
        for link in ipr.get_links():
            if link.get_attr("IFLA_IFALIAS") == mark:
                ipr.link("del", index=link["index"])


def delete_marked_in(netns_path: str, mark: str) -> None:
    """Delete the interfaces of the netns whose ifalias is `mark`, if the netns is still there."""
    if os.path.exists(netns_path):
        _netlink.in_netns(netns_path, _delete_marked, mark)
