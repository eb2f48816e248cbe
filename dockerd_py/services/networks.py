"""NetworkService: predefined networks, default IPAM, sandboxes and endpoints.

The containers service calls only this class (contracts.md §5). Drivers are
reached through `dockerd_py.pluginhost` (``network.<driver>``); this module
owns what is driver-independent:

- the predefined networks ``bridge``/``host``/``none`` (ids persisted in
  ``<data-root>/network/networks.json``);
- IPv4 allocation on the default bridge (lowest free address from the one
  after the gateway; one record per attached container in
  ``<data-root>/network/endpoints/<id>.json`` is the allocation table, so a
  restarted daemon keeps the addresses of running containers);
- host-port allocation for published ports (ephemeral ports included);
- sandboxes: ``<exec-root>/netns/<container-id>``, a bind mount of a new
  network namespace with ``lo`` up.
"""

from __future__ import annotations

import ctypes
import datetime
import errno
import fcntl
import ipaddress
import logging
import os
import re
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..pluginhost import PluginHost
from ..state import atomic

log = logging.getLogger(__name__)

PREDEFINED = (("none", "null"), ("host", "host"), ("bridge", "bridge"))
PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass
class Sandbox:
    """What a container needs from the network layer to start."""

    netns_path: str | None
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, list[dict[str, str]] | None] = field(default_factory=dict)
    sandbox_key: str = ""
    sandbox_id: str = ""


# --------------------------------------------------------------------------
# network namespaces
# --------------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ_FLAGS = struct.Struct("=16sH22x")  # struct ifreq with ifr_flags
_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _IFREQ_FLAGS.unpack(fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ_FLAGS.pack(b"lo", 0)))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ_FLAGS.pack(b"lo", flags | _IFF_UP))


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _new_netns_on(path: str) -> None:
    """Runs on a thread of its own, which it leaves in the new namespace."""
    libc = _c()
    _check(libc.unshare(_CLONE_NEWNET), "unshare")
    _loopback_up()
    _check(libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", _MS_BIND, None), "mount")


def create_netns(path: str) -> None:
    """Bind-mount a new network namespace on `path` and bring up its ``lo``.

    Namespaces are per thread: a short-lived thread unshares its network
    namespace and bind-mounts it, which keeps it alive after the thread
    ends. No process is forked, and no thread but that one changes namespace.
    """
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    failure: list[Exception] = []

    def run() -> None:
        try:
            _new_netns_on(path)
        except Exception as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="netns-create")
    thread.start()
    thread.join()
    if failure:
        os.unlink(path)
        raise errors.SystemErr(
            f"failed to create network namespace {path}: {failure[0]}") from failure[0]


def remove_netns(path: str) -> None:
    """Unmount and unlink a netns file; absent or unmounted is fine."""
    if not os.path.exists(path):
        return
    if _c().umount2(path.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise errors.SystemErr(f"umount {path}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------
# port specs
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
                exposed_ports: Iterable[str] | None) -> tuple[list[dict], list[str]]:
    """Validate HostConfig.PortBindings / Config.ExposedPorts.

    Returns (requests, keys): requests ``{"proto", "container_port", "host_ip",
    "range"}`` per binding, keys every "port/proto" to show in Ports.
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
            host_ip = (b or {}).get("HostIp") or "0.0.0.0"
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


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _host_port_free(host_ip: str, proto: str, port: int) -> bool:
    """True unless something on the host already listens there."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip, port))
        except OSError:
            return False
    return True


def _overlaps(a: str, b: str) -> bool:
    return a == b or "0.0.0.0" in (a, b)


# --------------------------------------------------------------------------
# the service
# --------------------------------------------------------------------------


def _now() -> str:
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


class NetworkService:
    """Networks and per-container sandboxes (contracts.md §5)."""

    def __init__(self, data_root: str, exec_root: str, bridge_name: str = "docker0",
                 bip: str = "172.17.0.1/16", pluginhost: PluginHost | None = None,
                 on_event: Callable[..., None] | None = None,
                 netfilter_prefix: str = "dockerd-py") -> None:
        try:
            self._bip = ipaddress.IPv4Interface(bip)
        except ValueError:
            raise errors.InvalidParameter(f"invalid --bip: {bip}") from None
        if self._bip.ip in (self._bip.network.network_address,
                            self._bip.network.broadcast_address):
            raise errors.InvalidParameter(f"invalid --bip: {bip}")
        self._dir = os.path.join(data_root, "network")
        self._ep_dir = os.path.join(self._dir, "endpoints")
        self._netns_dir = os.path.join(exec_root, "netns")
        self.bridge_name = bridge_name
        self.netfilter_prefix = netfilter_prefix
        self._host = pluginhost if pluginhost is not None else PluginHost()
        self._on_event = on_event
        self._lock = threading.RLock()
        os.makedirs(self._ep_dir, mode=0o700, exist_ok=True)
        self._networks = self._load_networks()
        self._endpoints: dict[str, dict[str, Any]] = {}
        for fname in sorted(os.listdir(self._ep_dir)):
            if fname.endswith(".json"):
                rec = atomic.read_json(os.path.join(self._ep_dir, fname))
                self._endpoints[rec["container_id"]] = rec
        for net in self._networks.values():
            self._driver(net).call(
                "network_create", network_id=net["Id"], name=net["Name"],
                ipv4=[{"subnet": c["Subnet"], "gateway": c["Gateway"]}
                      for c in net["IPAM"]["Config"]],
                options={**net["Options"], "dockerd-py.netfilter_prefix": netfilter_prefix})

    # ---- networks ---------------------------------------------------------

    def _load_networks(self) -> dict[str, dict[str, Any]]:
        path = os.path.join(self._dir, "networks.json")
        saved = atomic.read_json(path) if os.path.exists(path) else {}
        nets = {}
        for name, driver in PREDEFINED:
            rec = saved.get(name) or {"id": secrets.token_hex(32), "created": _now()}
            saved[name] = rec
            ipam, options = [], {}
            if name == "bridge":
                ipam = [{"Subnet": str(self._bip.network), "Gateway": str(self._bip.ip)}]
                options = {
                    "com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    "com.docker.network.bridge.name": self.bridge_name,
                    "com.docker.network.driver.mtu": "1500",
                }
            nets[name] = {
                "Name": name, "Id": rec["id"], "Created": rec["created"], "Scope": "local",
                "Driver": driver, "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": None, "Config": ipam},
                "Internal": False, "Attachable": False, "Ingress": False,
                "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
                "Options": options, "Labels": {},
            }
        atomic.write_json(path, saved)
        return nets

    def _driver(self, net: Mapping[str, Any]) -> Any:
        return self._host.driver("network", net["Driver"])

    def _find(self, name_or_id: str) -> dict[str, Any]:
        if name_or_id in self._networks:
            return self._networks[name_or_id]
        for net in self._networks.values():
            if net["Id"] == name_or_id:
                return net
        matches = [n for n in self._networks.values() if name_or_id and n["Id"].startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        raise errors.NotFound(f"network {name_or_id} not found")

    def list(self) -> list[dict[str, Any]]:
        """All networks in Docker's Network JSON (Containers empty, as Docker lists)."""
        return [dict(n, Containers={}) for n in self._networks.values()]

    def inspect(self, name_or_id: str) -> dict[str, Any]:
        """One network in Docker's Network JSON, with its attached containers."""
        with self._lock:
            net = self._find(name_or_id)
            containers = {}
            for cid, rec in self._endpoints.items():
                if rec["network_id"] == net["Id"]:
                    containers[cid] = {
                        "Name": rec.get("name", ""), "EndpointID": rec["endpoint_id"],
                        "MacAddress": rec.get("mac", ""),
                        "IPv4Address": f"{rec['ip']}/{rec['prefixlen']}" if rec.get("ip") else "",
                        "IPv6Address": "",
                    }
            return dict(net, Containers=containers)

    # ---- attach / detach --------------------------------------------------

    def _resolve_mode(self, network_mode: str) -> dict[str, Any]:
        mode = network_mode or "default"
        if mode.startswith("container:"):
            raise errors.InvalidParameter(
                f'network mode "{mode}" is not supported yet (container:<id>)')
        return self._networks["bridge"] if mode == "default" else self._find(mode)

    def sandbox(self, container_id: str) -> Sandbox | None:
        """The sandbox of an attached container (also after a daemon restart)."""
        rec = self._endpoints.get(container_id)
        return Sandbox(**rec["sandbox"]) if rec and "sandbox" in rec else None

    def attach(self, container_id: str, network_mode: str = "default",
               port_bindings: Mapping[str, Any] | None = None,
               exposed_ports: Iterable[str] | None = None, hostname: str = "",
               extra: Mapping[str, Any] | None = None) -> Sandbox:
        """Give a container its network: netns, endpoint, address, published ports.

        `extra` may hold ``name`` (container name, for network inspect),
        ``mac_address``, ``publish_all`` (``-P``: every exposed port without a
        binding gets an ephemeral host port) and ``ipv4_address`` (refused on
        the default bridge, as Docker does). Returns the existing sandbox if
        already attached.
        """
        extra = dict(extra or {})
        net = self._resolve_mode(network_mode)
        if extra.get("publish_all"):
            port_bindings = dict(port_bindings or {})
            for key in exposed_ports or ():
                if key not in port_bindings and f"{key}/tcp" not in port_bindings:
                    port_bindings[key] = [{"HostIp": "", "HostPort": ""}]
        requests, port_keys = parse_ports(port_bindings, exposed_ports)
        mac = extra.get("mac_address") or ""
        if mac and not re.fullmatch(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", mac):
            raise errors.InvalidParameter(f"invalid MAC address: {mac}")
        if extra.get("ipv4_address"):
            raise errors.InvalidParameter(
                "user specified IP address is supported on user defined networks only")
        driver = self._driver(net)
        caps = driver.call("network_driver_capabilities")
        with self._lock:
            existing = self.sandbox(container_id)
            if existing is not None:
                return existing
            if container_id in self._endpoints:
                raise errors.Conflict(f"network attach of {container_id} is in progress")
            rec: dict[str, Any] = {
                "container_id": container_id, "name": extra.get("name", ""),
                "hostname": hostname, "network": net["Name"], "network_id": net["Id"],
                "driver": net["Driver"], "endpoint_id": secrets.token_hex(32),
                "netns_path": None, "ip": "", "prefixlen": 0, "mac": "", "bindings": [],
            }
            if net["IPAM"]["Config"]:
                rec["ip"], rec["prefixlen"] = self._allocate_ip(net), self._bip.network.prefixlen
            if net["Driver"] == "bridge":
                rec["bindings"] = self._allocate_ports(requests)
            if caps.get("needs_sandbox", True):
                rec["netns_path"] = os.path.join(self._netns_dir, container_id)
            self._save(rec)  # first, so a crash mid-way can be undone by detach
        try:
            self._connect(rec, net, driver, extra, port_keys)
        except BaseException:
            try:
                self.detach(container_id)
            except Exception:  # keep the original error
                log.exception("network: rollback of %s failed", container_id)
            raise
        self._emit("connect", net, container_id)
        return Sandbox(**rec["sandbox"])

    def _connect(self, rec: dict[str, Any], net: dict[str, Any], driver: Any,
                 extra: Mapping[str, Any], port_keys: list[str]) -> None:
        netns = rec["netns_path"]
        if netns:
            if os.path.exists(netns):  # leftover of a crashed attach
                remove_netns(netns)
            create_netns(netns)
        address = f"{rec['ip']}/{rec['prefixlen']}" if rec["ip"] else ""
        iface = driver.call("network_endpoint_create", network_id=net["Id"],
                            endpoint_id=rec["endpoint_id"],
                            iface={"address": address, "mac_address": extra.get("mac_address", "")})
        rec["mac"] = iface.get("mac_address", "")
        joined = driver.call("network_join", network_id=net["Id"], endpoint_id=rec["endpoint_id"],
                             sandbox_key=netns or "", ifname="eth0")
        gateway = joined.get("gateway", "")
        if rec["bindings"]:
            driver.call("network_program_external", network_id=net["Id"],
                        endpoint_id=rec["endpoint_id"], bindings=rec["bindings"])
        ports: dict[str, list[dict[str, str]] | None] = {}
        if net["Driver"] == "bridge":
            ports = {k: None for k in port_keys}
            for b in rec["bindings"]:
                key = f"{b['container_port']}/{b['proto']}"
                ports[key] = (ports.get(key) or []) + [
                    {"HostIp": b["host_ip"], "HostPort": str(b["host_port"])}]
        endpoint = {
            "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": rec["mac"],
            "DriverOpts": None, "NetworkID": net["Id"], "EndpointID": rec["endpoint_id"],
            "Gateway": gateway, "IPAddress": rec["ip"], "IPPrefixLen": rec["prefixlen"],
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": None,
        }
        sandbox_key = netns or os.path.join(self._netns_dir, "default")
        rec["sandbox"] = {"netns_path": netns, "networks": {net["Name"]: endpoint},
                          "ports": ports, "sandbox_key": sandbox_key,
                          "sandbox_id": secrets.token_hex(32)}
        with self._lock:
            self._save(rec)

    def detach(self, container_id: str) -> None:
        """Undo everything attach did; idempotent."""
        with self._lock:
            rec = self._endpoints.get(container_id)
        if rec is None:
            return
        net = self._networks.get(rec["network"]) or {"Driver": rec["driver"], "Id": rec["network_id"]}
        driver = self._driver(net)
        ids = {"network_id": rec["network_id"], "endpoint_id": rec["endpoint_id"]}
        if rec.get("bindings"):  # what network_program_external was given
            driver.call("network_revoke_external", default=True, **ids)
        driver.call("network_leave", **ids)
        driver.call("network_endpoint_delete", **ids)
        if rec.get("netns_path"):
            remove_netns(rec["netns_path"])
        with self._lock:
            self._endpoints.pop(container_id, None)
            try:
                os.unlink(os.path.join(self._ep_dir, f"{container_id}.json"))
            except FileNotFoundError:
                pass
        if "sandbox" in rec:
            self._emit("disconnect", net, container_id)

    def restore(self, running: Iterable[str]) -> None:
        """After a daemon restart: keep endpoints of `running` containers, drop the rest."""
        alive = set(running)
        for cid, rec in list(self._endpoints.items()):
            if cid not in alive or "sandbox" not in rec:  # gone, or a crashed attach
                try:
                    self.detach(cid)
                except errors.DockerError:
                    log.exception("network: cannot release endpoint of %s", cid)

    def cleanup(self) -> None:
        """Remove everything host-global this daemon made: endpoints, bridge, netfilter."""
        for cid in list(self._endpoints):
            self.detach(cid)
        for net in self._networks.values():
            self._driver(net).call("network_delete", network_id=net["Id"])
        try:
            os.rmdir(self._netns_dir)
        except OSError:
            pass

    # ---- helpers ----------------------------------------------------------

    def _save(self, rec: dict[str, Any]) -> None:
        self._endpoints[rec["container_id"]] = rec
        atomic.write_json(os.path.join(self._ep_dir, f"{rec['container_id']}.json"), rec)

    def _allocate_ip(self, net: Mapping[str, Any]) -> str:
        used = {r["ip"] for r in self._endpoints.values() if r["network_id"] == net["Id"]}
        used.add(str(self._bip.ip))
        for host in self._bip.network.hosts():
            if str(host) not in used:
                return str(host)
        raise errors.Unavailable(f"no available IPv4 addresses on network {net['Name']}")

    def _allocate_ports(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        taken = [(b["host_ip"], b["proto"], b["host_port"])
                 for r in self._endpoints.values() for b in r.get("bindings", [])]
        out = []
        for req in requests:
            lo, hi = req["range"] or _ephemeral_range()
            port = None
            for candidate in range(lo, hi + 1):
                if any(p == req["proto"] and hp == candidate and _overlaps(ip, req["host_ip"])
                       for ip, p, hp in taken):
                    continue
                if _host_port_free(req["host_ip"], req["proto"], candidate):
                    port = candidate
                    break
            if port is None:
                where = f"{req['host_ip']}:{lo}" if lo == hi else f"{req['host_ip']}:{lo}-{hi}"
                raise errors.SystemErr(
                    f"driver failed programming external connectivity: "
                    f"Bind for {where} failed: port is already allocated")
            taken.append((req["host_ip"], req["proto"], port))
            out.append({"proto": req["proto"], "container_port": req["container_port"],
                        "host_ip": req["host_ip"], "host_port": port})
        return out

    def _emit(self, action: str, net: Mapping[str, Any], container_id: str) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(type="network", action=action, actor_id=net["Id"],
                           attrs={"container": container_id, "name": net["Name"],
                                  "type": net["Driver"]})
        except Exception:  # an observer must not break attach/detach
            log.exception("network event observer failed")
