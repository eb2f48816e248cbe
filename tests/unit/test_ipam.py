"""IPAM: address pools, Docker's validation messages, address allocation (no kernel state)."""

import ipaddress

import pytest

from dockerd_py import errors
from dockerd_py.services import ipam


def test_parse_pool_from_flag_and_file():
    assert ipam.parse_pool("base=10.10.0.0/16,size=24") == (ipaddress.ip_network("10.10.0.0/16"), 24)
    assert ipam.parse_pool({"base": "10.10.0.0/16", "size": 20}) == (ipaddress.ip_network("10.10.0.0/16"), 20)
    for bad in ("base=10.10.0.1/16,size=24", "base=10.10.0.0/16,size=8", "size=24", "base=x,size=24"):
        with pytest.raises(ValueError):
            ipam.parse_pool(bad)


def test_allocate_subnet_skips_used_and_host_routes(monkeypatch):
    monkeypatch.setattr(ipam, "host_routes", lambda: [ipaddress.ip_network("10.5.1.0/24")])
    pools = [ipam.parse_pool("base=10.5.0.0/22,size=24")]
    used = [ipaddress.ip_network("10.5.0.0/24")]
    assert str(ipam.allocate_subnet(pools, used)) == "10.5.2.0/24"
    used += [ipaddress.ip_network("10.5.2.0/23")]
    with pytest.raises(errors.Forbidden, match="could not find an available, non-overlapping IPv4 address pool"):
        ipam.allocate_subnet(pools, used)


def test_default_pools_are_dockers():
    assert ipam.DEFAULT_POOLS[0] == ("172.17.0.0/16", 16) and ipam.DEFAULT_POOLS[-1] == ("192.168.0.0/16", 20)
    assert len(ipam.DEFAULT_POOLS) == 16


@pytest.mark.parametrize("config,message", [
    ({"Subnet": "foobar"}, "invalid subnet foobar: invalid CIDR block notation"),
    ({"Subnet": "10.10.10.0/8"}, "invalid subnet 10.10.10.0/8: it should be 10.0.0.0/8"),
    ({"Subnet": "10.10.10.0/24", "IPRange": "10.0.0.0/8"},
     "invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.10.10.0/24"),
    ({"Subnet": "10.0.0.0/8", "Gateway": "192.168.0.1"},
     "invalid gateway 192.168.0.1: parent subnet 10.0.0.0/8 doesn't contain this address"),
    ({"Subnet": "10.0.0.0/8", "AuxiliaryAddresses": {"a": "dummy"}}, "invalid auxiliary address a: invalid address"),
])
def test_validation_messages(config, message):
    with pytest.raises(errors.InvalidParameter) as info:
        ipam.validate([config])
    assert info.value.message == "invalid network config:\n" + message


def test_allocation_order_and_requested_addresses():
    entry = ipam.complete({"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.128/25",
                           "AuxiliaryAddresses": {"r": "10.9.0.130"}})
    assert entry["Gateway"] == "10.9.0.128"  # the range's first address, as Docker's
    assert ipam.allocate(entry, set(), "n") == "10.9.0.129"
    assert ipam.allocate(entry, {"10.9.0.129"}, "n") == "10.9.0.131"
    assert ipam.check_requested(entry, "10.9.0.5", set()) == "10.9.0.5"  # outside the range, inside the subnet
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        ipam.check_requested(entry, "10.9.0.130", set())
    with pytest.raises(errors.InvalidParameter, match="no configured subnet or ip-range contain the IP address"):
        ipam.check_requested(entry, "10.8.0.5", set())
    small = ipam.complete({"Subnet": "10.9.1.0/30"})
    assert ipam.allocate(small, set(), "n") == "10.9.1.2"
    with pytest.raises(errors.Unavailable, match="no available IPv4 addresses"):
        ipam.allocate(small, {"10.9.1.2"}, "n")


def test_default_address_pools_from_flag_and_daemon_json(tmp_path):
    from dockerd_py import config

    cfg = config.load(["--config-file", str(tmp_path / "none.json"),
                       "--default-address-pool", "base=10.66.0.0/16,size=24"])
    assert cfg.default_address_pools == ["base=10.66.0.0/16,size=24"]
    path = tmp_path / "daemon.json"
    path.write_text('{"default-address-pools": [{"base": "10.67.0.0/16", "size": 26}]}')
    assert config.load(["--config-file", str(path)]).default_address_pools == [{"base": "10.67.0.0/16", "size": 26}]
    with pytest.raises(config.ConfigError, match="specified both as a flag and in the configuration file"):
        config.load(["--config-file", str(path), "--default-address-pool", "base=10.66.0.0/16,size=24"])
    path.write_text('{"default-address-pools": [{"base": "10.67.0.0/16", "size": 8}]}')
    with pytest.raises(config.ConfigError, match="invalid default address pool"):
        config.load(["--config-file", str(path)])
