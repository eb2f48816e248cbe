"""Daemon-wide settings of the default bridge network and of the bridge driver.

dockerd's ``--icc``, ``--ip``, ``--mtu``, ``--fixed-cidr``, ``--default-gateway``, ``--ip-masq``,
``--iptables`` and ``--ip-forward`` (daemon.json ``icc``, ``ip``, ``mtu``, ``fixed-cidr``,
``default-gateway``, ``ip-masq``, ``iptables``, ``ip-forward``; their syntax is goflags'):
checked at start-up with dockerd's texts and turned into what they mean (`resolve`):

- ``-b``/``--bridge`` with ``--bip`` is refused, as by dockerd; a ``-b`` bridge that exists with an
  IPv4 address gives the default bridge its subnet and gateway, as Docker elects the bridge's address
  (one missing is created, with ``--bip``'s default or ``--fixed-cidr``'s subnet);

- the default ``bridge`` network's driver options, as ``docker network inspect bridge`` shows
  them: ``enable_icc`` (ICC off is the driver's per-network ICC, the same rule as on user
  networks), ``enable_ip_masquerade``, ``host_binding_ipv4`` (the host address of ``-p`` without
  one) and ``driver.mtu`` (the MTU of the containers' eth0 and of the bridge, set at every start);
- its IPAM entry: containers get addresses from ``--fixed-cidr`` (shown as IPRange). Without
  ``--bip`` the subnet is the fixed-cidr's, as Docker's. A fixed-cidr not inside the ``--bip``
  subnet is no start-up error in Docker (20.10 and 27 start with it; 28 drops it and makes the
  whole subnet allocatable, moby's TestDaemonDefaultBridgeIPAM_UserBr): dropped here too, with a
  warning. ``--default-gateway`` is its auxiliary address ``DefaultGatewayIPv4``: the containers'
  default route and ``Gateway``, never given to a container;
- for every bridge network (`driver_options`): ``iptables=false`` makes no netfilter state at all
  (ports are then relayed in userland, as Docker's docker-proxy serves them, and ip-masq is off),
  ``ip-forward=false`` leaves ``net.ipv4.ip_forward`` alone.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Any

from . import goflags

log = logging.getLogger(__name__)

DEFAULT_MTU = 1500
_MTU_RANGE = (68, 65535)  # what the kernel accepts for a bridge (ETH_MIN_MTU, ETH_MAX_MTU)
# daemon.json: the JSON types dockerd's Config takes for these options, and their Go types
FILE_TYPES: goflags.JsonTypes = {
    "icc": ((bool,), "bool"), "ip": ((str,), "string"), "mtu": ((int,), "int"), "fixed_cidr": ((str,), "string"),
    "default_gateway": ((str,), "string"), "ip_masq": ((bool,), "bool"), "iptables": ((bool,), "bool"),
    "ip_forward": ((bool,), "bool"),
}


@dataclass(frozen=True)
class BridgeSettings:
    """What the flags mean for the default bridge and the bridge driver (see the module)."""

    icc: bool = True
    ip: str = "0.0.0.0"
    mtu: int = DEFAULT_MTU
    fixed_cidr: str = ""     # canonical; "" when none (or dropped)
    ip_masq: bool = True
    iptables: bool = True
    ip_forward: bool = True
    show_gateway: bool = True  # False when the subnet came from --fixed-cidr alone (Docker shows none)
    default_gateway: str = ""  # the containers' default route, when not the bridge's address

    def options(self, bridge_name: str) -> dict[str, str]:
        """The default bridge network's Options."""
        return {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": _text(self.icc),
            "com.docker.network.bridge.enable_ip_masquerade": _text(self.ip_masq),
            "com.docker.network.bridge.host_binding_ipv4": self.ip,
            "com.docker.network.bridge.name": bridge_name,
            "com.docker.network.driver.mtu": str(self.mtu),
        }

    def ipam(self, bip: ipaddress.IPv4Interface) -> tuple[dict[str, str], dict[str, str]]:
        """The default bridge's IPAM entry: (as shown by inspect, as used)."""
        used = {"Subnet": str(bip.network), **({"IPRange": self.fixed_cidr} if self.fixed_cidr else {}),
                "Gateway": str(bip.ip)}
        if self.default_gateway:
            used["AuxiliaryAddresses"] = {"DefaultGatewayIPv4": self.default_gateway}
        shown = dict(used) if self.show_gateway else {k: v for k, v in used.items() if k != "Gateway"}
        return shown, used

    def driver_options(self) -> dict[str, str]:
        """Create options every bridge network's driver gets (not shown by inspect)."""
        return {"dockerd-py.iptables": _text(self.iptables), "dockerd-py.ip_forward": _text(self.ip_forward)}


def _text(flag: bool) -> str:
    return "true" if flag else "false"


def resolve(cfg: Any, bip_given: bool, bridge_given: bool = False) -> BridgeSettings:
    """Check the settings of `cfg` (a DaemonConfig), --bip's and -b's too, as dockerd does at start-up
    (ValueError with dockerd's text) and return what they mean. Sets ``cfg.bip`` from the -b bridge or
    --fixed-cidr when --bip was not given, and normalises ``cfg.mtu`` (0: the default), ``cfg.ip`` and
    ``cfg.fixed_cidr``."""
    if bip_given and bridge_given and cfg.bip:
        raise ValueError("You specified -b & --bip, mutually exclusive options. Please specify only one")
    if bridge_given:
        address = bridge_address(cfg.bridge)
        if address:
            cfg.bip, bip_given = address, True
    cfg.ip = _ip(cfg.ip) if cfg.ip else "0.0.0.0"  # daemon.json "ip": "" is the default, as in dockerd
    if cfg.default_gateway:
        cfg.default_gateway = _ip(cfg.default_gateway, "--default-gateway")
    if cfg.mtu < 0:  # dockerd's config validation
        raise ValueError(f"invalid default MTU: {cfg.mtu}")
    if not cfg.icc and not cfg.iptables:
        raise ValueError("You specified --iptables=false with --icc=false. ICC=false uses iptables to function. "
                         "Please set --icc or --iptables to true")
    if not cfg.iptables:
        cfg.ip_masq = False
    if cfg.mtu == 0:
        cfg.mtu = DEFAULT_MTU
    if not _MTU_RANGE[0] <= cfg.mtu <= _MTU_RANGE[1]:  # what the kernel answers making the bridge
        raise ValueError('Error initializing network controller: Error creating default "bridge" network: '
                         "invalid argument")
    if cfg.fixed_cidr:
        try:
            fixed = ipaddress.ip_network(cfg.fixed_cidr, strict=False)
        except ValueError:
            raise ValueError(f"Error initializing network controller: invalid CIDR address: {cfg.fixed_cidr}") from None
        if fixed.version != 4:
            raise ValueError('Error initializing network controller: Error creating default "bridge" network: '
                             "pool and subpool are of incompatible address families")
        cfg.fixed_cidr = str(fixed)
        if not bip_given:
            cfg.bip = f"{_first_host(fixed)}/{fixed.prefixlen}"
    return _settings(cfg, _bip(cfg.bip), bip_given)


_SIOCGIFADDR, _SIOCGIFNETMASK = 0x8915, 0x891B


def bridge_address(name: str) -> str | None:
    """The (primary) IPv4 address of link `name` as CIDR; None when it has none or does not exist."""
    request = struct.pack("16s16x", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            address = fcntl.ioctl(s, _SIOCGIFADDR, request)[20:24]
            netmask = fcntl.ioctl(s, _SIOCGIFNETMASK, request)[20:24]
        except OSError:
            return None
    return str(ipaddress.IPv4Interface(f"{socket.inet_ntoa(address)}/{socket.inet_ntoa(netmask)}"))


def _bip(text: str) -> ipaddress.IPv4Network:
    """The --bip subnet; dockerd's texts for a bad one."""
    try:
        bip = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(f"Error initializing network controller: invalid CIDR address: {text}") from None
    if bip.network.prefixlen < 31 and bip.ip in (bip.network.network_address, bip.network.broadcast_address):
        raise ValueError('Error initializing network controller: Error creating default "bridge" network: '
                         f"failed to allocate gateway ({bip.ip}): Address already in use")
    return bip.network


def _ip(text: str, flag: str = "--ip") -> str:
    """A daemon.json address: the flag's text when it is none."""
    try:
        return goflags.parse_ip(text)
    except ValueError as e:
        raise ValueError(goflags.flag_error(flag, text, e)) from None


def _first_host(net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return next(iter(net.hosts())) if net.prefixlen < 31 else net.network_address


def _settings(cfg: Any, subnet: ipaddress.IPv4Network, bip_given: bool) -> BridgeSettings:
    fixed = cfg.fixed_cidr
    gateway = cfg.default_gateway
    if gateway and ipaddress.ip_address(gateway) not in subnet:
        raise ValueError('Error initializing network controller: Error creating default "bridge" network: '
                         f"auxiliary address: (DefaultGatewayIPv4:{gateway}) must belong to the master pool: {subnet}")
    if fixed:
        if not ipaddress.IPv4Network(fixed).subnet_of(subnet):
            log.warning("fixed-cidr %s is not inside the default bridge's subnet %s: ignored, "
                        "the whole subnet is allocatable", fixed, subnet)
            fixed = ""
    return BridgeSettings(icc=cfg.icc, ip=cfg.ip, mtu=cfg.mtu, fixed_cidr=fixed, ip_masq=cfg.ip_masq,
                          iptables=cfg.iptables, ip_forward=cfg.ip_forward,
                          show_gateway=bip_given or not cfg.fixed_cidr, default_gateway=gateway)
