"""What the embedded server answers itself: the daemon's names and addresses.

Docker's rules (libnetwork's resolver): A and AAAA for a name the daemon
knows get its addresses of that family (TTL 600), in a new order each time
when there are several; a known name without an address of the asked family,
or asked for another type, gets NOERROR and no records; PTR of a container
address gets its name. Whatever is not the daemon's (None) is forwarded.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable

from . import wire

TTL = 600
Lookup = Callable[[str, str], "list[str] | None"]
Reverse = Callable[[str, str], "str | None"]


class RoundRobin:
    """Rotates the addresses of a name by one on every answer."""

    def __init__(self, size: int = 4096) -> None:
        self._next: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._size = size

    def rotate(self, key: tuple[str, int], items: list[str]) -> list[str]:
        if len(items) < 2:
            return items
        n = self._next.pop(key, 0)
        self._next[key] = n + 1
        if len(self._next) > self._size:
            self._next.popitem(last=False)
        k = n % len(items)
        return items[k:] + items[:k]


def normalize(name: str) -> str:
    """The form handed to lookup: lower case, no trailing dot."""
    return name.rstrip(".").lower()


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def answer(query: wire.Query, asker: str, lookup: Lookup, reverse: Reverse | None,
           rr: RoundRobin, limit: int = wire.MAX_SIZE) -> bytes | None:
    """The local reply to `query` from container `asker` in at most `limit`
    bytes (the client's UDP size), or None to forward it."""
    if query.qclass not in (wire.CLASS_IN, wire.ANY):
        return None
    name = normalize(query.name)
    if not name:
        return None
    if query.qtype == wire.PTR:
        address = wire.ptr_address(name)
        host = reverse(asker, address) if address and reverse else None
        if not host:
            return None
        return wire.response(query, wire.NOERROR, [(wire.PTR, wire.encode_name(host))], TTL, limit)
    addresses = lookup(asker, name)
    if addresses is None:
        return None
    want = {wire.A: 4, wire.AAAA: 6}.get(query.qtype)
    chosen = [a for a in addresses if want is not None and _family(a) == want]
    chosen = rr.rotate((name, query.qtype), chosen)
    return wire.response(query, wire.NOERROR, [wire.address_rdata(a) for a in chosen], TTL, limit)
