"""The extension points of dockerd-py, declared and documented in one place.

Plugins implement these with ``dockerd_py.hookspecs.hookimpl``. Every hook
here is a *driver hook*: it is routed by `dockerd_py.pluginhost` to exactly
one plugin, the driver registered under the name ``"<kind>.<driver>"`` (for
example ``network.bridge``), so an implementation never checks which driver
is meant. All are ``firstresult``; a driver must never return None (a void
operation returns True) because None means "no driver answered", which the
PluginHost turns into ``NotImplementedErr`` (or a documented default for hooks
marked *optional*).

Conventions:
- Calls are keyword-only. An implementation may accept a subset of the
  arguments (pluggy's opt-in arguments), so a hook can gain trailing
  arguments without breaking plugins.
- Arguments and results are primitives and plain dicts (JSON-able), never
  Flask objects or API JSON.
- Errors: raise ``dockerd_py.errors`` classes; anything else is wrapped as
  ``SystemErr("network driver <name>: <msg>")``.
- Hooks run synchronously on any request thread; a driver that keeps state
  locks it. Kernel state made by a driver must be findable again from the
  ids it is given (a restarted daemon calls delete/leave/revoke for
  endpoints created by the previous process).

Network call order for a container:
``endpoint_create -> join -> program_external`` on attach and
``revoke_external -> leave -> endpoint_delete`` on detach.
``network_create`` is called at every daemon start for each network and
must be idempotent (it re-adopts what already exists in the kernel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

PROJECT = "dockerd_py"
HOOKS_API_VERSION = "0.3"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# ---------------------------------------------------------------------------
# network drivers ("network.<name>")
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def network_driver_capabilities(driver: str) -> dict[str, Any]:
    """Describe the driver.

    :param driver: the routed driver name (e.g. ``"bridge"``).
    :return: ``{"scope": "local", "connectivity_scope": "local",
        "needs_sandbox": bool}``; ``needs_sandbox`` False means containers
        share the host's network namespace (the ``host`` driver).

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_create(
    driver: str,
    network_id: str,
    name: str,
    ipv4: Sequence[Mapping[str, str]],
    options: Mapping[str, str],
    ipv6: Sequence[Mapping[str, str]],
) -> bool:
    """Create (or re-adopt, after a daemon restart) a network's host state.

    :param network_id: 64 hex chars.
    :param name: the network's user-visible name.
    :param ipv4: IPAM results, ``[{"subnet": "172.17.0.0/16",
        "gateway": "172.17.0.1"}]`` (empty for host/null), with ``"aux_addresses"``
        (name -> address, Docker's AuxAddresses) when there are: the default bridge's
        ``DefaultGatewayIPv4`` (daemon ``--default-gateway``) is its containers' default route.
    :param options: driver options (``com.docker.network.*``) plus the
        daemon's ``dockerd-py.netfilter_prefix`` and ``dockerd-py.internal``
        (``"true"``: no traffic in or out of the network but among its
        endpoints; added in 0.2).
    :param ipv6: the IPv6 IPAM results of an ``EnableIPv6`` network, same
        shape as `ipv4` (empty otherwise; only bridge networks can enable
        IPv6 for now). Added in 0.3.
    :return: True. Must be idempotent.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_delete(driver: str, network_id: str) -> bool:
    """Remove everything host-global that ``network_create`` made.

    :return: True, also when nothing was left to remove.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_endpoint_create(
    driver: str, network_id: str, endpoint_id: str, iface: Mapping[str, str]
) -> dict[str, str]:
    """Create an endpoint: record it (the bridge driver makes its veth pair at join, in the sandbox).

    :param iface: ``{"address": "172.17.0.2/16", "mac_address": "02:42:..."}``
        as chosen by the daemon; either may be empty. On an IPv6 network also
        ``"address_ipv6": "fd00::2/64"`` (added in 0.3). Also ``"options"`` and
        ``"sandbox_options"``: Docker's generic endpoint options (the container's
        ``com.docker.network.endpoint.exposedports`` / ``com.docker.network.portmap``)
        for this endpoint's creation and for its join; drivers may ignore them.
    :return: the interface as created, the same keys, filled in.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_endpoint_delete(driver: str, network_id: str, endpoint_id: str) -> bool:
    """Delete an endpoint. Idempotent.

    :return: True.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_join(
    driver: str, network_id: str, endpoint_id: str, sandbox_key: str, ifname: str,
    default_route: bool,
) -> dict[str, str]:
    """Put the endpoint's interface into a sandbox (network namespace).

    :param sandbox_key: absolute path of the netns file.
    :param ifname: name of the interface inside the sandbox (``eth0``,
        ``eth1``... for a container on several networks).
    :param default_route: True when the sandbox has no default route yet:
        the driver adds one through its gateway (if it has one). Added in 0.2.
    :return: ``{"gateway": "172.17.0.1"}`` (``""`` when there is none, e.g.
        an internal network, which has no way out), and ``"gateway_ipv6"`` for
        an endpoint with an IPv6 address (added in 0.3).

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_set_default_route(driver: str, network_id: str, endpoint_id: str,
                              sandbox_key: str) -> bool:
    """Make the endpoint's gateway the sandbox's default route (the endpoint that had
    it was disconnected).

    :return: True.

    Routed, firstresult, *optional* (default: the sandbox keeps no default route).
    Added in 0.2.
    """


@hookspec(firstresult=True)
def network_leave(driver: str, network_id: str, endpoint_id: str, sandbox_key: str, ifname: str) -> bool:
    """Take the endpoint out of its sandbox. Idempotent.

    :param sandbox_key: the netns file the endpoint joined (``""`` if none),
        and `ifname` its interface there, so that a restarted daemon's driver
        finds what a previous process made (added in 0.3).
    :return: True.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_program_external(
    driver: str,
    network_id: str,
    endpoint_id: str,
    bindings: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Publish container ports on the host.

    :param bindings: ``[{"proto": "tcp", "container_port": 80,
        "host_ip": "0.0.0.0", "host_port": 8080}]`` with concrete host ports
        (the daemon has already resolved ephemeral ports).
    :return: the bindings as programmed.

    Routed, firstresult, *optional*: None means the driver cannot publish
    ports, and the daemon refuses bindings for it. Added in 0.1.
    """


@hookspec(firstresult=True)
def network_link(driver: str, network_id: str, endpoint_id: str, linked_endpoint_id: str,
                 ports: Sequence[tuple[str, int]]) -> bool:
    """A legacy link (``--link``) on the network: `endpoint_id` (the parent) may reach
    `linked_endpoint_id` on `ports` (``[("tcp", 80)]``, the child's exposed ports) even when the
    network's ICC is off, as libnetwork's per-link rules allow. Undone when either endpoint is
    deleted. Called after both joined.

    :return: True.

    Routed, firstresult, *optional* (default: nothing to allow). Added in 0.3.
    """


@hookspec(firstresult=True)
def network_revoke_external(driver: str, network_id: str, endpoint_id: str) -> bool:
    """Remove everything ``network_program_external`` made. Idempotent.

    :return: True.

    Routed, firstresult, *optional* (default: nothing to revoke).
    Added in 0.1.
    """


# ---------------------------------------------------------------------------
# IPAM drivers ("ipam.<name>"), added in 0.3
#
# The built-in ``default`` IPAM is the daemon's own (services/ipam.py); these
# hooks are what a remote ``IpamDriver`` plugin is adapted into
# (dockerd_py/remoteplugins/ipam.py), for ``--ipam-driver <plugin>``.
# Call order: request_pool, request_address of the gateway (options
# ``{"RequestAddressType": "com.docker.network.gateway"}``) before
# network_create; request_address per endpoint before endpoint_create,
# release_address after endpoint_delete; release_address of the gateway and
# release_pool before network_delete.
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def ipam_request_pool(driver: str, pool: str, sub_pool: str, options: Mapping[str, str],
                      v6: bool) -> dict[str, Any]:
    """Reserve a pool: `pool` as given by the user (``--subnet``) or ``""`` for any.

    :return: ``{"pool_id": str, "pool": "10.1.0.0/24", "address_space": str, "data": {}}``.

    Routed, firstresult. Added in 0.3.
    """


@hookspec(firstresult=True)
def ipam_release_pool(driver: str, pool_id: str) -> bool:
    """Release a pool. :return: True. Routed, firstresult. Added in 0.3."""


@hookspec(firstresult=True)
def ipam_request_address(driver: str, pool_id: str, address: str,
                         options: Mapping[str, str] | None) -> str:
    """Reserve `address` (``""``: any) of a pool. :return: it in CIDR form (``10.1.0.2/24``).

    Routed, firstresult. Added in 0.3.
    """


@hookspec(firstresult=True)
def ipam_release_address(driver: str, pool_id: str, address: str) -> bool:
    """Release an address (no prefix length). :return: True. Routed, firstresult. Added in 0.3."""


# ---------------------------------------------------------------------------
# volume drivers ("volume.<name>")
#
# Call order for a container: ``volume_mount`` at start (its result is the
# host path bound into the container), ``volume_unmount`` at exit; one
# mount/unmount pair per ``mount_id`` (a random id per mount point of a
# container, as Docker's), so a driver counts its users by mount id and
# releases what it mounted with the last one. The daemon keeps the volumes'
# metadata (labels, creation time, options); a driver keeps data. A remote
# VolumeDriver plugin is adapted into these hooks (dockerd_py/remoteplugins).
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def volume_driver_capabilities(driver: str, root: str) -> dict[str, Any]:
    """Describe the driver, and tell it where the daemon keeps volumes.

    :param root: ``<data-root>/volumes``; called once at daemon start, before
        any other volume hook of this driver.
    :return: ``{"scope": "local"}`` (or ``"global"``).

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_create(driver: str, name: str, options: Mapping[str, str]) -> dict[str, Any]:
    """Create a volume's storage. Idempotent for a name that exists.

    :param options: the driver options (``DriverOpts``) as given.
    :return: ``{"mountpoint": "/abs/path"}`` (may be ``""`` until mounted).

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_remove(driver: str, name: str) -> bool:
    """Delete a volume and its data. Idempotent.

    :return: True.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_path(driver: str, name: str) -> str:
    """The volume's mountpoint on the host (``""`` when not mounted).

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_mount(driver: str, name: str, mount_id: str) -> str:
    """Make the volume usable for one user (a container id) and give its host path.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_unmount(driver: str, name: str, mount_id: str) -> bool:
    """Release what ``volume_mount`` did for `mount_id`. Idempotent.

    :return: True.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_list(driver: str) -> list[dict[str, Any]]:
    """Every volume the driver holds: ``[{"name": ..., "mountpoint": ...}]``.

    Routed, firstresult. Added in 0.1.
    """


@hookspec(firstresult=True)
def volume_get(driver: str, name: str) -> dict[str, Any]:
    """What the driver knows of one volume: ``{"name", "mountpoint", "created_at", "status"}``.

    ``status`` (a dict or None) is shown as the volume's ``Status`` in inspect.

    Routed, firstresult, *optional* (the local driver has no such hook: the
    daemon's metadata and ``volume_path`` answer). Added in 0.2.
    """
