"""A remote ``IpamDriver`` plugin as the pluggy driver ``ipam.<name>``.

Registered with the network driver of the same plugin (or alone, for
``--ipam-driver``): ``IpamDriver.GetCapabilities`` and
``GetDefaultAddressSpaces`` once; pools are asked for in the local default
address space. The daemon calls, as Docker's: ``RequestPool`` then
``RequestAddress`` of the gateway (``RequestAddressType:
com.docker.network.gateway``) and of each ``--aux-address`` (no options)
before CreateNetwork; ``RequestAddress`` per endpoint before CreateEndpoint,
``ReleaseAddress`` after DeleteEndpoint; at network rm ``ReleaseAddress`` of
the gateway and the aux addresses and ``ReleasePool`` before DeleteNetwork.
"""

from __future__ import annotations

from typing import Any

from ..errors import SystemErr
from ..hookspecs import hookimpl
from .client import PluginError
from .registry import Plugin

IMPLEMENTS = "IpamDriver"
TIMEOUT = 60.0


class RemoteIpamDriver:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.address_space = "LocalDefault"
        self.requires_mac = False

    def _call(self, method: str, args: dict | None) -> dict:
        try:
            out = self.plugin.client.call("IpamDriver." + method, args, TIMEOUT)
        except PluginError as e:
            raise SystemErr(str(e)) from None
        if out.get("Err"):
            raise SystemErr(f"IpamDriver.{method}: {out['Err']}")
        return out

    def load_capabilities(self) -> None:
        try:
            self.requires_mac = bool(self._call("GetCapabilities", None).get("RequiresMACAddress"))
        except SystemErr:  # an old plugin without GetCapabilities
            self.requires_mac = False
        spaces = self._call("GetDefaultAddressSpaces", None)
        self.address_space = spaces.get("LocalDefaultAddressSpace") or self.address_space

    @hookimpl
    def ipam_request_pool(self, pool: str, sub_pool: str, options: dict[str, str], v6: bool) -> dict[str, Any]:
        out = self._call("RequestPool", {"AddressSpace": self.address_space, "Pool": pool, "SubPool": sub_pool,
                                         "Options": dict(options), "V6": v6})
        if not out.get("PoolID") or not out.get("Pool"):
            raise SystemErr(f"IpamDriver.RequestPool: plugin {self.plugin.name} gave no pool")
        return {"pool_id": out["PoolID"], "pool": out["Pool"], "address_space": self.address_space,
                "data": out.get("Data") or {}}

    @hookimpl
    def ipam_release_pool(self, pool_id: str) -> bool:
        self._call("ReleasePool", {"PoolID": pool_id})
        return True

    @hookimpl
    def ipam_request_address(self, pool_id: str, address: str, options: dict[str, str] | None) -> str:
        out = self._call("RequestAddress", {"PoolID": pool_id, "Address": address, "Options": options})
        if not out.get("Address"):
            raise SystemErr(f"IpamDriver.RequestAddress: plugin {self.plugin.name} gave no address")
        return str(out["Address"])

    @hookimpl
    def ipam_release_address(self, pool_id: str, address: str) -> bool:
        self._call("ReleaseAddress", {"PoolID": pool_id, "Address": address})
        return True
