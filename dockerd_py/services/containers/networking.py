"""A container's side of networking: its endpoint configs, connect and disconnect.

A container's ``NetworkSettings.Networks`` holds its endpoint configs
(IPAMConfig, Aliases, Links, MacAddress, DriverOpts) by network name: set at
create from NetworkingConfig, changed by connect/disconnect while it is
stopped, and turned into endpoints at start (the runner hands them to
`NetworkService.attach`). While it runs, connect/disconnect go to the network
service at once and the entry shows the live endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import Conflict, InvalidParameter, NotFound, SystemErr
from ..etc_files import edit_hosts, own_hosts_lines
from ..ipam import endpoint_ipam_json
from .links import CONTAINER_LINKS, HOST_LINKS

SHARED = "container sharing network namespace with another container or host cannot be connected to any other network"
HOST = "container cannot be disconnected from host network or connected to host network"
NONE = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
CONFIG_FIELDS = ("IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts")
# The MAC a user asked for, kept in the stored endpoint while MacAddress shows the live one
# (cleared when the container stops), as Docker's config.v2.json does; never shown by the API.
DESIRED_MAC = "DesiredMacAddress"


def check_mode_conflicts(config: Mapping[str, Any], host_config: Mapping[str, Any]) -> None:
    """Docker's create-time 400s (runconfig's validateNetMode) for settings a shared network
    namespace cannot take, in Docker's order."""
    mode = host_config.get("NetworkMode") or ""
    shared = mode.startswith("container:")
    if shared and not mode.partition(":")[2]:
        raise InvalidParameter("Invalid network mode: invalid container format container:<name|id>")
    conflicts = (
        (shared and config.get("Hostname"), "conflicting options: hostname and the network mode"),
        (shared and host_config.get("Links"), CONTAINER_LINKS),
        (shared and host_config.get("Dns"), "conflicting options: dns and the network mode"),
        (shared and host_config.get("ExtraHosts"), "conflicting options: custom host-to-IP mapping and the network mode"),
        (shared and (host_config.get("PortBindings") or host_config.get("PublishAllPorts")),
         "conflicting options: port publishing and the container type network mode"),
        (shared and config.get("ExposedPorts"), "conflicting options: port exposing and the container type network mode"),
        (mode == "host" and host_config.get("Links"), HOST_LINKS),
    )
    for conflict, text in conflicts:
        if conflict:
            raise InvalidParameter(text)


def stored_endpoint(cfg: Mapping[str, Any] | None, network_id: str = "") -> dict[str, Any]:
    """EndpointSettings of a network the container is not running on: its config, no live values."""
    cfg = cfg or {}
    if not isinstance(cfg, Mapping):
        raise InvalidParameter("json: cannot unmarshal into Go value of type network.EndpointSettings")
    out = {"IPAMConfig": endpoint_ipam_json(cfg.get("IPAMConfig")), "Links": cfg.get("Links") or None,
           "Aliases": cfg.get("Aliases") or None, "MacAddress": cfg.get("MacAddress") or "",
           "DriverOpts": cfg.get("DriverOpts") or None, "NetworkID": network_id, "EndpointID": "",
           "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
           "GlobalIPv6PrefixLen": 0, "DNSNames": None}
    if cfg.get("MacAddress"):
        out[DESIRED_MAC] = cfg["MacAddress"]
    return out


def check_endpoint(networks, net: Mapping[str, Any], cfg: Mapping[str, Any] | None) -> None:
    """What Docker refuses at create/connect for a network that exists (a 400)."""
    cfg = cfg or {}
    if not net["Id"] or networks.is_user_defined(net):
        return
    problems = []
    if (cfg.get("IPAMConfig") or {}).get("IPv4Address"):
        problems.append("user specified IP address is supported on user defined networks only")
    if cfg.get("Aliases"):
        problems.append("network-scoped alias is supported only for containers in user defined networks")
    if problems:
        raise InvalidParameter("invalid endpoint settings:\n" + "\n".join(problems))


def initial_networks(networks, network_mode: str, endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """NetworkSettings.Networks at create. A network that does not exist is kept by the
    given name: as with Docker, the start fails (a 404 at create would make the CLI pull)."""
    if not isinstance(endpoints, Mapping):
        raise InvalidParameter("json: cannot unmarshal into Go struct field NetworkingConfig.EndpointsConfig")
    if network_mode.startswith("container:"):
        return {}  # endpoint settings given anyway (--ip) are ignored, as Docker's

    def find(ref: str) -> Mapping[str, Any]:
        try:
            return networks.inspect(ref)
        except NotFound:
            return {"Name": ref, "Id": "", "Driver": ""}

    primary = find("bridge" if network_mode in ("", "default") else network_mode)
    primary_cfg = endpoints.get(network_mode) or endpoints.get("default") or endpoints.get(primary["Name"])
    check_endpoint(networks, primary, primary_cfg)
    out = {primary["Name"]: stored_endpoint(primary_cfg, primary["Id"])}
    for ref, cfg in endpoints.items():
        if ref in (network_mode, "default", primary["Name"], primary["Id"]):
            continue
        net = find(ref)
        if primary["Driver"] == "host" or net["Driver"] == "host":
            raise InvalidParameter(HOST)
        if primary["Driver"] == "null" or net["Driver"] == "null":
            raise InvalidParameter(NONE)
        check_endpoint(networks, net, cfg)
        out[net["Name"]] = stored_endpoint(cfg, net["Id"])
    return out


def shared_mode(containers, network_mode: str) -> str:
    """NetworkMode as stored at create: ``container:<ref>`` of an existing container becomes
    ``container:<its full id>``, as Docker stores it; anything else is kept as given."""
    if not network_mode.startswith("container:"):
        return network_mode
    try:
        return f"container:{containers.get(network_mode.partition(':')[2]).id}"
    except NotFound:
        return network_mode  # Docker creates it; the start fails


def check_shared(containers, c) -> None:
    """Before a start with ``container:<ref>``: Docker's 404 for a container that does not
    exist, its 409 for one that does not run."""
    mode = c.host_config.get("NetworkMode") or ""
    if not mode.startswith("container:"):
        return
    ref = mode.partition(":")[2]
    if not containers.get(ref).state.running:
        raise Conflict(f"cannot join network of a non running container: {ref}")


def endpoint_configs(c) -> dict[str, dict[str, Any]]:
    """What to hand to NetworkService.attach: the config part of each stored endpoint."""
    nets = (c.network_settings or {}).get("Networks") or {}
    out = {}
    for name, ep in nets.items():
        cfg = {k: ep.get(k) for k in CONFIG_FIELDS if ep.get(k) and k != "MacAddress"}
        if ep.get("IPAMConfig") is not None:  # given empty ({}, as compose sends it): shown so
            cfg["IPAMConfig"] = ep["IPAMConfig"]
        if ep.get(DESIRED_MAC):
            cfg["MacAddress"] = ep[DESIRED_MAC]
        out[name] = cfg
    return out


def _own_lines(c, endpoint: Mapping[str, Any]) -> list[str]:
    """The container's own /etc/hosts lines for one endpoint (added at connect, removed at disconnect)."""
    ips = [endpoint.get("IPAddress"), endpoint.get("GlobalIPv6Address")]
    return own_hosts_lines(c.config.get("Hostname", ""), c.config.get("Domainname", ""), [ip for ip in ips if ip])


def _check_conflicts(networks, c, net: Mapping[str, Any]) -> None:
    """Docker's updateNetworkSettings: `net` against the networks the container is on now
    (after a disconnect from none, a none-mode container may join a network)."""
    if (c.host_config.get("NetworkMode") or "bridge") != "host" and net["Driver"] == "host":
        raise InvalidParameter(HOST)
    for name, ep in (c.network_settings.get("Networks") or {}).items():
        try:
            other = networks.inspect((ep or {}).get("NetworkID") or name)
        except NotFound:
            continue
        if other["Id"] == net["Id"]:
            return
        if "host" in (other["Driver"], net["Driver"]):
            raise InvalidParameter(SHARED)
        if "null" in (other["Driver"], net["Driver"]):
            raise InvalidParameter(NONE)


def connect(containers, networks, container_ref: str, network_ref: str,
            config: Mapping[str, Any]) -> None:
    """POST /networks/{id}/connect."""
    c = containers.get(container_ref)
    net = networks.inspect(network_ref)
    if (c.host_config.get("NetworkMode") or "").startswith("container:"):
        raise InvalidParameter(SHARED)
    check_endpoint(networks, net, config)  # before the conflicts and "already exists", as Docker's
    _check_conflicts(networks, c, net)
    with c.lock:
        settings = c.network_settings.setdefault("Networks", {})
        if c.state.running:
            had_dns = networks.uses_embedded_dns(c.id)
            settings[net["Name"]] = networks.connect(c.id, net["Id"], dict(config or {}))
            edit_hosts(c.etc_path("hosts"), add=_own_lines(c, settings[net["Name"]]))
            if not had_dns and networks.uses_embedded_dns(c.id):
                containers.runner.adopt_embedded_dns(c)
        else:  # remembered for the next start; connecting again replaces the config, as Docker
            settings[net["Name"]] = stored_endpoint(config, net["Id"])
        c.save()


def disconnect(containers, networks, container_ref: str, network_ref: str, force: bool) -> None:
    """POST /networks/{id}/disconnect; `force` also drops an entry whose network is gone."""
    c = containers.get(container_ref)
    try:
        net = networks.inspect(network_ref)
    except NotFound:
        if not force:
            raise
        net = {"Name": network_ref, "Id": "", "Driver": ""}
    with c.lock:
        if c.state.running and net["Driver"] == "host" and (c.host_config.get("NetworkMode") or "") == "host":
            raise InvalidParameter(HOST)
        settings = c.network_settings.setdefault("Networks", {})
        if c.state.running and net["Id"]:
            networks.disconnect(c.id, net["Id"])
            edit_hosts(c.etc_path("hosts"), remove=_own_lines(c, settings.get(net["Name"]) or {}))
        elif net["Name"] not in settings:
            raise SystemErr(f"container {c.id} is not connected to the network {net['Name']}")
        settings.pop(net["Name"], None)
        c.save()
