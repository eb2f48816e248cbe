"""The `GET /containers/json` filters beyond name, label and state: exited, is-task,
volume, publish and expose, with the texts of moby's daemon/list.go (foldFilter).
(`isolation` is accepted and, as on Linux's dockerd, matches every container.)

Values are checked before any container is looked at, so a bad one is refused on an empty host too.
"""

from __future__ import annotations

import re

from ...errors import InvalidParameter
from ...filters import exact_bool
from ...oci.mounts import is_host_bind, parse_bind
from .record import Container


def _parse_uint16(text: str) -> int:
    """strconv.ParseUint(text, 10, 16), with its error text."""
    if not text.isdigit() or not text.isascii():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 0xFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def _ports(key: str, values: list[str]) -> set[str]:
    """`<port>[/<proto>]` or `<start>-<end>[/<proto>]` → {"80/tcp", ...} (nat.ParsePortRange)."""
    out: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidParameter(f"filter for '{key}' should not contain ':': {value}")
        port, _, proto = value.partition("/")
        try:
            if not port:
                raise ValueError("empty string specified for ports.")
            first, sep, last = port.partition("-")
            start = _parse_uint16(first)
            end = _parse_uint16(last) if sep else start
            if end < start:
                raise ValueError(f"invalid range specified for the Port: {port}")
        except ValueError as e:
            raise InvalidParameter(f"error while looking up for {key} {value}: {e}") from None
        out.update(f"{p}/{(proto or 'tcp').lower()}" for p in range(start, end + 1))
    return out


class ListFilter:
    """The parsed values of the filters this module owns."""

    def __init__(self, filters: dict[str, list[str]]) -> None:
        self.exited: set[int] | None = None
        if "exited" in filters:
            for v in filters["exited"]:
                if not re.fullmatch(r"[+-]?[0-9]+", v):
                    raise InvalidParameter(f'strconv.Atoi: parsing "{v}": invalid syntax')
            self.exited = {int(v) for v in filters["exited"]}
        self.is_task = exact_bool(filters, "is-task")
        self.volume = filters.get("volume")
        self.publish = _ports("publish", filters.get("publish", []))
        self.expose = _ports("expose", filters.get("expose", []))

    def matches(self, c: Container, volume_mounts: list[dict]) -> bool:
        if self.exited is not None and (c.state.running or not c.has_been_started or
                                        c.state.exit_code not in self.exited):
            return False
        if self.is_task:  # no container here is a swarm task
            return False
        if self.volume is not None and not self._has_volume(c, volume_mounts):
            return False
        if self.publish or self.expose:
            ports = _summary_ports(c)
            if not any(public in self.publish or private in self.expose for private, public in ports):
                return False
        return True

    def _has_volume(self, c: Container, volume_mounts: list[dict]) -> bool:
        """By destination, or by volume name (a bind's source): moby's volumesByName/-Destination."""
        known: set[str] = set()
        for bind in c.host_config.get("Binds") or []:
            if is_host_bind(bind):
                m = parse_bind(bind)
                known.update((m.source, m.destination))
        for m in c.host_config.get("Mounts") or []:
            if m.get("Type") in ("bind", "tmpfs"):
                known.update(x for x in (m.get("Source"), m.get("Target")) if x)
        for m in volume_mounts:
            known.update(x for x in (m.get("Name"), m.get("Destination")) if x)
        return any(v in known for v in self.volume or [])


def _summary_ports(c: Container) -> list[tuple[str, str]]:
    """(private "80/tcp", public "8080/tcp") of each port the list shows; public "0/tcp" when unpublished."""
    out = []
    for port_proto, hosts in (c.network_settings.get("Ports") or {}).items():
        port, _, proto = port_proto.partition("/")
        proto = proto or "tcp"
        for host in hosts or [{}]:
            out.append((f"{port}/{proto}", f"{int(host.get('HostPort') or 0)}/{proto}"))
    return out
