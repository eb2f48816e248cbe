"""Private netfilter helpers of the bridge driver, through the `nft` CLI.

Each bridge network owns one nftables table ``ip <prefix>-<bridge>``; all its
rules live there, so two daemons never share a chain and deleting the table
removes every trace. Layout::

    guard       filter/prerouting, raw priority: drop 127.0.0.0/8 arriving
                from the bridge (route_localnet is on for it)
    prerouting  nat/prerouting: local destinations -> ports
    output      nat/output: local destinations (incl. 127.0.0.1) -> ports
    ports       one DNAT rule per published port, commented "ep:<endpoint>"
    postrouting nat/postrouting: MASQUERADE outbound (unless internal or
                masquerade is off), loopback-sourced and hairpin traffic
    forward     filter/forward: isolation. Into the bridge from elsewhere only
                replies and DNATed (published) traffic; an internal network
                neither sends nor receives anything past its bridge. A
                packet carrying USER_MARK (set by the user's rules, below)
                passes. (ICC off is not here: see the ``bridge`` table below.)

An IPv6 network also owns ``ip6 <prefix>-<bridge>`` (`ensure_table6`): the
same forward chain and MASQUERADE of its IPv6 subnet, and the same prerouting,
output and ports chains for ports published on IPv6 host addresses. Not for
``::1``: a reply de-NATed to ::1 arriving on the bridge is dropped by the kernel
(IPv6 has no route_localnet), so the daemon relays [::1] in userland
(`dockerd_py.services.netrelay`) from the socket holding the port. The IPv6
bindings of an IPv4-only network never reach this module: the daemon relays them.

A network with ICC off owns ``bridge <prefix>-<bridge>`` (made by `ensure_table`), filtering
what the bridge forwards from one of its ports to another (no br_netfilter, no sysctl)::

    ports       set of the network's bridge ports (veth host sides), each added when
                its endpoint is made, before the veth exists
    forward     bridge/forward: ``jump links``, then IPv4/IPv6 from a port in
                ``ports`` is dropped (ARP passes, as with Docker's iptables rules)
    links       Docker's per-link exceptions (legacy ``--link``): parent -> child
                to each port the child exposes, and the replies from that port,
                commented "ep:<parent[:24]> ep:<child[:24]>" (comments are 128 bytes at most)

Without netfilter (``--iptables=false``) ICC off is the kernel's ``isolated`` bridge ports
(`_netlink`), which allow no exception.

The user's table ``ip <prefix>-user-<default bridge>`` (chain ``forward``,
priority filter - 1, before ours) is made once and never flushed: it is the
nftables equivalent of Docker's DOCKER-USER (contracts.md §5).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterable


log = logging.getLogger(__name__)


class NftError(RuntimeError):
    pass


_checked = False


def check_available() -> None:
    """Fail clearly without nft; warn when the host's FORWARD policy drops.

    Our accept verdicts cannot override a drop in another table (iptables'
    ``filter FORWARD`` policy DROP, set by e.g. a Docker with ip-forward on),
    and we never edit chains we do not own, so that is only reported.
    """
    global _checked
    if _checked:
        return
    if shutil.which("nft") is None:
        raise NftError("the bridge driver needs nftables: nft not found")
    _checked = True
    ipt = shutil.which("iptables")
    if ipt:
        proc = subprocess.run([ipt, "-S", "FORWARD"], capture_output=True, text=True)
        if "-P FORWARD DROP" in proc.stdout:
            log.warning("iptables FORWARD policy is DROP: containers' forwarded traffic "
                        "needs an ACCEPT rule there (e.g. in DOCKER-USER)")


def nft(script: str | None = None, *args: str) -> str:
    """Run `nft [args]`, feeding `script` on stdin with -f -; returns stdout."""
    cmd = ["nft", *args] if script is None else ["nft", "-f", "-"]
    proc = subprocess.run(cmd, input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NftError(f"nft: {proc.stderr.strip()}")
    return proc.stdout


def table_exists(table: str, family: str = "ip") -> bool:
    proc = subprocess.run(["nft", "list", "table", family, table], capture_output=True)
    return proc.returncode == 0


USER_MARK = 0x00100000


def ensure_table(table: str, bridge: str, subnet: str, masquerade: bool = True,
                 internal: bool = False, icc: bool = True) -> None:
    """Create or refresh the network's table, and with ICC off its ``bridge`` table (with ICC on,
    one left by a run with ICC off goes); the ports chain, ports set and links chain are kept."""
    t = f"ip {table}"
    lines = [
        f"add table {t}",
        f"add chain {t} guard {{ type filter hook prerouting priority raw; policy accept; }}",
        f"add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}",
        f"add chain {t} output {{ type nat hook output priority -100; policy accept; }}",
        f"add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"add chain {t} ports",
    ]
    lines += [f"flush chain {t} {c}" for c in ("guard", "prerouting", "output", "postrouting", "forward")]
    lines += [
        f'add rule {t} guard iifname "{bridge}" ip daddr 127.0.0.0/8 drop',
        f"add rule {t} prerouting fib daddr type local jump ports",
        f"add rule {t} output fib daddr type local jump ports",
        f'add rule {t} postrouting oifname "{bridge}" ip saddr 127.0.0.0/8 masquerade',
        f'add rule {t} postrouting oifname "{bridge}" ip saddr {subnet} ct status dnat masquerade',
    ]
    lines += _isolation(t, bridge, subnet, "ip", masquerade, internal)
    lines += _drop_tables(f"bridge {table}") if icc else _icc_table(f"bridge {table}")
    nft("\n".join(lines) + "\n")


def _isolation(t: str, bridge: str, subnet: str, family: str, masquerade: bool, internal: bool) -> list[str]:
    """The forward chain's rules, and the outbound MASQUERADE, of table `t` (flushed already)."""
    into, out_of = f'oifname "{bridge}" iifname != "{bridge}"', f'iifname "{bridge}" oifname != "{bridge}"'
    lines = [f"add rule {t} forward meta mark & {USER_MARK:#x} == {USER_MARK:#x} accept"]
    if internal:
        return lines + [f"add rule {t} forward {into} drop", f"add rule {t} forward {out_of} drop"]
    lines += [f"add rule {t} forward {into} ct state established,related accept",
              f"add rule {t} forward {into} ct status dnat accept",
              f"add rule {t} forward {into} drop"]
    if masquerade:
        lines.append(f'add rule {t} postrouting oifname != "{bridge}" {family} saddr {subnet} masquerade')
    return lines


def ensure_table6(table: str, bridge: str, subnet: str, masquerade: bool = True, internal: bool = False) -> None:
    """Create or refresh the IPv6 table of a network: isolation and MASQUERADE of `subnet`."""
    t = f"ip6 {table}"
    lines = [
        f"add table {t}",
        f"add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}",
        f"add chain {t} output {{ type nat hook output priority -100; policy accept; }}",
        f"add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"add chain {t} ports",
    ]
    lines += [f"flush chain {t} {c}" for c in ("prerouting", "output", "postrouting", "forward")]
    lines += [
        f"add rule {t} prerouting fib daddr type local jump ports",
        f"add rule {t} output fib daddr type local jump ports",
        f'add rule {t} postrouting oifname "{bridge}" ip6 saddr {subnet} ct status dnat masquerade',
    ]
    nft("\n".join(lines + _isolation(t, bridge, subnet, "ip6", masquerade, internal)) + "\n")


def ensure_user_table(table: str) -> None:
    """The user's table: created if missing, never flushed (its rules are the user's)."""
    nft(f"add table ip {table}\n"
        f"add chain ip {table} forward {{ type filter hook forward priority filter - 1; policy accept; }}\n")


def delete_tables(*tables: str) -> None:
    """Delete the tables (``"family name"``) that exist, in one nft run."""
    nft("\n".join(_drop_tables(*tables)) + "\n")


def _drop_tables(*tables: str) -> list[str]:
    """Lines deleting each table whether it exists or not ("add" first makes it exist)."""
    return [line for t in tables for line in (f"add table {t}", f"delete table {t}")]


def add_dnat(table: str, tag: str, rules: Iterable[tuple[str, str, int, str, int]]) -> None:
    """Add DNAT rules ``(host_ip, proto, host_port, ctr_ip, ctr_port)`` tagged `tag`; an IPv6
    host address (``::`` for all) goes to the ``ip6`` table, to the container's IPv6 address,
    except ``::1``: the daemon relays that one (see the module docstring)."""
    lines = []
    for host_ip, proto, host_port, ctr_ip, ctr_port in rules:
        family = "ip6" if ":" in host_ip else "ip"
        if host_ip == "::1":
            continue
        match = {"": "", "0.0.0.0": "", "::": "ip6 daddr != ::1 "}.get(host_ip, f"{family} daddr {host_ip} ")
        dest = f"[{ctr_ip}]" if family == "ip6" else ctr_ip
        lines.append(
            f"add rule {family} {table} ports {match}{proto} dport {host_port} "
            f'dnat to {dest}:{ctr_port} comment "{tag}"'
        )
    if lines:
        nft("\n".join(lines) + "\n")


def delete_tagged(table: str, tag: str, family: str = "ip", chain: str = "ports") -> None:
    """Delete every rule of `chain` whose comment has the word `tag`."""
    try:
        data = json.loads(nft(None, "-j", "list", "chain", family, table, chain))
    except NftError:
        if not table_exists(table, family):  # asked only on failure: one nft run less
            return
        raise
    handles = [
        item["rule"]["handle"]
        for item in data.get("nftables", [])
        if "rule" in item and tag in item["rule"].get("comment", "").split()
    ]
    if handles:
        nft("".join(f"delete rule {family} {table} {chain} handle {h}\n" for h in handles))


def _icc_table(t: str) -> list[str]:
    """ICC off's ``bridge`` table `t`, created or refreshed; its ports set and links chain are kept."""
    return [f"add table {t}",
            f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
            f"add chain {t} links",
            f"add set {t} ports {{ type ifname; }}",
            f"flush chain {t} forward",
            f"add rule {t} forward jump links",
            f"add rule {t} forward iifname @ports ether type {{ ip, ip6 }} drop"]


def add_icc_port(table: str, port: str) -> None:
    """Put bridge port `port` under ICC off (before it is enslaved: no moment without)."""
    nft(f'add element bridge {table} ports {{ "{port}" }}\n')


def drop_icc_port(table: str, port: str, endpoint_id: str) -> None:
    """Forget a port of ICC off's table and the link exceptions of its endpoint."""
    try:
        nft(None, "delete", "element", "bridge", table, "ports", f'{{ "{port}" }}')
    except NftError:  # gone already (or the whole table): nothing to forget
        pass
    delete_tagged(table, _link_tag(endpoint_id), "bridge", "links")


def add_link(table: str, parent: tuple[str, str], child: tuple[str, str], ports: Iterable[tuple[str, int]]) -> None:
    """Let endpoint `parent` reach endpoint `child` on `ports` ((proto, port)), replies too:
    Docker's rules for a legacy link under ICC off. parent/child: (endpoint id, IPv4 address)."""
    tag = f'comment "{_link_tag(parent[0])} {_link_tag(child[0])}"'
    lines = []
    for proto, port in ports:
        lines.append(f"add rule bridge {table} links ip saddr {parent[1]} ip daddr {child[1]} {proto} dport {port} "
                     f"accept {tag}")
        lines.append(f"add rule bridge {table} links ip saddr {child[1]} ip daddr {parent[1]} {proto} sport {port} "
                     f"accept {tag}")
    if lines:
        nft("\n".join(lines) + "\n")


def _link_tag(endpoint_id: str) -> str:
    return f"ep:{endpoint_id[:24]}"
