"""A remote ``NetworkDriver`` plugin as the pluggy driver ``network.<name>``.

The adapter implements the hooks of the bridge driver by calling the plugin,
in the order Docker's dockerd calls it (observed against Engine 20.10 with
tests/compat/network_plugin_server.py):

- network create: ``Plugin.Activate`` and ``NetworkDriver.GetCapabilities``
  (once, at registration; also ``IpamDriver.GetCapabilities`` and
  ``GetDefaultAddressSpaces`` when the plugin implements IPAM too), then
  ``CreateNetwork`` with the IPAM data (``Gateway`` and ``AuxAddresses`` in
  CIDR form) and the user's ``-o`` options under ``com.docker.network.generic``;
- attach: ``CreateEndpoint``, ``Join``, then for the endpoint that gives the
  sandbox its default route ``ProgramExternalConnectivity``, then
  ``EndpointOperInfo``. Join's ``InterfaceName.SrcName`` is moved into the
  sandbox and renamed ``DstPrefix`` + the endpoint's index (eth0, eth1, ...),
  given the endpoint's address, MAC, the plugin's ``StaticRoutes`` and a
  default route via its ``Gateway``;
- detach: ``RevokeExternalConnectivity`` (if programmed), ``Leave`` (the
  interface goes back to the host under its source name), ``DeleteEndpoint``;
- network rm: ``DeleteNetwork``.

Ports are the plugin's job, as with Docker: CreateEndpoint (the endpoint of the
container's NetworkMode), Join and ProgramExternalConnectivity carry the container's
``com.docker.network.endpoint.exposedports`` and ``com.docker.network.portmap``
(libnetwork's JSON, as observed); the daemon binds nothing and shows no Ports. ``DiscoverNew`` /
``DiscoverDelete`` are swarm node discovery, never sent by a daemon that is
not in a swarm, as here.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from dockerd_plugins.network import _sandbox_link

from ..errors import DockerError, NotFound, SystemErr
from ..hookspecs import hookimpl
from .client import PluginError
from .discovery import PluginNotFound
from .ipam import IMPLEMENTS as IPAM_IMPLEMENTS
from .ipam import RemoteIpamDriver
from .registry import NotImplementing, Plugin, Registry

IMPLEMENTS = "NetworkDriver"
TIMEOUT = 60.0
_NO_PORTS = {"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []}


def call(plugin: Plugin, method: str, args: dict | None) -> dict:
    """One RPC; a failure or an answer with ``Err`` is a SystemErr (Docker's 500)."""
    try:
        out = plugin.client.call(method, args, TIMEOUT)
    except PluginError as e:
        raise SystemErr(str(e)) from None
    if out.get("Err"):
        raise SystemErr(f"{method}: {out['Err']}")
    return out


class RemoteNetworkDriver:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.scope = "local"
        self._lock = threading.Lock()
        self._eps: dict[str, dict[str, Any]] = {}   # endpoint id -> address, mac, sandbox, names

    def _call(self, method: str, args: dict | None) -> dict:
        return call(self.plugin, "NetworkDriver." + method, args)

    @hookimpl
    def network_driver_capabilities(self) -> dict[str, Any]:
        return {"scope": self.scope, "connectivity_scope": self.scope, "needs_sandbox": True}

    def load_capabilities(self) -> None:
        caps = self._call("GetCapabilities", None)
        self.scope = "global" if str(caps.get("Scope", "")).lower() == "global" else "local"

    @hookimpl
    def network_create(self, network_id: str, ipv4: list[dict[str, str]], options: dict[str, str]) -> bool:
        generic = {k: v for k, v in options.items() if not k.startswith("dockerd-py.")}  # the user's -o
        opts: dict[str, Any] = {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": generic}
        if options.get("dockerd-py.internal") == "true":
            opts["com.docker.network.internal"] = True
        data = []
        for c in ipv4:
            prefixlen = c["subnet"].partition("/")[2]
            entry = {"AddressSpace": c.get("address_space") or "LocalDefault", "Pool": c["subnet"],
                     "Gateway": f"{c['gateway']}/{prefixlen}" if c.get("gateway") else ""}
            if c.get("aux_addresses"):   # --aux-address, each in CIDR form as the gateway
                entry["AuxAddresses"] = {k: f"{v}/{prefixlen}" for k, v in c["aux_addresses"].items()}
            data.append(entry)
        self._call("CreateNetwork", {"NetworkID": network_id, "Options": opts, "IPv4Data": data, "IPv6Data": []})
        return True

    @hookimpl
    def network_delete(self, network_id: str) -> bool:
        self._call("DeleteNetwork", {"NetworkID": network_id})
        return True

    @hookimpl
    def network_endpoint_create(self, network_id: str, endpoint_id: str, iface: dict[str, Any]) -> dict[str, str]:
        address, mac = iface.get("address") or "", iface.get("mac_address") or ""
        out = self._call("CreateEndpoint", {
            "NetworkID": network_id, "EndpointID": endpoint_id,
            "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": mac},
            "Options": dict(iface.get("options") or _NO_PORTS)})
        given = out.get("Interface") or {}
        if given.get("Address") and address and given["Address"] != address:
            raise SystemErr(f"driver {self.plugin.name} modified the interface address of an endpoint")
        address = address or given.get("Address") or ""
        mac = mac or given.get("MacAddress") or ""
        with self._lock:
            self._eps[endpoint_id] = {"address": address, "mac": mac,
                                      "options": dict(iface.get("sandbox_options") or _NO_PORTS)}
        return {"address": address, "mac_address": mac}

    @hookimpl
    def network_join(self, network_id: str, endpoint_id: str, sandbox_key: str, ifname: str,
                     default_route: bool = True) -> dict[str, str]:
        ids = {"NetworkID": network_id, "EndpointID": endpoint_id}
        options = (self._eps.get(endpoint_id) or {}).get("options") or dict(_NO_PORTS)
        out = self._call("Join", {**ids, "SandboxKey": sandbox_key, "Options": options})
        names = out.get("InterfaceName") or {}
        src, prefix = names.get("SrcName") or "", names.get("DstPrefix") or ""
        if not src or not prefix:
            raise SystemErr(f"NetworkDriver.Join: plugin {self.plugin.name} gave no InterfaceName")
        ep = self._eps.setdefault(endpoint_id, {"address": "", "mac": ""})
        gateway = out.get("Gateway") or ""
        index = re.search(r"\d+$", ifname)
        dst = prefix + (index.group() if index else "0")
        mac = ep["mac"] or out.get("MacAddress") or ""
        _sandbox_link.adopt(src, sandbox_key, dst, mac, ep["address"], gateway if default_route else "",
                            out.get("StaticRoutes") or [], mark=endpoint_id)
        ep.update(sandbox=sandbox_key, src=src, dst=dst, gateway=gateway)
        if default_route and gateway:  # the sandbox's gateway endpoint, as Docker's
            self._call("ProgramExternalConnectivity", {**ids, "Options": options})
            ep["programmed"] = True
        self._call("EndpointOperInfo", ids)
        return {"gateway": gateway}

    @hookimpl
    def network_set_default_route(self, network_id: str, endpoint_id: str, sandbox_key: str) -> bool:
        """The endpoint that gave the default route left: this one's Join gateway takes over."""
        ep = self._eps.get(endpoint_id) or {}
        if ep.get("gateway"):
            _sandbox_link.replace_default_route(sandbox_key, ep["gateway"])
            self._call("ProgramExternalConnectivity", {"NetworkID": network_id, "EndpointID": endpoint_id,
                                                       "Options": ep.get("options") or dict(_NO_PORTS)})
            ep["programmed"] = True
        return True

    @hookimpl
    def network_leave(self, network_id: str, endpoint_id: str, sandbox_key: str, ifname: str) -> bool:
        ids = {"NetworkID": network_id, "EndpointID": endpoint_id}
        ep = self._eps.get(endpoint_id) or {"programmed": True}  # unknown after a restart: revoke anyway
        if ep.get("programmed"):
            self._call("RevokeExternalConnectivity", ids)
            ep["programmed"] = False
        self._call("Leave", ids)
        if ep.get("sandbox"):
            _sandbox_link.give_back(ep["sandbox"], ep["dst"], ep["src"])
        elif sandbox_key:  # joined by a previous daemon process: found by its mark, deleted
            _sandbox_link.delete_marked_in(sandbox_key, endpoint_id)
        return True

    @hookimpl
    def network_endpoint_delete(self, network_id: str, endpoint_id: str) -> bool:
        self._call("DeleteEndpoint", {"NetworkID": network_id, "EndpointID": endpoint_id})
        with self._lock:
            self._eps.pop(endpoint_id, None)
        return True


class RemoteNetworkPlugins:
    """Registers remote network (and IPAM) drivers into a PluginHost when first needed."""

    def __init__(self, pluginhost, registry: Registry | None = None) -> None:
        self.plugins = pluginhost
        self.registry = registry or Registry()
        self._lock = threading.Lock()

    def lookup(self, kind: str, name: str) -> None:
        """Make ``<kind>.<name>`` (kind network or ipam) a registered driver; Docker's 404 if it is not there."""
        if self.plugins.pm.get_plugin(f"{kind}.{name}") is not None:
            return
        try:
            plugin = self.registry.get(name, IMPLEMENTS if kind == "network" else IPAM_IMPLEMENTS)
        except (PluginNotFound, NotImplementing):
            raise NotFound(f'plugin "{name}" not found') from None
        except PluginError as e:
            raise SystemErr(f"legacy plugin: {e}") from None
        with self._lock:
            if IMPLEMENTS in plugin.implements and self.plugins.pm.get_plugin(f"network.{name}") is None:
                driver = RemoteNetworkDriver(plugin)
                driver.load_capabilities()
                self._register(f"network.{name}", driver)
            if IPAM_IMPLEMENTS in plugin.implements and self.plugins.pm.get_plugin(f"ipam.{name}") is None:
                ipam = RemoteIpamDriver(plugin)
                ipam.load_capabilities()
                self._register(f"ipam.{name}", ipam)

    def _register(self, name: str, driver: object) -> None:
        try:
            self.plugins.register(name, driver)
        except DockerError:  # registered meanwhile
            pass
