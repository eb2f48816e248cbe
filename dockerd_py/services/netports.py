"""Published ports: Docker's port specs, and host-port allocation (ephemeral ports included)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
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
                default_host_ip: str = "0.0.0.0") -> tuple[list[dict], list[str]]:
    """Validate HostConfig.PortBindings / Config.ExposedPorts.

    Returns (requests, keys): requests ``{"proto", "container_port", "host_ip",
    "range"}`` per binding, keys every "port/proto" to show in Ports. A binding
    without HostIp gets `default_host_ip` (the network's
    ``com.docker.network.bridge.host_binding_ipv4``).
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
            host_ip = (b or {}).get("HostIp") or default_host_ip
            try:
                addr = ipaddress.ip_address(host_ip)
            except ValueError:
                raise errors.InvalidParameter(f'invalid host IP "{host_ip}"') from None
            if addr.version != 4:
                raise errors.InvalidParameter(
                    f"IPv6 port bindings are not supported: {host_ip}")
            requests.append({"proto": proto, "container_port": port, "host_ip": host_ip,
                             "range": _host_port_range((b or {}).get("HostPort", ""))})
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


def reserve(host_ip: str, proto: str, port: int) -> socket.socket | None:
    """Hold a host port as Docker's port mapper does (a listening TCP / bound UDP
    socket), so that no other program takes it while it is published; raises OSError
    when it is taken. DNAT sends the traffic to the container before it could reach
    this socket. SCTP ports are not held (None)."""
    if proto == "sctp":
        return None
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is no owner
        s.bind((host_ip, port))
        if kind == socket.SOCK_STREAM:
            s.listen(1)
    except OSError:
        s.close()
        raise
    return s


def _overlaps(a: str, b: str) -> bool:
    return a == b or "0.0.0.0" in (a, b)




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
            out.append(_allocate_one(req, taken, endpoint, held))
    except BaseException:
        for s in held:
            s.close()
        raise
    return out, held


def _allocate_one(req: dict[str, Any], taken: list[tuple[str, str, int]], endpoint: str,
                  held: list[socket.socket]) -> dict[str, Any]:
    """One request: the lowest free port of its range (an ephemeral one if none given)."""
    lo, hi = req["range"] or _ephemeral_range()
    port, foreign = None, False
    for candidate in range(lo, hi + 1):
        if any(p == req["proto"] and hp == candidate and _overlaps(ip, req["host_ip"])
               for ip, p, hp in taken):
            continue
        try:
            sock = reserve(req["host_ip"], req["proto"], candidate)
        except OSError:
            foreign = True
            continue
        if sock is not None:
            held.append(sock)
        port = candidate
        break
    if port is None:
        prefix = f"driver failed programming external connectivity on endpoint {endpoint}: "
        if foreign and lo == hi:
            raise errors.SystemErr(
                f"{prefix}Error starting userland proxy: listen {req['proto']}4 "
                f"{req['host_ip']}:{lo}: bind: address already in use")
        where = f"{req['host_ip']}:{lo}" if lo == hi else f"{req['host_ip']}:{lo}-{hi}"
        raise errors.SystemErr(f"{prefix}Bind for {where} failed: port is already allocated")
    taken.append((req["host_ip"], req["proto"], port))
    return {"proto": req["proto"], "container_port": req["container_port"],
            "host_ip": req["host_ip"], "host_port": port}


def ports_json(port_keys: Iterable[str], bindings: Iterable[Mapping[str, Any]]
               ) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed key, with its host bindings."""
    ports: dict[str, list[dict[str, str]] | None] = {k: None for k in port_keys}
    for b in bindings:
        key = f"{b['container_port']}/{b['proto']}"
        ports[key] = (ports.get(key) or []) + [
            {"HostIp": b["host_ip"], "HostPort": str(b["host_port"])}]
    return ports
