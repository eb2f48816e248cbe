"""Private kernel helpers of the bridge driver: links, addresses, routes, sysctls.

Every netlink request goes through pyroute2's `IPRoute`; nothing here
touches an interface the caller did not name. Attaching a container stays
at a few milliseconds because no process is ever forked:

- pyroute2 enters a namespace (``IPRoute(netns=...)``, ``NetNS``) by forking
  a helper. But a netlink socket belongs to the network namespace of the
  thread that opens it, so the container's side is configured with a plain
  ``IPRoute()`` opened on a short-lived thread that has setns()'d into the
  sandbox (`in_netns`) and closed before that thread ends;
- the container's eth0 is created directly inside the sandbox (the veth
  peer carries IFLA_NET_NS_FD), never moved there.

An `IPRoute` of pyroute2 0.9 keeps a socket and an asyncio event loop per
calling thread, so one object shared by the daemon's threads (even under a
lock) would open a socket per thread and a new loop per call. The host's
requests therefore go to one `IPRoute` owned by one worker thread (`_host`),
which also serializes them.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import queue
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetlinkError

from dockerd_py.services import netns

_RTPROT_BOOT = 3  # the protocol ip(8) gives routes it adds
T = TypeVar("T")
_Job = tuple[Callable[..., Any], tuple[Any, ...], "Future[Any]"]


def _open() -> IPRoute:
    """An IPRoute in the calling thread's network namespace, joined to no
    multicast group (pyroute2's default would queue every link, address and
    route event of the namespace until the socket is closed)."""
    return IPRoute(groups=0)


# --------------------------------------------------------------------------
# the host's namespace
# --------------------------------------------------------------------------


class _HostRtnl:
    """One IPRoute in the host's namespace, opened and used by one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job] | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(ipr, *args) on the owner thread; its result or exception."""
        with self._lock:
            if self._jobs is None:
                # the thread starts in its starter's namespace: the host's, as
                # nothing calls here from inside `in_netns`
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._jobs,), name="rtnl-host",
                                 daemon=True).start()
            done: Future[T] = Future()
            self._jobs.put((fn, args, done))
        return done.result()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
        ipr: IPRoute | None = None
        while True:
            fn, args, done = jobs.get()
            try:
                if ipr is None:
                    ipr = _open()
                done.set_result(fn(ipr, *args))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)


_host = _HostRtnl()
# a forked child has the object but not the thread: it starts its own
os.register_at_fork(after_in_child=_host.__init__)


# --------------------------------------------------------------------------
# sandboxes' namespaces
# --------------------------------------------------------------------------

in_netns = netns.in_netns  # fn(*args) inside a sandbox's namespace, on a thread of its own


# --------------------------------------------------------------------------
# what the driver does
# --------------------------------------------------------------------------


def _link(ipr: IPRoute, name: str) -> tuple[str, str] | None:
    try:
        link = ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise
    info = link.get_attr("IFLA_LINKINFO")
    kind = (info.get_attr("IFLA_INFO_KIND") if info else "") or ""
    return kind, link.get_attr("IFLA_IFALIAS") or ""


def link_info(name: str) -> tuple[str, str] | None:
    """(kind, ifalias) of link `name`; kind "" for plain devices; None if absent."""
    return _host.run(_link, name)


_IFA_F_NODAD = 0x02


def _add_address(ipr: IPRoute, index: int, address: str) -> None:
    """Add an address (CIDR) to a link; one it already has is fine. IPv6 without
    duplicate address detection (the daemon's IPAM made it unique), IPv4 with the subnet's
    broadcast address (below /31), as Docker's netlink library sets it."""
    iface = ipaddress.ip_interface(address)
    extra: dict = {"flags": _IFA_F_NODAD} if iface.version == 6 else {}
    if iface.version == 4 and iface.network.prefixlen < 31:
        extra["broadcast"] = str(iface.network.broadcast_address)
    try:
        ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, **extra)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _ensure_bridge(ipr: IPRoute, name: str, address: str, mtu: int, owner: str) -> bool:
    created = _link(ipr, name) is None
    if created:
        ipr.link("add", ifname=name, kind="bridge", **({"mtu": mtu} if mtu else {}))
        ipr.link("set", index=socket.if_nametoindex(name), ifalias=owner)
    index = socket.if_nametoindex(name)
    if mtu and not created and ipr.link("get", index=index)[0].get_attr("IFLA_MTU") != mtu:
        ipr.link("set", index=index, mtu=mtu)
    _add_address(ipr, index, address)
    ipr.link("set", index=index, state="up")
    return created


def ensure_bridge(name: str, address: str, mtu: int, owner: str) -> bool:
    """Create bridge `name` if missing; give it `address` (CIDR) and `mtu` (0: the kernel's, then
    its ports' smallest), an existing bridge too, as Docker 26+ does at every start; bring it up.

    A bridge made here carries `owner` as its ifalias, the mark that lets a
    later process know it may delete it. Returns True if created now.
    """
    return _host.run(_ensure_bridge, name, address, mtu, owner)


def _delete_link(ipr: IPRoute, name: str) -> bool:
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return False
        raise
    return True


def delete_link(name: str) -> None:
    """Delete link `name` if it exists (a veth's peer goes with it)."""
    _host.run(_delete_link, name)


def _add_veth(ipr: IPRoute, host: str, bridge: str, mtu: int, netns_fd: int,
              ifname: str, mac: str, isolated: bool) -> None:
    spec = {"ifname": host, "kind": "veth", "mtu": mtu, "state": "up",
            "master": socket.if_nametoindex(bridge),
            "peer": {"ifname": ifname, "mtu": mtu, "address": mac, "net_ns_fd": netns_fd}}
    try:
        ipr.link("add", **spec)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST or not _delete_link(ipr, host):
            raise
        ipr.link("add", **spec)  # `host` was a leftover of a crashed attach
    # hairpin: with br_netfilter loaded, a container reaching its own published
    # port gets its DNATed frame bridged back out of the port it came in on.
    # Sent as `ip link set <host> type bridge_slave hairpin on` sends it
    # (IFLA_INFO_SLAVE_KIND): pyroute2's brport() puts "bridge_slave" in
    # IFLA_INFO_KIND, a link type recent kernels look up, and may try to
    # modprobe, on every request. An isolated port (ICC off) forwards only
    # to the bridge itself, never to another isolated port.
    port = [("IFLA_BRPORT_MODE", 1)] + ([("IFLA_BRPORT_ISOLATED", 1)] if isolated else [])
    ipr.link("set", index=socket.if_nametoindex(host), IFLA_LINKINFO={"attrs": [
        ("IFLA_INFO_SLAVE_KIND", "bridge"),
        ("IFLA_INFO_SLAVE_DATA", {"attrs": port})]})


def create_veth(host: str, bridge: str, mtu: int, netns_path: str, ifname: str,
                mac: str, address: str, gateway: str, isolated: bool = False,
                address6: str = "", gateway6: str = "") -> None:
    """Create a veth pair: `host` enslaved to `bridge`, hairpin (and
    isolated if asked), up; its peer made directly inside the netns file as
    `ifname` with `mac`, given `address` (CIDR) and a default route via
    `gateway` (none if ""), then brought up. `address6`/`gateway6`: the same
    for IPv6 (none: IPv6 is off on the interface)."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _host.run(_add_veth, host, bridge, mtu, fd, ifname, mac, isolated)
    finally:
        os.close(fd)
    in_netns(netns_path, _configure_inside, ifname, address, gateway, address6, gateway6)


def _configure_inside(ifname: str, address: str, gateway: str, address6: str = "", gateway6: str = "") -> None:
    # no IPv6 on this network: like Engine 26+, no link-local address on the
    # interface either (set before it goes up, so none is ever configured)
    if os.path.exists("/proc/sys/net/ipv6"):
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("0" if address6 else "1")
    index = socket.if_nametoindex(ifname)
    with _open() as ipr:  # opened here, on a thread inside the sandbox
        _add_address(ipr, index, address)
        if address6:
            _add_address(ipr, index, address6)
        ipr.link("set", index=index, state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway, proto=_RTPROT_BOOT)
        if gateway6:
            ipr.route("add", dst="::/0", gateway=gateway6, proto=_RTPROT_BOOT)


def add_address(name: str, address: str) -> None:
    """Give link `name` one more address (CIDR); one it has already is fine."""
    _host.run(lambda ipr: _add_address(ipr, socket.if_nametoindex(name), address))


def replace_default_route(gateway: str) -> None:
    """Set the default route of the calling thread's namespace to `gateway` (run in_netns)."""
    with _open() as ipr:
        ipr.route("replace", dst="::/0" if ":" in gateway else "0.0.0.0/0", gateway=gateway, proto=_RTPROT_BOOT)


def set_sysctl(key: str, value: str) -> None:
    """Write /proc/sys/<key> (dots or slashes) if it differs."""
    path = "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key
    with open(path) as f:
        if f.read().strip() == value:
            return
    with open(path, "w") as f:
        f.write(value)
