"""Private kernel helpers of the bridge driver: links, addresses, routes, sysctls.

Everything goes through pyroute2; nothing here touches an interface the
caller did not name.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
from pyroute2 import IPRoute, NetlinkError

_EEXIST = 17
_ENODEV = 19


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_info(name: str) -> tuple[str, str] | None:
    """(kind, ifalias) of link `name`; kind "" for plain devices; None if absent."""
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return None
        link = ipr.get_links(idx)[0]
        info = link.get_attr("IFLA_LINKINFO")
        kind = (info.get_attr("IFLA_INFO_KIND") if info else "") or ""
        return kind, link.get_attr("IFLA_IFALIAS") or ""


def ensure_bridge(name: str, address: str, mtu: int, owner: str) -> bool:
    """Create bridge `name` if missing; give it `address` (CIDR); bring it up.

    A bridge made here carries `owner` as its ifalias, the mark that lets a
    later process know it may delete it. Returns True if created now.
    """
    iface = ipaddress.ip_interface(address)
    created = False
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            idx = _index(ipr, name)
            ipr.link("set", index=idx, ifalias=owner)
            created = True
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in ipr.get_addr(index=idx, family=2)
        }
        if (str(iface.ip), iface.network.prefixlen) not in have:
            ipr.addr("add", index=idx, address=str(iface.ip),
                     prefixlen=iface.network.prefixlen)
        ipr.link("set", index=idx, state="up")
    return created


def delete_link(name: str) -> None:
    """Delete link `name` if it exists (a veth's peer goes with it)."""
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return
        try:
            ipr.link("del", index=idx)
        except NetlinkError as exc:
            if exc.code != _ENODEV:
                raise


def create_veth(host: str, peer: str, bridge: str, mtu: int) -> None:
    """Create veth pair host<->peer, host side enslaved to `bridge` and up."""
    with IPRoute() as ipr:
        if _index(ipr, host) is not None:  # a leftover of a crashed attach
            ipr.link("del", index=_index(ipr, host))
        ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer, "mtu": mtu}, mtu=mtu)
        br = _index(ipr, bridge)
        hidx = _index(ipr, host)
        ipr.link("set", index=hidx, master=br)
        ipr.link("set", index=hidx, state="up")
    # hairpin: with br_netfilter loaded, a container reaching its own published
    # port gets its DNATed frame bridged back out of the port it came in on
    with open(f"/sys/class/net/{host}/brport/hairpin_mode", "w") as f:
        f.write("1")


def move_to_netns(peer: str, netns_path: str, ifname: str, mac: str,
                  address: str, gateway: str) -> None:
    """Move `peer` into the netns file, rename it, set MAC/address/default route."""
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        with IPRoute() as ipr:
            idx = _index(ipr, peer)
            if idx is None:
                raise RuntimeError(f"interface {peer} not found")
            ipr.link("set", index=idx, net_ns_fd=fd)
    finally:
        os.close(fd)
    iface = ipaddress.ip_interface(address)
    with IPRoute(netns=netns_path, flags=0) as ns:
        idx = _index(ns, peer)
        ns.link("set", index=idx, ifname=ifname, address=mac)
        ns.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        ns.link("set", index=idx, state="up")
        if gateway:
            ns.route("add", dst="0.0.0.0/0", gateway=gateway, proto=3)  # "boot", as ip(8)
    # no IPv6 on this network: like Engine 26+, no link-local address on eth0 either
    netns_sysctl(netns_path, f"net/ipv6/conf/{ifname}/disable_ipv6", "1")


def netns_sysctl(netns_path: str, key: str, value: str) -> None:
    """Write /proc/sys/<key> as seen from inside a netns (in a forked child)."""
    if not os.path.exists("/proc/sys/net/ipv6"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if libc.setns(fd, 0x40000000) == 0:
                    out = os.open(f"/proc/sys/{key}", os.O_WRONLY)
                    os.write(out, value.encode())
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"cannot set {key} in {netns_path}")


def set_sysctl(key: str, value: str) -> None:
    """Write /proc/sys/<key> (dots or slashes) if it differs."""
    path = "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key
    with open(path) as f:
        if f.read().strip() == value:
            return
    with open(path, "w") as f:
        f.write(value)

