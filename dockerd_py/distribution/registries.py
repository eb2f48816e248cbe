"""Which endpoints serve a registry host: insecure registries and mirrors, as Docker decides.

A host is insecure when it is listed in `insecure-registries` (a host[:port] or
a CIDR), or when it resolves into one of the insecure CIDRs (127.0.0.0/8 by
default). An insecure host is tried over https without certificate checks and
then over plain http; a secure one over https only. Docker Hub (`docker.io`)
is reached through the `registry-mirrors` first, then registry-1.docker.io
(`DOCKERD_PY_HUB_HOST` names another host: the tests use a closed loopback port,
so that nothing they do leaves the machine).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .. import errors
from ..images.reference import DEFAULT_DOMAIN

DEFAULT_INSECURE_CIDR = "127.0.0.0/8"
HUB_HOST = os.environ.get("DOCKERD_PY_HUB_HOST", "registry-1.docker.io")


@dataclass(frozen=True)
class Endpoint:
    """One way to reach a registry: scheme + host[:port], TLS checks on or off."""

    scheme: str
    netloc: str
    verify_tls: bool = True
    mirror: bool = False
    path_prefix: str = ""     # a mirror URL may carry a path

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path_prefix}"


@dataclass
class RegistryConfig:
    """`insecure-registries` and `registry-mirrors` (flags or daemon.json)."""

    insecure: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
            ipaddress.ip_network(DEFAULT_INSECURE_CIDR)]
        self.hosts: set[str] = set()
        for entry in self.insecure:
            value = _strip_scheme(entry)
            try:
                net = ipaddress.ip_network(value, strict=False)
            except ValueError:
                self.hosts.add(value)
                continue
            if "/" in value:
                if net not in self.cidrs:
                    self.cidrs.append(net)
            else:
                self.hosts.add(value)
        self.mirror_urls = [validate_mirror(m) for m in self.mirrors]

    def is_insecure(self, netloc: str) -> bool:
        if netloc in self.hosts:
            return True
        host = urlsplit("//" + netloc).hostname or netloc
        if host in self.hosts:
            return True
        try:
            addrs = {ipaddress.ip_address(host)}
        except ValueError:
            try:
                addrs = {ipaddress.ip_address(info[4][0].split("%")[0])
                         for info in socket.getaddrinfo(host, None)}
            except (OSError, ValueError):
                return False
        return any(addr in net for addr in addrs for net in self.cidrs)

    def endpoints(self, domain: str) -> list[Endpoint]:
        """The endpoints to try, in order, for a reference's domain."""
        if domain == DEFAULT_DOMAIN:
            found = []
            for url in self.mirror_urls:
                parts = urlsplit(url)
                found.append(Endpoint(parts.scheme, parts.netloc, verify_tls=not self.is_insecure(parts.netloc),
                                      mirror=True, path_prefix=parts.path.rstrip("/")))
            return found + [Endpoint("https", HUB_HOST)]
        if self.is_insecure(domain):
            return [Endpoint("https", domain, verify_tls=False), Endpoint("http", domain, verify_tls=False)]
        return [Endpoint("https", domain)]

    def info(self) -> dict:
        """`RegistryConfig` of `docker info` (IndexConfigs as Docker lists them)."""
        index = {DEFAULT_DOMAIN: {"Name": DEFAULT_DOMAIN, "Mirrors": list(self.mirror_urls),
                                  "Secure": True, "Official": True}}
        for host in sorted(self.hosts):
            index[host] = {"Name": host, "Mirrors": [], "Secure": False, "Official": False}
        return {"AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames": None,
                "InsecureRegistryCIDRs": [str(c) for c in self.cidrs], "IndexConfigs": index,
                "Mirrors": list(self.mirror_urls)}


def _strip_scheme(value: str) -> str:
    for prefix in ("http://", "https://"):
        if value.startswith(prefix):
            return value[len(prefix):].rstrip("/")
    return value.rstrip("/")


def validate_mirror(value: str) -> str:
    """ValidateMirror: an http(s) URL without credentials, query or fragment; ends with '/'."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidParameter(f"invalid mirror: unsupported scheme {parts.scheme!r} in {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise errors.InvalidParameter(f"invalid mirror: {value!r} must not contain credentials, a query or a fragment")
    return value.rstrip("/") + "/"


def login_host(server_address: str) -> str:
    """The registry host a `docker login` address names ("" or the index URL: Docker Hub)."""
    address = _strip_scheme(server_address.strip())
    if not address or address.startswith("index.docker.io") or address in (DEFAULT_DOMAIN, HUB_HOST):
        return DEFAULT_DOMAIN
    return address.split("/", 1)[0]
