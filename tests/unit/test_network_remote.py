"""dockerd_py.remoteplugins.network / .ipam: registration of a remote network + IPAM plugin, the IPAM hooks."""

from __future__ import annotations

import os
import sys

import pytest

from dockerd_py import errors
from dockerd_py.pluginhost import PluginHost
from dockerd_py.remoteplugins import PluginDirs, Registry
from dockerd_py.remoteplugins.network import RemoteNetworkPlugins

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from compat.network_plugin_server import NetworkPlugin  # noqa: E402


@pytest.fixture
def remote(tmp_path):
    plugin = NetworkPlugin(str(tmp_path / "run" / "np.sock"), "tu", pool="10.9.8.0/24").start()
    host = PluginHost(load_entrypoints=False)
    yield plugin, host, RemoteNetworkPlugins(host, Registry(PluginDirs(str(tmp_path / "run"), ()), retry_total=0))
    plugin.stop()


def test_unknown_plugin_is_dockers_404(remote):
    _, host, plugins = remote
    with pytest.raises(errors.NotFound, match='^plugin "nosuch" not found$'):
        plugins.lookup("network", "nosuch")
    assert host.drivers("network") == []


def test_lookup_registers_network_and_ipam_once(remote):
    plugin, host, plugins = remote
    plugins.lookup("ipam", "np")
    plugins.lookup("network", "np")
    assert plugin.names() == ["Plugin.Activate", "NetworkDriver.GetCapabilities", "IpamDriver.GetCapabilities",
                              "IpamDriver.GetDefaultAddressSpaces"]
    assert host.drivers("network") == ["np"] and host.drivers("ipam") == ["np"]
    assert host.driver("network", "np").call("network_driver_capabilities") == {
        "scope": "local", "connectivity_scope": "local", "needs_sandbox": True}


def test_ipam_hooks_and_errors(remote):
    plugin, host, plugins = remote
    plugins.lookup("ipam", "np")
    ipam = host.driver("ipam", "np")
    pool = ipam.call("ipam_request_pool", pool="", sub_pool="", options={}, v6=False)
    assert pool == {"pool_id": "np-10.9.8.0/24", "pool": "10.9.8.0/24", "address_space": "np-local", "data": {}}
    gw = ipam.call("ipam_request_address", pool_id=pool["pool_id"], address="",
                   options={"RequestAddressType": "com.docker.network.gateway"})
    assert gw == "10.9.8.1/24"
    assert ipam.call("ipam_request_address", pool_id=pool["pool_id"], address="", options=None) == "10.9.8.2/24"
    assert ipam.call("ipam_release_address", pool_id=pool["pool_id"], address="10.9.8.2") is True
    assert plugin.calls[-1] == ("IpamDriver.ReleaseAddress", {"PoolID": "np-10.9.8.0/24", "Address": "10.9.8.2"})
    plugin.fail["IpamDriver.RequestPool"] = "pool exhausted"
    with pytest.raises(errors.SystemErr, match="^IpamDriver.RequestPool: pool exhausted$"):
        ipam.call("ipam_request_pool", pool="", sub_pool="", options={}, v6=False)
