"""The text of a container's resolv.conf, as Docker Engine 26/27 generates it (services.resolvconf)."""

from dockerd_py.services import resolvconf
from dockerd_py.services.resolvconf import HEADER, for_embedded_dns, for_legacy_network, parse, with_overrides

HOST = ("# from DHCP\n"
        "nameserver 127.0.0.53\n"
        "nameserver 10.0.0.2\n"
        "nameserver 2001:db8::53\n"
        "nameserver bogus\n"
        "  ; indented comment\n"
        "domain old.example\n"
        "search a.example b.example\n"
        "options edns0\n"
        "sortlist 10.0.0.0/255.0.0.0\n"
        "options attempts:2\n")


def test_the_default_bridge_drops_loopback_and_ipv6_servers_and_keeps_the_rest_in_docker_order():
    text = for_legacy_network(with_overrides(parse(HOST, "/etc/resolv.conf")), ipv6=False).render()
    assert text == (HEADER + "\n"
                    "nameserver 10.0.0.2\n"
                    "search a.example b.example\n"
                    "options edns0 attempts:2\n"
                    "sortlist 10.0.0.0/255.0.0.0\n"
                    "\n"
                    "# Based on host file: '/etc/resolv.conf' (legacy)\n"
                    "# Invalid nameservers: [bogus]\n"
                    "# Overrides: []\n")


def test_ipv6_networks_keep_ipv6_servers():
    rc = for_legacy_network(parse(HOST, "/etc/resolv.conf"), ipv6=True)
    assert rc.nameservers == ["10.0.0.2", "2001:db8::53"]


def test_only_local_servers_give_googles_and_say_so():
    text = for_legacy_network(parse("nameserver 127.0.0.1\nnameserver ::1\n", "/etc/resolv.conf"), False).render()
    assert text == (HEADER + "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n\n"
                    "# Based on host file: '/etc/resolv.conf' (legacy)\n"
                    "# Used default nameservers.\n"
                    "# Overrides: []\n")
    v6 = for_legacy_network(parse("", "/etc/resolv.conf"), True)
    assert v6.nameservers == ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"]


def test_overrides_replace_their_part_and_are_listed():
    rc = with_overrides(parse(HOST, "/etc/resolv.conf"), ["127.0.0.1", "10.9.9.9"], ["x.test", "."], ["ndots:3"])
    text = for_legacy_network(rc, False).render()
    assert text == (HEADER + "\n"
                    "nameserver 127.0.0.1\nnameserver 10.9.9.9\n"   # --dns servers are never filtered
                    "search x.test\n"
                    "options ndots:3\n"
                    "sortlist 10.0.0.0/255.0.0.0\n"
                    "\n"
                    "# Based on host file: '/etc/resolv.conf' (legacy)\n"
                    "# Invalid nameservers: [bogus]\n"
                    "# Overrides: [nameservers search options]\n"
                    "# Option ndots from: override\n")
    only_dot = with_overrides(parse("search a.example\n", "/etc/resolv.conf"), dns_search=["."])
    assert only_dot.search == [] and only_dot.overridden == ["search"]


def test_the_embedded_server_takes_the_others_as_upstream():
    text = for_embedded_dns(with_overrides(parse("nameserver 192.168.65.7\n", "/etc/resolv.conf"))).render()
    assert text == (HEADER + "\n"
                    "nameserver 127.0.0.11\n"
                    "options ndots:0\n"
                    "\n"
                    "# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
                    "# ExtServers: [host(192.168.65.7)]\n"
                    "# Overrides: []\n"
                    "# Option ndots from: internal\n")
    given = for_embedded_dns(with_overrides(parse("nameserver 192.168.65.7\n", "/etc/resolv.conf"),
                                            ["127.0.0.1"], dns_options=["timeout:2"]))
    assert given.ext_servers == ["127.0.0.1"]   # --dns servers: queried from the container's namespace
    assert given.options == ["timeout:2", "ndots:0"] and given.ndots_from == "internal"


def test_ndots_from_the_host_or_an_override_is_kept_an_invalid_one_replaced():
    host = for_embedded_dns(parse("options ndots:2 rotate\n", "/etc/resolv.conf"))
    assert (host.options, host.ndots_from) == (["ndots:2", "rotate"], "host")
    override = for_embedded_dns(with_overrides(parse("options ndots:2\n", "/etc/resolv.conf"), dns_options=["ndots:5"]))
    assert (override.options, override.ndots_from) == (["ndots:5"], "override")
    invalid = for_embedded_dns(parse("options ndots:x edns0 ndots:-1\n", "/etc/resolv.conf"))
    assert invalid.options == ["edns0", "ndots:0"]
    legacy = for_legacy_network(parse("options ndots:2\n", "/etc/resolv.conf"), False)
    assert legacy.options == ["ndots:2"] and legacy.ndots_from == "host"


def test_no_host_servers_no_ext_servers_line():
    text = for_embedded_dns(parse("", "/etc/resolv.conf")).render()
    assert "ExtServers" not in text and "nameserver 127.0.0.11\n" in text


def test_a_missing_host_file_is_named_empty(tmp_path):
    rc = resolvconf.load(str(tmp_path / "absent"))
    assert "# Based on host file: '' (legacy)\n" in for_legacy_network(rc, False).render()


def test_the_hash_tells_an_edited_file(tmp_path):
    path = str(tmp_path / "resolv.conf")
    assert resolvconf.user_modified(path) is False   # nothing written yet: not the user's
    text = for_legacy_network(parse("nameserver 10.0.0.2\n", "/etc/resolv.conf"), False).render()
    with open(path, "w") as f:
        f.write(text)
    resolvconf.remember(path, text)
    assert resolvconf.user_modified(path) is False
    with open(path, "a") as f:
        f.write("nameserver 10.0.0.3\n")
    assert resolvconf.user_modified(path) is True


def test_ndots_is_set_by_a_dns_option_else_by_the_hosts_file(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.0.0.2\noptions ndots:2\n")
    assert resolvconf.ndots_set((), str(host)) is True
    assert resolvconf.ndots_set(["timeout:2"], str(host)) is False   # --dns-option replaces the host's options
    assert resolvconf.ndots_set(["ndots:1"], str(host)) is True
    host.write_text("nameserver 10.0.0.2\n")
    assert resolvconf.ndots_set((), str(host)) is False
