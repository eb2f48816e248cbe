"""NetworkService: networks, sandboxes and endpoints (contracts.md §5).

The containers service and the network routes call only this class. Drivers
are reached through `dockerd_py.pluginhost` (``network.<driver>``); this
module owns what is driver-independent:

- networks: the predefined ``bridge``/``host``/``none`` (ids kept in
  ``<data-root>/network/networks.json``) and user-defined ones, one file each
  in ``<data-root>/network/user/<id>.json``, re-created in their drivers at
  every start (drivers adopt what is left in the kernel);
- IPAM (`ipam`): subnets from the default address pools, addresses;
- sandboxes: one record per container with a network, in
  ``<data-root>/network/endpoints/<container-id>.json``: its netns
  (``<exec-root>/netns/<id>``, see `netns`), its endpoints (one per network,
  ``eth0``, ``eth1``, ...), its published ports (`netports`). The records are
  the allocation tables, so a restarted daemon keeps the addresses and ports
  of running containers;
- name resolution for the embedded DNS and legacy links (`netnames`).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..bridgeconfig import BridgeSettings
from ..filters import labels_match
from ..pluginhost import PluginHost
from ..remoteplugins.network import RemoteNetworkPlugins
from ..state import atomic
from ..timeutil import parse_timestamp, rfc3339_to_nano
from . import ipam, netnames, netrelay, resolvconf
from .netns import create_netns, remove_netns
from .netports import allocate as allocate_ports
from .netports import reserve as reserve_port
from .netports import parse_ports, port_options, ports_json

__all__ = ["NetworkService", "Sandbox", "create_netns", "remove_netns", "parse_ports"]

log = logging.getLogger(__name__)

PREDEFINED = (("none", "null"), ("host", "host"), ("bridge", "bridge"))
PREDEFINED_NAMES = {name for name, _ in PREDEFINED}
_MAC = re.compile(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")


NO_SWARM_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                    "to connect this node to swarm and try again.")


@dataclass
class Sandbox:
    """What a container needs from the network layer to start."""

    netns_path: str | None
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, list[dict[str, str]] | None] = field(default_factory=dict)
    sandbox_key: str = ""
    sandbox_id: str = ""


def _now() -> str:
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def _network_json(name: str, net_id: str, created: str, driver: str, ipam_json: dict,
                  options: dict, labels: dict, internal: bool = False,
                  attachable: bool = False) -> dict[str, Any]:
    return {
        "Name": name, "Id": net_id, "Created": created, "Scope": "local", "Driver": driver,
        "EnableIPv4": True, "EnableIPv6": False, "IPAM": ipam_json, "Internal": internal,
        "Attachable": attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": {}, "Options": options, "Labels": labels,
    }


def _from_v1(rec: dict[str, Any]) -> dict[str, Any]:
    """A sandbox record of the one-network format (before user networks) in today's format."""
    sb = rec.get("sandbox") or {}
    ep = {"network_id": rec["network_id"], "network": rec["network"], "driver": rec["driver"],
          "endpoint_id": rec["endpoint_id"], "ip": rec.get("ip", ""),
          "prefixlen": rec.get("prefixlen", 0), "mac": rec.get("mac", ""),
          "gateway": (sb.get("networks") or {}).get(rec["network"], {}).get("Gateway", ""),
          "ifname": "eth0", "user": False, "config": {}, "routed": True}
    return {"container_id": rec["container_id"], "name": rec.get("name", ""),
            "hostname": rec.get("hostname", ""), "netns_path": rec.get("netns_path"),
            "sandbox_key": sb.get("sandbox_key", ""), "sandbox_id": sb.get("sandbox_id", ""),
            "endpoints": {rec["network_id"]: ep}, "bindings": rec.get("bindings", []),
            "ports_network": rec["network_id"] if rec.get("bindings") else "",
            "port_keys": list((sb.get("ports") or {}).keys()), "ready": "sandbox" in rec}


class NetworkService:
    """Networks and per-container sandboxes (contracts.md §5)."""

    def __init__(self, data_root: str, exec_root: str, bridge_name: str = "docker0",
                 bip: str = "172.17.0.1/16", pluginhost: PluginHost | None = None,
                 on_event: Callable[..., None] | None = None,
                 netfilter_prefix: str = "dockerd-py",
                 default_pools: Iterable[Any] | None = None, ipv6: bool = False,
                 fixed_cidr_v6: str = "", default_bridge: BridgeSettings | None = None) -> None:
        try:
            self._bip = ipaddress.IPv4Interface(bip)
        except ValueError:
            raise errors.InvalidParameter(f"invalid --bip: {bip}") from None
        if self._bip.ip in (self._bip.network.network_address,
                            self._bip.network.broadcast_address):
            raise errors.InvalidParameter(f"invalid --bip: {bip}")
        pools = list(default_pools or []) or [
            {"base": b, "size": s} for b, s in ipam.DEFAULT_POOLS]
        self._pools = [ipam.parse_pool(p) for p in pools]
        self._dir = os.path.join(data_root, "network")
        self._ep_dir = os.path.join(self._dir, "endpoints")
        self._user_dir = os.path.join(self._dir, "user")
        self._netns_dir = os.path.join(exec_root, "netns")
        self.bridge_name = bridge_name
        self.bridge_settings = default_bridge or BridgeSettings()  # daemon --icc, --mtu, --iptables...
        self.netfilter_prefix = netfilter_prefix
        self.dns: Any = None  # an EmbeddedDNS (attach/detach), set by the engine
        self._host = pluginhost if pluginhost is not None else PluginHost()
        self.remote = RemoteNetworkPlugins(self._host)
        self._ipam_pools: dict[str, dict[str, str]] = {}  # id -> remote IPAM pool (pool_id, address_space)
        self._on_event = on_event
        self._lock = threading.RLock()
        os.makedirs(self._ep_dir, mode=0o700, exist_ok=True)
        os.makedirs(self._user_dir, mode=0o700, exist_ok=True)
        self._networks: dict[str, dict[str, Any]] = {}   # id -> Network JSON (Containers empty)
        self._user_subnet: dict[str, bool] = {}          # id -> subnet given by the user
        self._ipam: dict[str, list[dict[str, Any]]] = {}  # id -> IPAM config with its gateway filled in
        self._ipam6: dict[str, list[dict[str, Any]]] = {}  # id -> the IPv6 entry of it (EnableIPv6 networks)
        self._pool6 = ipam.default_ipv6_pool(os.path.abspath(data_root))
        self._bridge6 = self._default_bridge_v6(ipv6, fixed_cidr_v6)
        self._load_networks()
        self._sandboxes: dict[str, dict[str, Any]] = {}
        self._held: dict[str, list[Any]] = {}  # container id -> sockets holding its published host ports
        for fname in sorted(os.listdir(self._ep_dir)):
            if fname.endswith(".json"):
                rec = atomic.read_json(os.path.join(self._ep_dir, fname))
                if "endpoints" not in rec:
                    rec = _from_v1(rec)
                self._sandboxes[rec["container_id"]] = rec
        for net in list(self._networks.values()):
            if net["Driver"] not in self._host.drivers("network"):
                continue  # a remote plugin's network lives in the plugin; Docker does not re-create it
            try:
                self._driver_create(net)
            except errors.DockerError:
                if net["Name"] in PREDEFINED_NAMES:
                    raise
                log.exception("network %s: its driver could not re-create it", net["Name"])

    # ---- networks ---------------------------------------------------------

    def _load_networks(self) -> None:
        path = os.path.join(self._dir, "networks.json")
        saved = atomic.read_json(path) if os.path.exists(path) else {}
        for name, driver in PREDEFINED:
            rec = saved.get(name) or {"id": secrets.token_hex(32), "created": _now()}
            saved[name] = rec
            config, options = [], {}
            if name == "bridge":
                shown, used = self.bridge_settings.ipam(self._bip)
                config = [shown, *self._bridge6]
                options = self.bridge_settings.options(self.bridge_name)
                self._ipam[rec["id"]] = [used]
            self._networks[rec["id"]] = _network_json(
                name, rec["id"], rec["created"], driver,
                {"Driver": "default", "Options": None, "Config": config}, options, {})
            if name == "bridge" and self._bridge6:
                self._networks[rec["id"]]["EnableIPv6"] = True
                self._ipam6[rec["id"]] = self._bridge6
        atomic.write_json(path, saved)
        for fname in sorted(os.listdir(self._user_dir)):
            if fname.endswith(".json"):
                rec = atomic.read_json(os.path.join(self._user_dir, fname))
                self._networks[rec["network"]["Id"]] = rec["network"]
                self._user_subnet[rec["network"]["Id"]] = rec.get("user_subnet", False)
                self._ipam[rec["network"]["Id"]] = rec.get("ipam") or rec["network"]["IPAM"]["Config"]
                self._ipam6[rec["network"]["Id"]] = rec.get("ipam6") or []
                if rec.get("ipam_pool"):
                    self._ipam_pools[rec["network"]["Id"]] = rec["ipam_pool"]

    @staticmethod
    def _default_bridge_v6(enabled: bool, fixed_cidr_v6: str) -> list[dict[str, Any]]:
        """The default bridge's IPv6 IPAM entry (daemon --ipv6 --fixed-cidr-v6), gateway its first address."""
        if not enabled:
            return []
        if not fixed_cidr_v6:
            raise errors.InvalidParameter("--ipv6 needs --fixed-cidr-v6 (an IPv6 subnet for the default bridge)")
        try:
            subnet = ipaddress.IPv6Network(fixed_cidr_v6, strict=False)
        except ValueError:
            raise errors.InvalidParameter(f"invalid --fixed-cidr-v6: {fixed_cidr_v6}") from None
        return [ipam.complete({"Subnet": str(subnet)})]

    def _driver(self, net: Mapping[str, Any]) -> Any:
        self.remote.lookup("network", net["Driver"])  # a remote plugin's driver is registered when first needed
        return self._host.driver("network", net["Driver"])

    def _ipam_driver(self, net: Mapping[str, Any]) -> Any:
        self.remote.lookup("ipam", net["IPAM"]["Driver"])
        return self._host.driver("ipam", net["IPAM"]["Driver"])

    def _release_pool(self, net: Mapping[str, Any], pool: Mapping[str, str]) -> None:
        """A remote IPAM's network is going: its gateway and aux addresses, then its pool."""
        driver = self._ipam_driver(net)
        for c in self._config(net):
            for address in [c.get("Gateway"), *(c.get("AuxiliaryAddresses") or {}).values()]:
                if address:
                    driver.call("ipam_release_address", pool_id=pool["pool_id"], address=address)
        driver.call("ipam_release_pool", pool_id=pool["pool_id"])

    def _driver_create(self, net: Mapping[str, Any]) -> None:
        self._driver(net).call(
            "network_create", network_id=net["Id"], name=net["Name"],
            ipv4=[{"subnet": c["Subnet"], "gateway": c.get("Gateway", ""),
                   **({"address_space": self._ipam_pools[net["Id"]]["address_space"]}
                      if net["Id"] in self._ipam_pools else {}),
                   **({"aux_addresses": c["AuxiliaryAddresses"]} if c.get("AuxiliaryAddresses") else {})}
                  for c in self._config(net)],
            ipv6=[{"subnet": c["Subnet"], "gateway": c.get("Gateway", "")}
                  for c in self._ipam6.get(net["Id"], []) if net.get("EnableIPv6")],
            options={**net["Options"], **self.bridge_settings.driver_options(),
                     "dockerd-py.netfilter_prefix": self.netfilter_prefix,
                     "dockerd-py.internal": "true" if net["Internal"] else "false"})

    def _find(self, name_or_id: str) -> dict[str, Any]:
        """By full name, then full id, then unique id prefix (Docker's order)."""
        for net in self._networks.values():
            if net["Name"] == name_or_id:
                return net
        if name_or_id in self._networks:
            return self._networks[name_or_id]
        matches = [n for n in self._networks.values() if name_or_id and n["Id"].startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        raise errors.NotFound(f"network {name_or_id} not found")

    def _by_name(self, name: str) -> dict[str, Any] | None:
        return next((n for n in self._networks.values() if n["Name"] == name), None)

    @property
    def host_gateway(self) -> str:
        """What ``--add-host name:host-gateway`` means: the default bridge's address, as Docker."""
        return str(self._bip.ip)

    @staticmethod
    def is_user_defined(net: Mapping[str, Any]) -> bool:
        return net["Name"] not in PREDEFINED_NAMES

    def list(self) -> list[dict[str, Any]]:
        """All networks in Docker's Network JSON (Containers empty, as Docker lists)."""
        with self._lock:
            return [dict(n, Containers={}) for n in self._networks.values()]

    def in_use(self, network_id: str) -> bool:
        with self._lock:
            return any(network_id in rec["endpoints"] for rec in self._sandboxes.values())

    def inspect(self, name_or_id: str) -> dict[str, Any]:
        """One network in Docker's Network JSON, with its attached containers."""
        with self._lock:
            net = self._find(name_or_id)
            containers = {}
            for cid, rec in self._sandboxes.items():
                ep = rec["endpoints"].get(net["Id"])
                if ep is not None and rec.get("ready"):
                    containers[cid] = {
                        "Name": rec.get("name", ""), "EndpointID": ep["endpoint_id"],
                        "MacAddress": ep.get("mac", ""),
                        "IPv4Address": f"{ep['ip']}/{ep['prefixlen']}" if ep.get("ip") else "",
                        "IPv6Address": f"{ep['ip6']}/{ep['prefixlen6']}" if ep.get("ip6") else "",
                    }
            return dict(net, Containers=containers)

    def create(self, body: Mapping[str, Any]) -> dict[str, str]:
        """POST /networks/create: validate as Docker does, make it, persist it."""
        name = body.get("Name") or ""
        if not isinstance(name, str) or not name:
            raise errors.InvalidParameter("network name cannot be empty")
        if name in PREDEFINED_NAMES:
            raise errors.Forbidden(f"operation is not permitted on predefined {name} network ")
        with self._lock:
            taken = self._by_name(name) is not None
        if taken:  # before the driver, as Docker's (checked again when made)
            raise errors.Conflict(f"network with name {name} already exists")
        driver_name = body.get("Driver") or "bridge"
        scope = body.get("Scope") or "local"
        if scope == "swarm":
            raise errors.Forbidden("cannot create a swarm scoped network when swarm is not active")
        if scope != "local" or driver_name == "overlay":  # libnetwork has no global store outside a swarm
            raise errors.SystemErr(NO_SWARM_MANAGER)
        self.remote.lookup("network", driver_name)  # Docker's 404 'plugin "x" not found'
        if driver_name in ("host", "null"):
            raise errors.Forbidden(f'only one instance of "{driver_name}" network is allowed')
        for key in ("Ingress", "ConfigOnly"):
            if body.get(key):
                raise errors.InvalidParameter(f"not supported by this daemon yet: {key}")
        if (body.get("ConfigFrom") or {}).get("Network"):
            raise errors.InvalidParameter("not supported by this daemon yet: ConfigFrom")
        if body.get("EnableIPv4") is False:
            raise errors.InvalidParameter("IPv4 can only be disabled if experimental "
                                          "features are enabled")
        ipam_body = body.get("IPAM") or {}
        ipam_driver = ipam_body.get("Driver") or "default"
        if ipam_driver != "default":
            self.remote.lookup("ipam", ipam_driver)
        configs = ipam.validate(ipam_body.get("Config") or [])
        given6 = [c for c in configs if ipam.version(c) == 6]
        configs = [c for c in configs if ipam.version(c) == 4]
        enable6 = bool(body.get("EnableIPv6"))
        if enable6 and (driver_name != "bridge" or ipam_driver != "default"):
            raise errors.InvalidParameter(f"IPv6 is supported by this daemon on bridge networks with the default "
                                          f"IPAM driver only (driver {driver_name}, IPAM driver {ipam_driver})")
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        _check_options(options)
        with self._lock:
            if self._by_name(name) is not None:
                raise errors.Conflict(f"network with name {name} already exists")
            used = self._subnets()
            pool: dict[str, str] = {}
            if ipam_driver != "default":
                configs, pool = self._remote_pool(ipam_driver, configs, ipam_body.get("Options") or {})
                shown = [dict(c) for c in configs]
            elif configs:
                subnet = ipam.IPv4Net(configs[0]["Subnet"])
                if any(subnet.overlaps(u) for u in used):
                    raise errors.Forbidden(ipam.OVERLAP)
                shown = [dict(c) for c in configs]  # Docker shows what was given
            else:
                configs = [{"Subnet": str(ipam.allocate_subnet(self._pools, used))}]
                shown = [ipam.complete(dict(c)) for c in configs]  # and a pool's gateway
            configs = [ipam.complete(c) for c in configs]
            shown6, configs6 = self._plan_v6(given6, enable6)
            net_id = secrets.token_hex(32)
            bridge = options.get("com.docker.network.bridge.name")
            other = bridge and next((n["Id"] for n in self._networks.values()
                                     if n["Options"].get("com.docker.network.bridge.name") == bridge), None)
            if other:  # the bridge driver's conflict check, Docker's 403
                raise errors.Forbidden(f"cannot create network {net_id} ({bridge}): conflicts with network "
                                       f"{other} ({bridge}): networks have same bridge name")
            net = _network_json(
                name, net_id, _now(), driver_name,
                {"Driver": ipam_driver, "Options": dict(ipam_body.get("Options") or {}),
                 "Config": shown + shown6},
                options, {str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
                internal=bool(body.get("Internal")), attachable=bool(body.get("Attachable")))
            net["EnableIPv6"] = enable6
            self._ipam[net_id], self._ipam6[net_id] = configs, configs6
            if pool:
                self._ipam_pools[net_id] = pool
            try:
                self._driver_create(net)
            except BaseException:
                try:
                    self._driver(net).call("network_delete", network_id=net_id)
                finally:
                    if self._ipam_pools.pop(net_id, None):
                        self._release_pool(net, pool)
                    self._ipam.pop(net_id, None)
                    self._ipam6.pop(net_id, None)
                raise
            user_subnet = bool((ipam_body.get("Config") or []))
            atomic.write_json(os.path.join(self._user_dir, f"{net_id}.json"),
                              {"network": net, "user_subnet": user_subnet, "ipam": configs, "ipam6": configs6,
                               **({"ipam_pool": pool} if pool else {})})
            self._networks[net_id] = net
            self._user_subnet[net_id] = user_subnet
        self._emit_net("create", net)
        return {"Id": net_id, "Warning": ""}

    def _plan_v6(self, given: list[dict[str, Any]], enabled: bool
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A new network's IPv6 IPAM entry (shown, used): as given, else a /64 of the ULA pool if enabled."""
        used = [ipaddress.ip_network(c["Subnet"]) for entries in self._ipam6.values() for c in entries]
        if given:
            if any(ipaddress.ip_network(given[0]["Subnet"]).overlaps(u) for u in used):
                raise errors.Forbidden(ipam.OVERLAP)
            return [dict(c) for c in given], [ipam.complete(dict(c)) for c in given]
        if not enabled:
            return [], []
        entry = ipam.complete({"Subnet": str(ipam.allocate_subnet6(self._pool6, used))})
        return [dict(entry)], [entry]

    def _subnets(self) -> list[ipam.IPv4Net]:
        """The default address space's subnets (a remote IPAM's pools are its own)."""
        return [ipam.IPv4Net(c["Subnet"]) for n in self._networks.values() for c in self._config(n)
                if n["Id"] not in self._ipam_pools]

    def _remote_pool(self, ipam_driver: str, configs: list[dict[str, Any]], options: Mapping[str, str]
                     ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """A remote IPAM's pool and gateway for a new network (Docker's RequestPool, RequestAddress)."""
        driver = self._host.driver("ipam", ipam_driver)
        cfg = configs[0] if configs else {}
        got = driver.call("ipam_request_pool", pool=cfg.get("Subnet", ""), sub_pool=cfg.get("IPRange", ""),
                          options={str(k): str(v) for k, v in options.items()}, v6=False)
        pool = {"pool_id": got["pool_id"], "address_space": got.get("address_space", "")}
        taken: list[str] = []
        try:
            gw = driver.call("ipam_request_address", pool_id=pool["pool_id"], address=cfg.get("Gateway", ""),
                             options={"RequestAddressType": "com.docker.network.gateway"})
            taken.append(gw.partition("/")[0])
            for aux in (cfg.get("AuxiliaryAddresses") or {}).values():   # reserved too, as Docker
                taken.append(driver.call("ipam_request_address", pool_id=pool["pool_id"], address=aux,
                                         options=None).partition("/")[0])
        except BaseException:
            for address in taken:
                driver.call("ipam_release_address", pool_id=pool["pool_id"], address=address)
            driver.call("ipam_release_pool", pool_id=pool["pool_id"])
            raise
        return [{**cfg, "Subnet": got["pool"], "Gateway": gw.partition("/")[0]}], pool

    def _config(self, net: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The network's IPAM config as used (gateway filled in), not as shown."""
        return self._ipam.get(net["Id"], net["IPAM"]["Config"])

    def remove(self, name_or_id: str) -> None:
        with self._lock:
            net = self._find(name_or_id)
            if not self.is_user_defined(net):
                raise errors.Forbidden(f"{net['Name']} is a pre-defined network and cannot be removed")
            users = sorted((rec.get("name", ""), cid) for cid, rec in self._sandboxes.items()
                           if net["Id"] in rec["endpoints"])
            if users:
                listed = ", ".join(f'name:"{n}" id:"{cid[:12]}"' for n, cid in users)
                raise errors.Forbidden(f"error while removing network: network {net['Name']} "
                                       f"has active endpoints ({listed})")
            pool = self._ipam_pools.pop(net["Id"], None)
            if pool:
                self._release_pool(net, pool)
            self._driver(net).call("network_delete", network_id=net["Id"])
            try:
                os.unlink(os.path.join(self._user_dir, f"{net['Id']}.json"))
            except FileNotFoundError:
                pass
            self._networks.pop(net["Id"], None)
            self._user_subnet.pop(net["Id"], None)
            self._ipam.pop(net["Id"], None)
            self._ipam6.pop(net["Id"], None)
        self._emit_net("destroy", net)

    def prune(self, filters: Mapping[str, list[str]]) -> list[str]:
        """Remove unused user-defined networks; the names removed."""
        until = parse_timestamp(filters["until"][0]) if filters.get("until") else None
        removed = []
        for net in self.list():
            if not self.is_user_defined(net) or self.in_use(net["Id"]):
                continue
            if until is not None and rfc3339_to_nano(net["Created"]) >= until:
                continue
            if not labels_match(net.get("Labels"), filters.get("label", []), filters.get("label!", [])):
                continue
            try:
                self.remove(net["Id"])
                removed.append(net["Name"])
            except (errors.Forbidden, errors.NotFound):
                continue
        return removed

    # ---- sandboxes --------------------------------------------------------

    def sandbox(self, container_id: str) -> Sandbox | None:
        """The sandbox of an attached container (also after a daemon restart)."""
        rec = self._sandboxes.get(container_id)
        return self._sandbox(rec) if rec and rec.get("ready") else None

    def _sandbox(self, rec: Mapping[str, Any]) -> Sandbox:
        networks = {ep["network"]: self._endpoint_json(rec, ep) for ep in rec["endpoints"].values()}
        return Sandbox(netns_path=rec.get("netns_path"), networks=networks,
                       ports=ports_json(rec.get("port_keys", []), rec.get("bindings", []))
                       if rec.get("ports_network") or rec.get("port_keys") else {},
                       sandbox_key=rec.get("sandbox_key", ""), sandbox_id=rec.get("sandbox_id", ""))

    def _endpoint_json(self, rec: Mapping[str, Any], ep: Mapping[str, Any]) -> dict[str, Any]:
        cfg = ep.get("config") or {}
        return {
            "IPAMConfig": ipam.endpoint_ipam_json(cfg.get("IPAMConfig")), "Links": cfg.get("Links") or None,
            "Aliases": cfg.get("Aliases") or None, "MacAddress": ep.get("mac", ""),
            "DriverOpts": cfg.get("DriverOpts") or None, "NetworkID": ep["network_id"],
            "EndpointID": ep["endpoint_id"], "Gateway": ep.get("gateway", ""),
            "IPAddress": ep.get("ip", ""), "IPPrefixLen": ep.get("prefixlen", 0),
            "IPv6Gateway": ep.get("gateway6", ""), "GlobalIPv6Address": ep.get("ip6", ""),
            "GlobalIPv6PrefixLen": ep.get("prefixlen6", 0),
            "DNSNames": netnames.dns_names(rec, ep) if ep.get("user") else None,
            **({"DesiredMacAddress": cfg["MacAddress"]} if cfg.get("MacAddress") else {}),
        }

    def _primary(self, mode: str, configs: Mapping[str, Any]) -> dict[str, Any]:
        """The network of the NetworkMode; when the container was disconnected from it
        (its configs name other networks only), the first of those, as Docker does."""
        try:
            net = self._find("bridge" if mode in ("", "default") else mode)
        except errors.NotFound:
            if not configs:
                raise
            net = None
        if configs and (net is None or not {net["Name"], net["Id"], "default"} & set(configs)):
            net = self._find(next(iter(configs)))
        return net

    def _joined_target(self, ref: str) -> dict[str, Any]:
        """The sandbox record of a running container, by id, unique id prefix or name."""
        for rec in self._sandboxes.values():
            if rec.get("ready") and (rec["container_id"] == ref or rec.get("name") == ref.lstrip("/")):
                return rec
        matches = [r for r in self._sandboxes.values() if r.get("ready") and r["container_id"].startswith(ref)]
        if ref and len(matches) == 1:
            return matches[0]
        raise errors.Conflict(f"cannot join network of a non running container: {ref}")

    def attach(self, container_id: str, network_mode: str = "default",
               port_bindings: Mapping[str, Any] | None = None,
               exposed_ports: Iterable[str] | None = None, hostname: str = "",
               extra: Mapping[str, Any] | None = None) -> Sandbox:
        """Give a container its network: netns, endpoints, addresses, published ports.

        `extra` may hold ``name`` (container name), ``mac_address``,
        ``publish_all`` (``-P``), ``ipv4_address`` (both for the primary
        network), ``dns`` and ``dns_options`` (for the embedded DNS server), ``links``
        (legacy ``--link`` ``name:alias``: their exceptions to the default bridge's ICC off)
        and ``endpoints`` ({network name or id: EndpointSettings as stored in
        the container's NetworkSettings.Networks}: IPAMConfig, Aliases,
        MacAddress, Links, DriverOpts). ``container:<ref>`` shares
        the netns of a running container. Returns the existing sandbox if
        already attached.
        """
        extra = dict(extra or {})
        mode = network_mode or "default"
        with self._lock:
            existing = self.sandbox(container_id)
            if existing is not None:
                return existing
            if container_id in self._sandboxes:
                raise errors.Conflict(f"network attach of {container_id} is in progress")
            if mode.startswith("container:"):
                return self._attach_shared(container_id, mode.partition(":")[2], extra)
        configs = extra.get("endpoints") or {}
        primary = self._primary(mode, configs)
        plan = self._plan_networks(primary, configs)
        if extra.get("publish_all"):
            port_bindings = dict(port_bindings or {})
            for key in exposed_ports or ():
                if key not in port_bindings and f"{key}/tcp" not in port_bindings:
                    port_bindings[key] = [{"HostIp": "", "HostPort": ""}]
        ports_net = next((n for n, _ in plan if n["Driver"] == "bridge" and not n["Internal"]), None)
        requests, port_keys = parse_ports(port_bindings, exposed_ports, (ports_net or {}).get(
            "Options", {}).get("com.docker.network.bridge.host_binding_ipv4") or "0.0.0.0",
            ipv6=bool((ports_net or {}).get("EnableIPv6")) or ports_net is None)
        caps = self._driver(primary).call("network_driver_capabilities")
        with self._lock:
            if container_id in self._sandboxes:
                raise errors.Conflict(f"network attach of {container_id} is in progress")
            sid = secrets.token_hex(32)
            netns = os.path.join(self._netns_dir, container_id) if caps.get("needs_sandbox", True) else None
            rec: dict[str, Any] = {
                "container_id": container_id, "name": extra.get("name", ""), "hostname": hostname,
                "netns_path": netns, "sandbox_key": netns or os.path.join(self._netns_dir, "default"),
                "sandbox_id": sid, "endpoints": {}, "bindings": [], "ports_network": "",
                "port_keys": port_keys if primary["Driver"] == "bridge" else [], "ready": False,
                "port_options": port_options(port_bindings, exposed_ports),
                "dns": list(extra.get("dns") or []), "dns_options": list(extra.get("dns_options") or []),
            }
            for index, (net, cfg) in enumerate(plan):
                if index == 0:
                    cfg = dict(cfg)
                    if extra.get("mac_address") and not cfg.get("MacAddress"):
                        cfg["MacAddress"] = extra["mac_address"]
                    if extra.get("ipv4_address"):
                        cfg["IPAMConfig"] = {**(cfg.get("IPAMConfig") or {}),
                                             "IPv4Address": extra["ipv4_address"]}
                rec["endpoints"][net["Id"]] = self._plan_endpoint(rec, net, cfg, f"eth{index}")
            if ports_net is not None and requests:
                ep = rec["endpoints"][ports_net["Id"]]
                rec["bindings"], self._held[container_id] = allocate_ports(
                    requests, self._taken_ports(), f"{rec['name']} ({ep['endpoint_id']})")
                rec["ports_network"] = ports_net["Id"]
            self._save(rec)  # first, so a crash mid-way can be undone by detach
        try:
            if netns:
                if os.path.exists(netns):  # leftover of a crashed attach
                    remove_netns(netns)
                create_netns(netns)
            for net, _ in plan:
                self._join(rec, net, rec["endpoints"][net["Id"]])
            if rec["bindings"]:
                net = self._networks[rec["ports_network"]]
                self._driver(net).call("network_program_external", network_id=net["Id"],
                                       endpoint_id=rec["endpoints"][net["Id"]]["endpoint_id"],
                                       bindings=_dnat_bindings(rec))
                self._relay_userland(rec)
            self._program_links(rec, extra.get("links") or ())
            with self._lock:
                rec["ready"] = True
                self._save(rec)
            self._dns_attach(rec)
        except BaseException:
            try:
                self.detach(container_id)
            except Exception:  # keep the original error
                log.exception("network: rollback of %s failed", container_id)
            raise
        for net, _ in plan:
            self._emit("connect", net, container_id)
        return self._sandbox(rec)

    def _attach_shared(self, container_id: str, ref: str, extra: Mapping[str, Any]) -> Sandbox:
        """network_mode container:<ref>: the target's netns; no endpoint of its own."""
        target = self._joined_target(ref)
        rec = {"container_id": container_id, "name": extra.get("name", ""), "hostname": "",
               "netns_path": target.get("netns_path"), "shared_with": target["container_id"],
               "sandbox_key": "", "sandbox_id": "", "endpoints": {}, "bindings": [],
               "ports_network": "", "port_keys": [], "ready": True}
        self._save(rec)
        return Sandbox(netns_path=rec["netns_path"])

    def _plan_networks(self, primary: dict[str, Any], configs: Mapping[str, Any]
                       ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """[(network, endpoint config)], the primary network first."""
        plan = [(primary, {})]
        for ref, cfg in configs.items():
            net = primary if ref in ("default", primary["Name"], primary["Id"]) else self._find(ref)
            if net is primary:
                plan[0] = (primary, dict(cfg or {}))
            elif all(n["Id"] != net["Id"] for n, _ in plan):
                plan.append((net, dict(cfg or {})))
        if len(plan) > 1 and primary["Driver"] in ("host", "null"):
            raise errors.InvalidParameter(
                "container cannot be disconnected from host network or connected to host network"
                if primary["Driver"] == "host" else
                "container cannot be connected to multiple networks with one of the networks "
                "in private (none) mode")
        return plan

    def _used_ips(self, network_id: str) -> set[str]:
        return {ep["ip"] for rec in self._sandboxes.values()
                for nid, ep in rec["endpoints"].items() if nid == network_id and ep.get("ip")}

    def _plan_endpoint(self, rec: dict[str, Any], net: dict[str, Any], cfg: Mapping[str, Any],
                       ifname: str) -> dict[str, Any]:
        """Choose an endpoint's address and MAC (under the lock); nothing in the kernel yet."""
        requested = (cfg.get("IPAMConfig") or {}).get("IPv4Address") or ""
        mac = cfg.get("MacAddress") or ""
        if mac and not _MAC.fullmatch(mac):
            raise errors.InvalidParameter(f"invalid MAC address: {mac}")
        ip, prefixlen = "", 0
        entries = self._config(net)
        if requested and not self.is_user_defined(net):
            raise errors.InvalidParameter("invalid endpoint settings:\nuser specified IP address "
                                          "is supported on user defined networks only")
        if cfg.get("Aliases") and not self.is_user_defined(net):
            raise errors.InvalidParameter("invalid endpoint settings:\nnetwork-scoped alias is supported "
                                          "only for containers in user defined networks")
        if entries:
            entry = entries[0]
            used = self._used_ips(net["Id"]) | {e["ip"] for e in rec["endpoints"].values()
                                                if e["network_id"] == net["Id"]}
            if net["Name"] == "bridge":
                used.add(str(self._bip.ip))
            pool = self._ipam_pools.get(net["Id"])
            if pool:
                ip = self._ipam_driver(net).call("ipam_request_address", pool_id=pool["pool_id"],
                                                 address=requested, options=None).partition("/")[0]
            elif requested:
                if not self._user_subnet.get(net["Id"]):
                    raise errors.InvalidParameter(
                        "invalid endpoint settings:\nuser specified IP address is supported only "
                        "when connecting to networks with user configured subnets")
                ip = ipam.check_requested(entry, requested, used)
            else:
                ip = ipam.allocate(entry, used, net["Name"])
            prefixlen = ipam.IPv4Net(entry["Subnet"]).prefixlen
        ip6, prefixlen6 = self._plan_ip6(rec, net, (cfg.get("IPAMConfig") or {}).get("IPv6Address") or "")
        config = {k: cfg.get(k) for k in ("IPAMConfig", "Links", "Aliases", "DriverOpts", "MacAddress")
                  if cfg.get(k) or (k == "IPAMConfig" and isinstance(cfg.get(k), Mapping))}
        return {"network_id": net["Id"], "network": net["Name"], "driver": net["Driver"],
                "endpoint_id": secrets.token_hex(32), "ip": ip, "prefixlen": prefixlen,
                "mac": mac, "gateway": "", "ifname": ifname,
                "user": self.is_user_defined(net), "config": config,
                **({"ip6": ip6, "prefixlen6": prefixlen6} if ip6 else {})}

    def _plan_ip6(self, rec: Mapping[str, Any], net: Mapping[str, Any], requested: str) -> tuple[str, int]:
        """An endpoint's IPv6 address on an EnableIPv6 network (``--ip6`` or the lowest free)."""
        entries = self._ipam6.get(net["Id"]) if net.get("EnableIPv6") else None
        if not entries:
            if requested:
                raise errors.InvalidParameter("invalid endpoint settings:\nuser specified IP address is "
                                              "supported only when connecting to networks with user configured "
                                              "subnets")
            return "", 0
        entry = entries[0]
        used = {ep["ip6"] for r in [*self._sandboxes.values(), rec] for nid, ep in r["endpoints"].items()
                if nid == net["Id"] and ep.get("ip6")}
        ip6 = ipam.check_requested(entry, requested, used) if requested else ipam.allocate(entry, used, net["Name"])
        return ip6, ipaddress.ip_network(entry["Subnet"]).prefixlen

    def _join(self, rec: dict[str, Any], net: Mapping[str, Any], ep: dict[str, Any]) -> None:
        """Create the endpoint in its driver and put it into the sandbox."""
        driver = self._driver(net)
        address = f"{ep['ip']}/{ep['prefixlen']}" if ep["ip"] else ""
        iface = driver.call("network_endpoint_create", network_id=net["Id"],
                            endpoint_id=ep["endpoint_id"],
                            iface={"address": address, "mac_address": ep["mac"],
                                   **({"address_ipv6": f"{ep['ip6']}/{ep['prefixlen6']}"} if ep.get("ip6") else {}),
                                   **self._endpoint_options(rec, ep)})
        ep["mac"] = iface.get("mac_address", "")
        has_route = any(e.get("gateway") and e.get("routed") for e in rec["endpoints"].values())
        joined = driver.call("network_join", network_id=net["Id"], endpoint_id=ep["endpoint_id"],
                             sandbox_key=rec.get("netns_path") or "", ifname=ep["ifname"],
                             default_route=not has_route)
        ep["gateway"] = joined.get("gateway", "")
        ep["routed"] = bool(ep["gateway"]) and not has_route
        if joined.get("gateway_ipv6"):
            ep["gateway6"] = joined["gateway_ipv6"]

    def _program_links(self, rec: Mapping[str, Any], links: Iterable[str]) -> None:
        """A parent's legacy links on the default bridge: the driver lets it reach each child's exposed
        ports (`network_link`; the bridge driver needs that only with ICC off), as libnetwork does."""
        if not links:
            return
        bridge = self._by_name("bridge")
        ep = rec["endpoints"].get(bridge["Id"]) if bridge else None
        if ep is None:
            return
        with self._lock:
            children = netnames.linked(self._sandboxes, bridge["Id"], links)
        for _, child, child_ep in children:
            ports = [(key.partition("/")[2] or "tcp", int(key.partition("/")[0]))
                     for key in child.get("port_keys") or ()]
            self._driver(bridge).call("network_link", default=True, network_id=bridge["Id"],
                                      endpoint_id=ep["endpoint_id"], linked_endpoint_id=child_ep["endpoint_id"],
                                      ports=ports)

    @staticmethod
    def _endpoint_options(rec: Mapping[str, Any], ep: Mapping[str, Any]) -> dict[str, Any]:
        """Docker's generic options of an endpoint, for drivers that take them: the
        container's ports for the endpoint of its NetworkMode (``options``, as in Docker's
        CreateEndpoint) and for every endpoint of its sandbox (``sandbox_options``, Join)."""
        ports = rec.get("port_options") or port_options(None, None)
        return {"options": ports if ep["ifname"] == "eth0" else port_options(None, None), "sandbox_options": ports}

    def _leave(self, rec: Mapping[str, Any], ep: Mapping[str, Any]) -> None:
        net = self._networks.get(ep["network_id"]) or {"Driver": ep["driver"], "Id": ep["network_id"]}
        driver = self._driver(net)
        ids = {"network_id": ep["network_id"], "endpoint_id": ep["endpoint_id"]}
        if rec.get("ports_network") == ep["network_id"] and rec.get("bindings"):
            driver.call("network_revoke_external", default=True, **ids)
        driver.call("network_leave", sandbox_key=rec.get("netns_path") or "", ifname=ep.get("ifname", ""), **ids)
        driver.call("network_endpoint_delete", **ids)
        pool = self._ipam_pools.get(ep["network_id"])
        if pool and ep.get("ip"):
            self._ipam_driver(net).call("ipam_release_address", pool_id=pool["pool_id"], address=ep["ip"])

    def connect(self, container_id: str, name_or_id: str, config: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
        """Add an endpoint to a running container's sandbox; its EndpointSettings JSON."""
        with self._lock:
            rec = self._sandboxes.get(container_id)
            if rec is None or not rec.get("ready"):
                raise errors.Conflict(f"Container {container_id} is not running")
            if rec.get("shared_with"):
                raise errors.InvalidParameter("container sharing network namespace with another "
                                              "container or host cannot be connected to any other network")
            net = self._find(name_or_id)
            if net["Id"] in rec["endpoints"]:
                raise errors.Forbidden(f"endpoint with name {rec.get('name', '')} already exists "
                                       f"in network {net['Name']}")
            if not rec.get("netns_path") or net["Driver"] in ("host", "null"):
                raise errors.InvalidParameter(
                    "container cannot be disconnected from host network or connected to host network")
            taken = {e["ifname"] for e in rec["endpoints"].values()}
            ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
            ep = self._plan_endpoint(rec, net, dict(config or {}), ifname)
            rec["endpoints"][net["Id"]] = ep
            self._save(rec)
        try:
            self._join(rec, net, ep)
        except BaseException:
            try:
                self._leave(rec, ep)
            finally:
                with self._lock:
                    rec["endpoints"].pop(net["Id"], None)
                    self._save(rec)
            raise
        with self._lock:
            self._save(rec)
        self._dns_attach(rec)
        self._emit("connect", net, container_id)
        return self._endpoint_json(rec, ep)

    def disconnect(self, container_id: str, name_or_id: str) -> None:
        """Take a running container's endpoint on a network away."""
        with self._lock:
            rec = self._sandboxes.get(container_id)
            net = self._find(name_or_id)
            ep = (rec or {}).get("endpoints", {}).get(net["Id"])
            if rec is None or ep is None:
                raise errors.SystemErr(f"container {container_id} is not connected to network "
                                       f"{net['Name']}")
            if net["Driver"] in ("host",):
                raise errors.InvalidParameter(
                    "container cannot be disconnected from host network or connected to host network")
        self._leave(rec, ep)
        if ep.get("routed"):  # another network's gateway becomes the way out, as with Docker
            heir = next((e for e in rec["endpoints"].values() if e is not ep and e.get("gateway")), None)
            if heir is not None:
                self._driver(self._networks[heir["network_id"]]).call(
                    "network_set_default_route", default=True, network_id=heir["network_id"],
                    endpoint_id=heir["endpoint_id"], sandbox_key=rec["netns_path"])
                heir["routed"] = True
        with self._lock:
            rec["endpoints"].pop(net["Id"], None)
            if rec.get("ports_network") == net["Id"]:
                rec["bindings"], rec["ports_network"] = [], ""
                self._release_ports(container_id)
            self._save(rec)
        if not any(e.get("user") for e in rec["endpoints"].values()):
            self._dns_detach(container_id)
        self._emit("disconnect", net, container_id)

    def detach(self, container_id: str) -> None:
        """Undo everything attach (and connect) did; idempotent."""
        with self._lock:
            rec = self._sandboxes.get(container_id)
        if rec is None:
            return
        self._dns_detach(container_id)
        for ep in list(rec["endpoints"].values()):
            self._leave(rec, ep)
        if rec.get("netns_path") and not rec.get("shared_with"):
            remove_netns(rec["netns_path"])
        with self._lock:
            self._release_ports(container_id)
            self._sandboxes.pop(container_id, None)
            try:
                os.unlink(os.path.join(self._ep_dir, f"{container_id}.json"))
            except FileNotFoundError:
                pass
        if rec.get("ready"):
            for ep in rec["endpoints"].values():
                net = self._networks.get(ep["network_id"]) or {
                    "Id": ep["network_id"], "Name": ep["network"], "Driver": ep["driver"]}
                self._emit("disconnect", net, container_id)

    def restore(self, running: Iterable[str]) -> None:
        """After a daemon restart: keep sandboxes of `running` containers, drop the rest."""
        alive = set(running)
        for cid, rec in list(self._sandboxes.items()):
            if cid not in alive or not rec.get("ready"):  # gone, or a crashed attach
                try:
                    self.detach(cid)
                except errors.DockerError:
                    log.exception("network: cannot release endpoints of %s", cid)
            else:
                self._readopt(rec)
                self._hold_ports(rec)
                self._dns_attach(rec)

    def cleanup(self) -> None:
        """Remove everything host-global this daemon made: endpoints, bridges, netfilter."""
        for cid in list(self._sandboxes):
            try:
                self.detach(cid)
            except errors.DockerError:  # go on: the rest must still be removed
                log.exception("network cleanup: endpoints of %s", cid[:12])
        for net in self._networks.values():
            try:
                self._driver(net).call("network_delete", network_id=net["Id"])
            except errors.DockerError:
                log.exception("network cleanup: network %s", net["Name"])
        try:
            os.rmdir(self._netns_dir)
        except OSError:
            pass

    def extra_hosts(self, links: Iterable[str]) -> list[str]:
        """Legacy ``--link name:alias`` on the default bridge → /etc/hosts entries ("names:ip")."""
        with self._lock:
            return netnames.extra_hosts(self._sandboxes, self._by_name("bridge")["Id"], links)

    def link_env(self, links: Iterable[str], own_name: str,
                 env_of: Callable[[str], Iterable[str]] | None = None) -> list[str]:
        """Legacy links' environment variables (ALIAS_PORT..., ALIAS_NAME, and with
        `env_of(container_id)` the linked container's environment as ALIAS_ENV_*)."""
        with self._lock:
            return netnames.link_env(self._sandboxes, self._by_name("bridge")["Id"], links, own_name, env_of)

    def rename(self, container_id: str, name: str) -> None:
        """A running container's new name: for network inspect and the embedded DNS."""
        with self._lock:
            rec = self._sandboxes.get(container_id)
            if rec is not None:
                rec["name"] = name
                self._save(rec)

    # ---- embedded DNS -----------------------------------------------------

    def dns_lookup(self, asker: str, name: str) -> list[str] | None:
        """For the embedded DNS server: see `netnames.lookup`."""
        with self._lock:
            return netnames.lookup(self._sandboxes, asker, name)

    def dns_reverse(self, asker: str, address: str) -> str | None:
        """For the embedded DNS server: see `netnames.reverse`."""
        with self._lock:
            return netnames.reverse(self._sandboxes, asker, address)

    def uses_embedded_dns(self, container_id: str) -> bool:
        rec = self._sandboxes.get(container_id)
        return bool(rec) and any(ep.get("user") for ep in rec["endpoints"].values())

    def _dns_attach(self, rec: Mapping[str, Any]) -> None:
        if self.dns is None or not rec.get("netns_path") or rec.get("shared_with") \
                or not any(ep.get("user") for ep in rec["endpoints"].values()):
            return
        try:  # --dns servers are the container's upstream; an ndots option changes single labels
            self.dns.attach(rec["container_id"], rec["netns_path"], upstream=rec.get("dns") or None,
                            ndots_set=resolvconf.ndots_set(rec.get("dns_options") or ()))
        except Exception:  # a container without DNS still runs, as with Docker's resolver failing
            log.exception("embedded DNS: cannot attach %s", rec["container_id"][:12])

    def _dns_detach(self, container_id: str) -> None:
        if self.dns is None:
            return
        try:
            self.dns.detach(container_id)
        except Exception:
            log.exception("embedded DNS: cannot detach %s", container_id[:12])

    # ---- helpers ----------------------------------------------------------

    def _save(self, rec: dict[str, Any]) -> None:
        self._sandboxes[rec["container_id"]] = rec
        atomic.write_json(os.path.join(self._ep_dir, f"{rec['container_id']}.json"), rec)

    def _readopt(self, rec: Mapping[str, Any]) -> None:
        """After a restart: tell the drivers about a running container's endpoints again
        and program its published ports anew (netfilter state is rebuilt at start)."""
        for ep in rec["endpoints"].values():
            net = self._networks.get(ep["network_id"])
            if net is None or net["Driver"] not in self._host.drivers("network"):
                continue  # a remote plugin keeps its endpoints itself (not contacted at start, as Docker)
            driver = self._driver(net)
            ids = {"network_id": net["Id"], "endpoint_id": ep["endpoint_id"]}
            try:
                driver.call("network_endpoint_create", **ids, iface={
                    "address": f"{ep['ip']}/{ep['prefixlen']}" if ep.get("ip") else "",
                    "mac_address": ep.get("mac", ""),
                    **({"address_ipv6": f"{ep['ip6']}/{ep['prefixlen6']}"} if ep.get("ip6") else {})})
                if rec.get("ports_network") == net["Id"] and rec.get("bindings"):
                    driver.call("network_revoke_external", default=True, **ids)
                    driver.call("network_program_external", **ids, bindings=_dnat_bindings(rec))
            except errors.DockerError:
                log.exception("network: cannot re-adopt the endpoint of %s on %s",
                              rec["container_id"][:12], net["Name"])

    def _hold_ports(self, rec: Mapping[str, Any]) -> None:
        """After a restart: hold the published host ports of a running container again."""
        held = []
        for b in rec.get("bindings") or ():
            try:
                sock = reserve_port(b["host_ip"], b["proto"], int(b["host_port"]))
            except OSError as exc:  # DNAT still serves it; only the hold is lost
                log.warning("network: cannot hold %s:%s/%s again: %s", b["host_ip"], b["host_port"],
                            b["proto"], exc)
                continue
            if sock is not None:
                held.append(sock)
        with self._lock:
            self._held[rec["container_id"]] = held
        self._relay_userland(rec)

    def _release_ports(self, container_id: str) -> None:
        for sock in self._held.pop(container_id, []):
            netrelay.stop(sock)

    def _relay_userland(self, rec: Mapping[str, Any]) -> None:
        """Relay from the held sockets (`netrelay`): on an IPv6 network TCP ports published on
        ``::1`` or ``::`` (for [::1]); on an IPv4-only one every IPv6 binding (``"proxy"``),
        to the container's IPv4 address, as Docker's userland proxy; with ``--iptables=false``
        (no DNAT: the bridge driver makes no rule) every binding."""
        ep = rec["endpoints"].get(rec.get("ports_network") or "") or {}
        targets = {}
        for b in rec.get("bindings") or ():
            if (b.get("proxy") or not self.bridge_settings.iptables) and ep.get("ip"):
                targets[(b["host_ip"], b["proto"], int(b["host_port"]))] = (ep["ip"], int(b["container_port"]))
            elif ep.get("ip6") and b["proto"] == "tcp" and b["host_ip"] in ("::1", "::"):
                targets[(b["host_ip"], "tcp", int(b["host_port"]))] = (ep["ip6"], int(b["container_port"]))
        for sock in self._held.get(rec["container_id"], []):
            if sock.family == socket.AF_INET6 or not self.bridge_settings.iptables:
                host_ip, port = sock.getsockname()[:2]
                proto = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
                if (host_ip, proto, port) in targets:
                    netrelay.serve(sock, targets[(host_ip, proto, port)])

    def _taken_ports(self) -> list[tuple[str, str, int]]:
        return [(b["host_ip"], b["proto"], b["host_port"])
                for r in self._sandboxes.values() for b in r.get("bindings", [])]

    def _emit(self, action: str, net: Mapping[str, Any], container_id: str) -> None:
        self._publish(action, net, {"container": container_id})

    def _emit_net(self, action: str, net: Mapping[str, Any]) -> None:
        self._publish(action, net, {})

    def _publish(self, action: str, net: Mapping[str, Any], attrs: dict[str, str]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(type="network", action=action, actor_id=net["Id"],
                           attrs={**attrs, "name": net["Name"], "type": net["Driver"]})
        except Exception:  # an observer must not break attach/detach
            log.exception("network event observer failed")


def _check_options(options: Mapping[str, str]) -> None:
    """The bridge driver's options whose values Docker checks."""
    mtu = options.get("com.docker.network.driver.mtu")
    if mtu is not None and not re.fullmatch(r"[+-]?\d+", mtu):
        raise errors.InvalidParameter(f"failed to parse com.docker.network.driver.mtu value: {mtu} "
                                      f'(strconv.Atoi: parsing "{mtu}": invalid syntax)')
    if mtu is not None and not 68 <= int(mtu) <= 65535:
        raise errors.InvalidParameter(f"invalid MTU number: {int(mtu)}")
    bridge = options.get("com.docker.network.bridge.name")
    if bridge is not None and (len(bridge) > 15 or not re.fullmatch(r"[A-Za-z0-9_.-]+", bridge)):
        raise errors.InvalidParameter(f"invalid bridge name: {bridge}")
    for key in ("com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade"):
        if key in options and options[key] not in ("true", "false"):
            raise errors.InvalidParameter(f"failed to parse {key} value: {options[key]!r}")


def _dnat_bindings(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bindings a driver programs: not the ones only the daemon's relay serves."""
    return [b for b in rec["bindings"] if not b.get("proxy")]
