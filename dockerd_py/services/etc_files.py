"""A container's /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker writes them.

resolv.conf's text comes from `resolvconf` (Docker 26+'s generated file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..state import atomic
from . import resolvconf

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True)
class DnsSettings:
    """--dns, --dns-search, --dns-option: each the container's own, else the daemon's (as Docker)."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def for_container(self, host_config: Mapping) -> "DnsSettings":
        return DnsSettings(tuple(host_config.get("Dns") or self.servers),
                           tuple(host_config.get("DnsSearch") or self.search),
                           tuple(host_config.get("DnsOptions") or self.options))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def hosts_file(hostname: str, domainname: str, ips: Sequence[str], extra_hosts: Sequence[str],
               base: str = DEFAULT_HOSTS, host_gateway: str = "") -> str:
    """Default entries, then --add-host entries ("name:ip"), then the container's own (one per address)."""
    lines = [base.rstrip("\n")] if base.strip() else []
    lines += [hosts_line(entry, host_gateway) for entry in extra_hosts]
    lines += own_hosts_lines(hostname, domainname, ips)
    return "\n".join(lines) + "\n"


def own_hosts_lines(hostname: str, domainname: str, ips: Sequence[str]) -> list[str]:
    """A container's own /etc/hosts lines, one per address of its endpoints (IPv4 and IPv6), as
    Docker's updateHostsFile: the FQDN (hostname, plus the domain name), then its first label."""
    if not hostname:
        return []
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    names = f"{fqdn} {fqdn.partition('.')[0]}" if "." in fqdn else fqdn
    return [f"{ip}\t{names}" for ip in ips if ip]


def write_etc_files(container_dir: str, hostname: str, domainname: str, ips: Sequence[str],
                    extra_hosts: Sequence[str] = (), dns: Sequence[str] = (),
                    dns_search: Sequence[str] = (), dns_options: Sequence[str] = (),
                    network_mode: str = "default", host_gateway: str = "",
                    embedded_dns: bool = False, ipv6: bool = False) -> dict[str, str]:
    """Write hosts, hostname and resolv.conf (with its hash) into `container_dir`.

    `embedded_dns`: the container is on a user-defined network, its resolver
    is the embedded DNS server (the --dns servers are its upstream then);
    `ipv6`: its network has IPv6 (IPv6 nameservers of the host are kept).
    Returns {path inside the container: file on the host}, for bind mounts.
    """
    host_mode = network_mode == "host"
    # the host's own file, unless there are --add-host entries: then Docker's defaults and those
    base = _read("/etc/hosts") if host_mode and not extra_hosts else DEFAULT_HOSTS
    if host_mode and not hostname:
        hostname = socket_hostname()
    files = {
        "/etc/hosts": hosts_file(hostname, domainname, () if host_mode else ips,
                                 extra_hosts, base, host_gateway),
        "/etc/hostname": hostname + "\n",
        "/etc/resolv.conf": resolvconf.build(network_mode, dns, dns_search, dns_options, embedded_dns, ipv6),
    }
    os.makedirs(container_dir, exist_ok=True)
    out = {}
    for target, text in files.items():
        path = os.path.join(container_dir, os.path.basename(target))
        atomic.write_bytes(path, text.encode(), mode=0o644)
        out[target] = path
    resolvconf.remember(out["/etc/resolv.conf"], files["/etc/resolv.conf"])
    return out


def socket_hostname() -> str:
    import socket  # noqa: PLC0415

    return socket.gethostname()


def hosts_line(entry: str, host_gateway: str = "") -> str:
    """The /etc/hosts line of an extra-host entry ("names:ip" or "names=ip")."""
    name, _, addr = entry.partition("=" if "=" in entry else ":")
    if addr == "host-gateway":
        addr = host_gateway
    return f"{addr.strip('[]')}\t{name}"


def edit_hosts(path: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
    """Add and remove lines of a running container's hosts file: Docker's etchosts.Add
    (appends) and Delete (exact lines)."""
    rewrite_in_place(path, lambda text: "".join(
        ln + "\n" for ln in [*(ln for ln in text.splitlines() if ln and ln not in remove), *add]))


def rewrite_in_place(path: str, change: Callable[[str], str]) -> None:
    """Rewrite a running container's etc file keeping its inode (the bind mount holds it)."""
    try:
        with open(path, "r+", encoding="utf-8") as f:
            text = change(f.read())
            f.seek(0)
            f.truncate()
            f.write(text)
    except FileNotFoundError:
        pass
