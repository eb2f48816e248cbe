"""A small Docker network + IPAM plugin (the remote NetworkDriver/IpamDriver protocol) for the tests.

It serves HTTP/1.1 on a unix socket and records every call (method, JSON body)
in `calls`. As a real plugin it makes kernel state: a bridge ``<tag>b<net[:6]>``
per network (with the gateway address) and a veth pair per endpoint at Join
(host side ``<tag>h<ep[:6]>`` on the bridge, the other ``<tag>c<ep[:6]>`` handed
to the daemon as InterfaceName.SrcName), removed at DeleteEndpoint/DeleteNetwork.
Its IPAM hands out 10.<n>.<m>.0/24 pools and addresses from .2 up.
Run it as a script to try it against another daemon: ``python network_plugin_server.py SOCK TAG``.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import threading

try:
    from .plugin_http import PluginHTTPServer
except ImportError:  # run as a script
    from plugin_http import PluginHTTPServer

STATIC_ROUTE = "192.0.2.0/24"   # TEST-NET-1: given to every Join as a connected route


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class NetworkPlugin:
    def __init__(self, sock: str, tag: str, pool: str = "10.123.45.0/24") -> None:
        self.sock, self.tag = sock, tag
        self.pool = ipaddress.IPv4Network(pool)
        self.calls: list[tuple[str, dict]] = []
        self.networks: dict[str, dict] = {}     # id -> {"bridge", "gateway"}
        self.addresses: set[str] = set()        # handed out by the IPAM
        self.fail: dict[str, str] = {}          # method -> Err to answer with
        self._lock = threading.Lock()
        self._http = PluginHTTPServer(sock, self._on_post)
        self.raw_bodies = self._http.raw_bodies

    def _on_post(self, path: str, body: dict, headers) -> tuple[int, dict]:
        method = path.lstrip("/")
        with self._lock:
            self.calls.append((method, body))
            return self.handle(method, body)

    def start(self) -> "NetworkPlugin":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()
        for net in list(self.networks.values()):
            ip("link", "del", net["bridge"], check=False)

    def names(self) -> list[str]:
        return [m for m, _ in self.calls]

    # ---- the protocol -------------------------------------------------------

    def handle(self, method: str, body: dict) -> tuple[int, dict]:
        if method in self.fail:
            return 500, {"Err": self.fail[method]}
        if method == "Plugin.Activate":
            return 200, {"Implements": ["NetworkDriver", "IpamDriver"]}
        kind, _, op = method.partition(".")
        fn = getattr(self, f"_{kind}_{op}", None)
        return (200, fn(body)) if fn else (200, {})

    def _NetworkDriver_GetCapabilities(self, body: dict) -> dict:
        return {"Scope": "local", "ConnectivityScope": "local"}

    def _NetworkDriver_CreateNetwork(self, body: dict) -> dict:
        nid = body["NetworkID"]
        gateway = (body.get("IPv4Data") or [{}])[0].get("Gateway") or ""
        bridge = f"{self.tag}b{nid[:6]}"
        ip("link", "add", bridge, "type", "bridge")
        if gateway:
            ip("addr", "add", gateway, "dev", bridge)
        ip("link", "set", bridge, "up")
        self.networks[nid] = {"bridge": bridge, "gateway": gateway.split("/")[0]}
        return {}

    def _NetworkDriver_DeleteNetwork(self, body: dict) -> dict:
        net = self.networks.pop(body["NetworkID"], None)
        if net:
            ip("link", "del", net["bridge"], check=False)
        return {}

    def _NetworkDriver_Join(self, body: dict) -> dict:
        net = self.networks[body["NetworkID"]]
        eid = body["EndpointID"]
        host, peer = f"{self.tag}h{eid[:6]}", f"{self.tag}c{eid[:6]}"
        ip("link", "add", host, "type", "veth", "peer", "name", peer)
        ip("link", "set", host, "master", net["bridge"], "up")
        return {"InterfaceName": {"SrcName": peer, "DstPrefix": "eth"}, "Gateway": net["gateway"],
                "StaticRoutes": [{"Destination": STATIC_ROUTE, "RouteType": 1}]}

    def _NetworkDriver_DeleteEndpoint(self, body: dict) -> dict:
        ip("link", "del", f"{self.tag}h{body['EndpointID'][:6]}", check=False)
        return {}

    def _NetworkDriver_EndpointOperInfo(self, body: dict) -> dict:
        return {"Value": {"plugin": self.tag}}

    def _IpamDriver_GetCapabilities(self, body: dict) -> dict:
        return {"RequiresMACAddress": False}

    def _IpamDriver_GetDefaultAddressSpaces(self, body: dict) -> dict:
        return {"LocalDefaultAddressSpace": "np-local", "GlobalDefaultAddressSpace": "np-global"}

    def _IpamDriver_RequestPool(self, body: dict) -> dict:
        pool = body.get("Pool") or str(self.pool)
        return {"PoolID": f"np-{pool}", "Pool": pool, "Data": {}}

    def _IpamDriver_RequestAddress(self, body: dict) -> dict:
        pool = ipaddress.IPv4Network(body["PoolID"][3:])
        wanted = body.get("Address") or ""
        if (body.get("Options") or {}).get("RequestAddressType") == "com.docker.network.gateway" and not wanted:
            wanted = str(next(pool.hosts()))
        if not wanted:
            wanted = next(str(a) for a in list(pool.hosts())[1:] if str(a) not in self.addresses)
        self.addresses.add(wanted)
        return {"Address": f"{wanted}/{pool.prefixlen}", "Data": {}}

    def _IpamDriver_ReleaseAddress(self, body: dict) -> dict:
        self.addresses.discard(body.get("Address") or "")
        return {}


if __name__ == "__main__":
    NetworkPlugin(sys.argv[1], sys.argv[2]).start()
    threading.Event().wait()
