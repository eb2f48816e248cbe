"""What dockerd's default-bridge flags resolve to (the daemons in tests/compat show the effects)."""

import ipaddress
import json

import pytest

from dockerd_py import config


def load(tmp_path, *args: str, daemon_json: dict | None = None) -> config.DaemonConfig:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(daemon_json or {}))
    return config.load(["--config-file", str(path), *args])


def test_defaults_are_dockers(tmp_path):
    s = load(tmp_path).default_bridge
    assert (s.icc, s.ip, s.mtu, s.fixed_cidr, s.ip_masq, s.iptables, s.ip_forward, s.default_gateway) == \
        (True, "0.0.0.0", 1500, "", True, True, True, "")


def test_go_boolean_flags_and_file_keys(tmp_path):
    s = load(tmp_path, "--icc=0", "--ip-masq=False", "--ip-forward").default_bridge
    assert (s.icc, s.ip_masq, s.ip_forward) == (False, False, True)
    s = load(tmp_path, daemon_json={"iptables": False, "mtu": 0, "ip": "::1"}).default_bridge
    assert (s.iptables, s.ip_masq, s.mtu, s.ip) == (False, False, 1500, "::1")  # no masquerade without iptables
    assert load(tmp_path, daemon_json={"ip": "", "fixed-cidr": "", "default-gateway": ""}).default_bridge == \
        load(tmp_path).default_bridge


def test_fixed_cidr_without_bip_is_the_subnet(tmp_path):
    cfg = load(tmp_path, "--fixed-cidr", "10.66.5.7/24")
    assert cfg.bip == "10.66.5.1/24"
    shown, used = cfg.default_bridge.ipam(ipaddress.IPv4Interface(cfg.bip))
    assert shown == {"Subnet": "10.66.5.0/24", "IPRange": "10.66.5.0/24"}  # as Docker: no Gateway shown
    assert used["Gateway"] == "10.66.5.1"


@pytest.mark.parametrize("fixed", ["10.67.0.0/24", "10.66.0.0/16"])
def test_fixed_cidr_not_inside_bip_is_dropped(tmp_path, fixed):
    assert load(tmp_path, "--bip", "10.66.5.1/24", "--fixed-cidr", fixed).default_bridge.fixed_cidr == ""


@pytest.mark.parametrize("args, daemon_json", [
    (("-b", "br9", "--bip", "10.66.5.1/24"), None),
    (("--bip", "10.66.5.1/24"), {"bridge": "br9"}),
    (("-b", "br9"), {"bip": "10.66.5.1/24"}),
])
def test_bridge_and_bip_are_mutually_exclusive(tmp_path, args, daemon_json):
    with pytest.raises(config.ConfigError, match=r"^You specified -b & --bip, mutually exclusive options\. "
                                                 r"Please specify only one$"):
        load(tmp_path, *args, daemon_json=daemon_json)


def test_an_existing_bridge_gives_its_address(tmp_path):
    """As dockerd elects a -b bridge's address (lo: a link with an address on every host)."""
    cfg = load(tmp_path, "-b", "lo", "--fixed-cidr", "127.0.0.0/24")
    assert cfg.bip == "127.0.0.1/8"
    assert cfg.default_bridge.ipam(ipaddress.IPv4Interface(cfg.bip))[0] == {
        "Subnet": "127.0.0.0/8", "IPRange": "127.0.0.0/24", "Gateway": "127.0.0.1"}
    assert load(tmp_path, "-b", "dpynosuch0").bip == "172.17.0.1/16"  # missing: made with the default
