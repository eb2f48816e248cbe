"""IPv4 and IPv6 address management of the daemon's networks (Docker's `default` IPAM driver).

- default address pools: where a network without ``--subnet`` gets one
  (Docker's defaults: 172.17..31.0.0/16, then 192.168.x.0/20; configurable
  with ``--default-address-pool base=CIDR,size=N`` / daemon.json
  ``default-address-pools``); a pool subnet that overlaps one of the
  daemon's networks or a route of the host is skipped;
- validation of a network's IPAM config with Docker's messages;
- per-network address allocation: lowest free address of the ip-range (or
  the subnet), never the subnet's network, broadcast, gateway or auxiliary
  addresses (an ip-range's own first and last addresses are allocatable, as
  with Docker: ``--ip-range 10.0.0.128/25`` starts at 10.0.0.128);
- IPv6 (``--ipv6``): at most one IPv6 subnet beside the IPv4 one; without
  one, a /64 of the daemon's ULA prefix (`default_ipv6_pool`), as Engine 27+.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .. import errors

IPv4Net = ipaddress.IPv4Network
AnyNet = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_POOLS: tuple[tuple[str, int], ...] = tuple(
    [(f"172.{n}.0.0/16", 16) for n in range(17, 32)] + [("192.168.0.0/16", 20)])

OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"


def parse_pool(spec: str | Mapping[str, Any]) -> tuple[IPv4Net, int]:
    """``base=10.10.0.0/16,size=24`` (flag) or ``{"base": ..., "size": ...}`` (daemon.json)."""
    if isinstance(spec, str):
        fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    else:
        fields = {k.lower(): v for k, v in spec.items()}
    try:
        base = ipaddress.IPv4Network(str(fields["base"]), strict=True)
        size = int(fields["size"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"invalid default address pool {spec!r}: {exc}") from None
    if not base.prefixlen <= size <= 32:
        raise ValueError(f"invalid default address pool {spec!r}: size {size} must be between "
                         f"{base.prefixlen} and 32")
    return base, size


def host_routes() -> list[IPv4Net]:
    """Destinations of the host's IPv4 routes (default route excluded), from /proc/net/route."""
    out = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        words = line.split()
        if len(words) < 8:
            continue
        dst = int(words[1], 16).to_bytes(4, "little")
        mask = int(words[7], 16).to_bytes(4, "little")
        net = ipaddress.IPv4Network((bytes(dst), bin(int.from_bytes(mask, "big")).count("1")), strict=False)
        if net.prefixlen:
            out.append(net)
    return out


def allocate_subnet(pools: Sequence[tuple[IPv4Net, int]], used: Iterable[IPv4Net]) -> IPv4Net:
    """The first pool subnet that overlaps neither `used` nor a host route."""
    taken = list(used) + host_routes()
    for base, size in pools:
        for candidate in base.subnets(new_prefix=size):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
    raise errors.Forbidden("could not find an available, non-overlapping IPv4 address pool "
                           "among the defaults to assign to the network")


def default_ipv6_pool(seed: str) -> ipaddress.IPv6Network:
    """The daemon's ULA /48 (fd00::/8 and a 40-bit global id derived from `seed`, e.g. the data root)."""
    gid = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:5], "big")
    return ipaddress.IPv6Network(((0xFD << 120) | (gid << 80), 48))


def allocate_subnet6(pool: ipaddress.IPv6Network, used: Iterable[AnyNet]) -> ipaddress.IPv6Network:
    """The first /64 of `pool` that overlaps nothing in `used`."""
    taken = [u for u in used if u.version == 6]
    for candidate in pool.subnets(new_prefix=64):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise errors.Forbidden("could not find an available, non-overlapping IPv6 address pool "
                           "among the defaults to assign to the network")


def _cidr(kind: str, value: str) -> tuple[AnyNet | None, list[str]]:
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        return None, [f"invalid {kind} {value}: invalid CIDR block notation"]
    net = iface.network
    if iface.ip != net.network_address:
        return net, [f"invalid {kind} {value}: it should be {net}"]
    return net, []


def _address(kind: str, value: str, subnet: AnyNet) -> list[str]:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return [f"invalid {kind}: invalid address"]
    if addr.version != subnet.version:
        return [f"invalid {kind}: parent subnet is an IPv{subnet.version} block"]
    if addr not in subnet:
        return [f"invalid {kind}: parent subnet {subnet} doesn't contain this address"]
    return []


def validate(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check IPAM.Config entries as Docker does; return them normalized.

    Errors are joined under "invalid network config:" (a 400). At most one
    subnet per address family.
    """
    problems: list[str] = []
    out = []
    for cfg in configs:
        subnet_text = cfg.get("Subnet") or ""
        entry: dict[str, Any] = {}
        if not subnet_text:
            if cfg.get("IPRange") or cfg.get("Gateway") or cfg.get("AuxiliaryAddresses"):
                problems.append("ip-range, gateway and auxiliary addresses need a subnet")
            continue
        subnet, errs = _cidr("subnet", subnet_text)
        problems += errs
        if subnet is None or errs:
            continue
        entry["Subnet"] = str(subnet)
        if cfg.get("IPRange"):
            rng, errs = _cidr("ip-range", cfg["IPRange"])
            problems += errs
            if rng is not None and not errs:
                if rng.version == subnet.version and rng.prefixlen < subnet.prefixlen:
                    problems.append(f"invalid ip-range {rng}: CIDR block is bigger than its parent subnet {subnet}")
                elif rng.version != subnet.version or not rng.subnet_of(subnet):  # type: ignore[arg-type]
                    problems.append(f"invalid ip-range {rng}: parent subnet {subnet} doesn't contain ip-range")
                else:
                    entry["IPRange"] = str(rng)
        if cfg.get("Gateway"):
            errs = _address(f"gateway {cfg['Gateway']}", cfg["Gateway"], subnet)
            problems += errs
            if not errs:
                entry["Gateway"] = str(ipaddress.ip_address(cfg["Gateway"]))
        aux = cfg.get("AuxiliaryAddresses") or cfg.get("AuxAddress") or {}
        for name, addr in aux.items():
            problems += _address(f"auxiliary address {name}", addr, subnet)
        if aux:
            entry["AuxiliaryAddresses"] = dict(aux)
        out.append(entry)
    for version in (4, 6):
        if sum(1 for e in out if ipaddress.ip_network(e["Subnet"]).version == version) > 1:
            problems.append(f"this daemon supports one IPv{version} subnet per network")
    if problems:
        joined = problems[0] if len(problems) == 1 else "* " + "\n* ".join(problems)
        raise errors.InvalidParameter(f"invalid network config:\n{joined}")
    return out


def complete(entry: dict[str, Any]) -> dict[str, Any]:
    """Fill in the gateway: the first address of the ip-range, else of the subnet."""
    if not entry.get("Gateway"):
        subnet = ipaddress.ip_network(entry["Subnet"])
        first = next(a for a in _candidates(entry) if a != subnet.network_address)
        entry["Gateway"] = str(first)
    return entry


def _hosts(net: AnyNet) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    if net.prefixlen >= 31:
        yield from net
    else:
        yield from net.hosts()


def _candidates(entry: Mapping[str, Any]) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of the ip-range (all of them: Docker's range is a window of the subnet's
    bitmap), else the subnet's hosts."""
    rng = ipaddress.ip_network(entry.get("IPRange") or entry["Subnet"])
    return iter(rng) if entry.get("IPRange") and rng != ipaddress.ip_network(entry["Subnet"]) else _hosts(rng)


def reserved(entry: Mapping[str, Any]) -> set[str]:
    """Addresses no endpoint may get: gateway and auxiliary addresses."""
    out = {entry.get("Gateway") or ""}
    out.update((entry.get("AuxiliaryAddresses") or {}).values())
    return out


def allocate(entry: Mapping[str, Any], used: set[str], network_name: str) -> str:
    """The lowest free address of the ip-range (or subnet)."""
    subnet = ipaddress.ip_network(entry["Subnet"])
    skip = used | reserved(entry) | {str(subnet.network_address), str(subnet.broadcast_address)}
    for addr in _candidates(entry):
        if str(addr) not in skip:
            return str(addr)
    raise errors.Unavailable(f"no available IPv{subnet.version} addresses on this network's address pools: "
                             f"{network_name}")


def check_requested(entry: Mapping[str, Any], address: str, used: set[str]) -> str:
    """A user-chosen address (``--ip``): inside the subnet, free."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        raise errors.InvalidParameter(f"invalid endpoint settings:\ninvalid IPv{version(entry)} address: "
                                      f"{address}") from None
    subnet = ipaddress.ip_network(entry["Subnet"])
    if addr.version != subnet.version or addr not in subnet:
        raise errors.InvalidParameter(
            f"invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {address}")
    if str(addr) in used | reserved(entry) or addr in (subnet.network_address, subnet.broadcast_address):
        raise errors.Forbidden("Address already in use")
    return str(addr)


def version(entry: Mapping[str, Any]) -> int:
    """4 or 6: the address family of an IPAM config entry."""
    return ipaddress.ip_network(entry["Subnet"], strict=False).version


def endpoint_ipam_json(value: Any) -> dict | None:
    """An endpoint's IPAMConfig as Docker stores and shows it: null when the request had
    none, else its set fields (all omitempty): ``{}`` when given empty, as compose sends it."""
    if not isinstance(value, Mapping):
        return None
    return {k: v for k, v in value.items() if v}
