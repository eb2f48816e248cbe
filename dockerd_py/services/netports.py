"""Published ports: Docker's port specs, and host-port allocation (ephemeral ports included)."""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .. import errors

PROTOCOLS = ("tcp", "udp", "sctp")

# --------------------------------------------------------------------------


def _port_key(key: str) -> tuple[int, str]:
    port, _, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in PROTOCOLS:
        raise errors.InvalidParameter(f'invalid port specification: "{key}"')
    return int(port), proto


def _host_port_range(spec: str) -> tuple[int, int] | None:
    """None for "pick an ephemeral port", else an inclusive range."""
    spec = (spec or "").strip()
    if spec in ("", "0"):
        return None
    lo, _, hi = spec.partition("-")
    hi = hi or lo
    if not (lo.isdigit() and hi.isdigit()) or not 0 < int(lo) <= int(hi) < 65536:
        raise errors.InvalidParameter(f'invalid port specification: "{spec}"')
    return int(lo), int(hi)


def parse_ports(port_bindings: Mapping[str, Any] | None,
                exposed_ports: Iterable[str] | None,
                default_host_ip: str = "0.0.0.0", ipv6: bool = False) -> tuple[list[dict], list[str]]:
    """Validate HostConfig.PortBindings / Config.ExposedPorts.

    Returns (requests, keys): requests ``{"proto", "container_port", "host_ip",
    "range"}`` per binding, keys every "port/proto" to show in Ports. A binding
    without HostIp gets `default_host_ip` (the network's
    ``com.docker.network.bridge.host_binding_ipv4``) and, on a network with IPv6
    (`ipv6`) when that is 0.0.0.0, a second request for ``::`` that follows it
    (``"follows": True``: the same host port if free), as Docker 27 binds both.
    On an IPv4-only network Docker's userland proxy binds ``::`` too, and an IPv6
    HostIp is accepted: those requests get ``"proxy": True`` (no DNAT; the daemon
    relays them to the container's IPv4 address, `netrelay`). The implicit ``::``
    one is left out when the host cannot listen on IPv6 (`ipv6_listenable`).
    """
    keys: dict[str, None] = {}
    for key in exposed_ports or ():
        port, proto = _port_key(key)
        keys[f"{port}/{proto}"] = None
    requests = []
    for key, bindings in (port_bindings or {}).items():
        port, proto = _port_key(key)
        keys[f"{port}/{proto}"] = None
        for b in bindings or [{}]:
            given = (b or {}).get("HostIp") or ""
            host_ip = given or default_host_ip
            try:
                addr = ipaddress.ip_address(host_ip)
            except ValueError:
                raise errors.InvalidParameter(f'invalid host IP "{host_ip}"') from None
            host_ip = str(addr)
            port_range = _host_port_range((b or {}).get("HostPort", ""))
            requests.append({"proto": proto, "container_port": port, "host_ip": host_ip, "range": port_range,
                             **({"proxy": True} if addr.version == 6 and not ipv6 else {})})
            if not given and host_ip == "0.0.0.0" and (ipv6 or ipv6_listenable()):
                requests.append({"proto": proto, "container_port": port, "host_ip": "::",
                                 "range": port_range, "follows": True, **({} if ipv6 else {"proxy": True})})
    return requests, list(keys)


_PROTO_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}
EXPOSED_PORTS_OPTION = "com.docker.network.endpoint.exposedports"
PORT_MAP_OPTION = "com.docker.network.portmap"


def port_options(port_bindings: Mapping[str, Any] | None, exposed_ports: Iterable[str] | None) -> dict[str, list]:
    """Docker's generic endpoint options for a driver (libnetwork's TransportPort and
    PortBinding JSON): the exposed ports (bound ones included) and each requested binding
    as asked (HostIP "" when not given, HostPort 0 for an ephemeral one). Remote network
    plugins get them in CreateEndpoint, Join and ProgramExternalConnectivity."""
    exposed: dict[tuple[int, str], None] = {}
    portmap = []
    for key in exposed_ports or ():
        exposed[_port_key(key)] = None
    for key, bindings in (port_bindings or {}).items():
        port, proto = _port_key(key)
        exposed[(port, proto)] = None
        for b in bindings or [{}]:
            lo, hi = _host_port_range((b or {}).get("HostPort", "")) or (0, 0)
            portmap.append({"Proto": _PROTO_NUMBERS[proto], "IP": "", "Port": port,
                            "HostIP": (b or {}).get("HostIp") or "", "HostPort": lo, "HostPortEnd": hi})
    return {EXPOSED_PORTS_OPTION: [{"Proto": _PROTO_NUMBERS[proto], "Port": port} for port, proto in exposed],
            PORT_MAP_OPTION: portmap}


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def ipv6_listenable() -> bool:
    """The host can listen on IPv6 (not booted with ipv6.disable=1, nor disable_ipv6 on lo),
    Docker's test before it binds ``::`` for an IPv4-only network."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def is_ipv6(host_ip: str) -> bool:
    return ":" in host_ip


def reserve(host_ip: str, proto: str, port: int) -> socket.socket | None:
    """Hold a host port as Docker's port mapper does (a listening TCP / bound UDP
    socket), so that no other program takes it while it is published; raises OSError
    when it is taken. DNAT sends the traffic to the container before it could reach
    this socket. An IPv6 socket holds IPv6 only (``::`` is not 0.0.0.0 too).
    SCTP ports are not held (None)."""
    if proto == "sctp":
        return None
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET6 if is_ipv6(host_ip) else socket.AF_INET, kind)
    try:
        if is_ipv6(host_ip):
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is no owner
        s.bind((host_ip, port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)  # a [::1] port is relayed from this socket (netrelay)
    except OSError:
        s.close()
        raise
    return s


def _overlaps(a: str, b: str) -> bool:
    """Two host addresses of one port collide: the same, or a wildcard of the same family."""
    if is_ipv6(a) != is_ipv6(b):
        return False
    return a == b or bool({"0.0.0.0", "::"} & {a, b})


def host_port_text(host_ip: str, port: int | str) -> str:
    return f"[{host_ip}]:{port}" if is_ipv6(host_ip) else f"{host_ip}:{port}"


def allocate(requests: list[dict[str, Any]], taken: Iterable[tuple[str, str, int]],
             endpoint: str) -> tuple[list[dict[str, Any]], list[socket.socket]]:
    """Concrete host ports for `requests` (see `parse_ports`), and the sockets holding them.

    `taken` holds ``(host_ip, proto, port)`` of this daemon's bindings;
    `endpoint` is "name (endpoint id)" for Docker's error message (a 500,
    as Docker's). A port that something else on the host holds gives
    Docker's userland-proxy text. On error nothing stays held.
    """
    taken = list(taken)
    out: list[dict[str, Any]] = []
    held: list[socket.socket] = []
    try:
        for req in requests:
            if req.get("follows") and out and req["range"] is None:  # an ephemeral one: the IPv4 one's port
                try:
                    out.append(_allocate_one({**req, "range": (out[-1]["host_port"],) * 2}, taken, endpoint, held))
                    continue
                except errors.SystemErr:
                    pass
            out.append(_allocate_one(req, taken, endpoint, held))
    except BaseException:
        for s in held:
            s.close()
        raise
    return out, held


# Docker's portallocator searches a range from the port after the one it gave last (from the
# range's start after a daemon start), wrapping around: a port just released is not handed out
# again at once. Keyed by host address, protocol and range, as its per-address port ranges.
_LAST: dict[tuple[str, str, int, int], int] = {}


def _in_turn(cursor: tuple[str, str, int, int]) -> Iterator[int]:
    lo, hi = cursor[2], cursor[3]
    start = _LAST.get(cursor, hi) + 1
    start = lo if start > hi else start
    return itertools.chain(range(start, hi + 1), range(lo, start))


def _allocate_one(req: dict[str, Any], taken: list[tuple[str, str, int]], endpoint: str,
                  held: list[socket.socket]) -> dict[str, Any]:
    """One request: the next free port of its range, in turn (an ephemeral one if none given)."""
    lo, hi = req["range"] or _ephemeral_range()
    port, foreign = None, ""
    cursor = (req["host_ip"], req["proto"], lo, hi)
    for candidate in _in_turn(cursor):
        if any(p == req["proto"] and hp == candidate and _overlaps(ip, req["host_ip"])
               for ip, p, hp in taken):
            continue
        try:
            sock = reserve(req["host_ip"], req["proto"], candidate)
        except OSError as exc:  # Go's text of the errno: lower case
            foreign = (exc.strerror or "address already in use")
            foreign = foreign[0].lower() + foreign[1:]
            continue
        if sock is not None:
            held.append(sock)
        port = candidate
        break
    if port is None:
        prefix = f"driver failed programming external connectivity on endpoint {endpoint}: "
        if foreign and lo == hi:
            raise errors.SystemErr(
                f"{prefix}Error starting userland proxy: listen {req['proto']}{6 if is_ipv6(req['host_ip']) else 4} "
                f"{host_port_text(req['host_ip'], lo)}: bind: {foreign}")
        if lo != hi:  # a range (or the ephemeral one) with no port left: Docker's portallocator text
            raise errors.SystemErr(f"{prefix}all ports are allocated")
        raise errors.SystemErr(f"{prefix}Bind for {host_port_text(req['host_ip'], lo)} failed: port is already allocated")
    taken.append((req["host_ip"], req["proto"], port))
    if lo != hi:
        _LAST[cursor] = port
    return {"proto": req["proto"], "container_port": req["container_port"],
            "host_ip": req["host_ip"], "host_port": port, **({"proxy": True} if req.get("proxy") else {})}


def ports_json(port_keys: Iterable[str], bindings: Iterable[Mapping[str, Any]]
               ) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed key, with its host bindings."""
    ports: dict[str, list[dict[str, str]] | None] = {k: None for k in port_keys}
    for b in bindings:
        key = f"{b['container_port']}/{b['proto']}"
        ports[key] = (ports.get(key) or []) + [
            {"HostIp": b["host_ip"], "HostPort": str(b["host_port"])}]
    return ports
