"""A container's /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker writes them.

See ../shared/api/DEFAULTS.md §7 (DNS on the default bridge): the host's
resolv.conf with localhost nameservers removed, falling back to Google's
servers; in host network mode the host's files are used unfiltered.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..state import atomic

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
HOST_RESOLV = "/etc/resolv.conf"
SYSTEMD_RESOLV = "/run/systemd/resolve/resolv.conf"


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


def _is_local(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def _nameservers(text: str) -> list[str]:
    return [ln.split()[1] for ln in text.splitlines()
            if ln.strip().startswith("nameserver") and len(ln.split()) > 1]


def host_resolv_conf() -> str:
    """The host's resolv.conf; systemd-resolved's real one behind a 127.0.0.53 stub."""
    text = _read(HOST_RESOLV)
    if _nameservers(text) == ["127.0.0.53"] and os.path.exists(SYSTEMD_RESOLV):
        text = _read(SYSTEMD_RESOLV)
    return text


def resolv_conf(host_text: str, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
                dns_options: Sequence[str] = (), filter_local: bool = True) -> str:
    """Build a container's resolv.conf from the host's text and the --dns* options."""
    out, servers = [], []
    for line in host_text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if not dns and not (filter_local and _is_local(words[1])):
                servers.append(words[1])
            continue
        if (words[0] in ("search", "domain") and dns_search) or \
                (words[0] == "options" and dns_options):
            continue
        out.append(line.rstrip())
    servers = list(dns) or servers or list(FALLBACK_NAMESERVERS)
    out += [f"nameserver {s}" for s in servers]
    search = [d for d in dns_search if d != "."]
    if search:
        out.append("search " + " ".join(search))
    if dns_options:
        out.append("options " + " ".join(dns_options))
    return "\n".join(out) + "\n"


EMBEDDED_DNS = "127.0.0.11"


def internal_resolv_conf(host_text: str, dns_search: Sequence[str] = (),
                         dns_options: Sequence[str] = ()) -> str:
    """resolv.conf of a container on a user-defined network: the embedded DNS server.

    As Docker: ``nameserver 127.0.0.11``, the host's (or --dns-search)
    search domains, the host's (or --dns-option) options plus ``ndots:0``
    unless an ndots option is given.
    """
    search: list[str] = list(dns_search)
    options: list[str] = list(dns_options)
    for line in host_text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("search", "domain") and not dns_search:
            search = words[1:]
        elif words[0] == "options" and not dns_options:
            options += words[1:]
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
    out = [f"nameserver {EMBEDDED_DNS}"]
    search = [d for d in search if d != "."]
    if search:
        out.append("search " + " ".join(search))
    out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


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
                    embedded_dns: bool = False) -> dict[str, str]:
    """Write hosts, hostname and resolv.conf into `container_dir`.

    `embedded_dns`: the container is on a user-defined network, its resolver
    is the embedded DNS server (the --dns servers are not written then).
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
        "/etc/resolv.conf": internal_resolv_conf(host_resolv_conf(), dns_search, dns_options)
        if embedded_dns else resolv_conf(host_resolv_conf(), dns, dns_search, dns_options,
                                         filter_local=not host_mode),
    }
    os.makedirs(container_dir, exist_ok=True)
    out = {}
    for target, text in files.items():
        path = os.path.join(container_dir, os.path.basename(target))
        atomic.write_bytes(path, text.encode(), mode=0o644)
        out[target] = path
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
