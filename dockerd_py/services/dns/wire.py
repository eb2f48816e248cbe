"""A small DNS wire-format codec (RFC 1035): what the embedded server needs.

Queries are parsed (header, one question, name compression followed), and
responses are built from a parsed query: the question is echoed as the
client sent it and answers point back at it (offset 12), so the client sees
its own spelling of the name (0x20 case randomization keeps working).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")
_RRFIXED = struct.Struct("!HHIH")

# types and classes
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 255
CLASS_IN = 1
# rcodes
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
# header flag bits
QR, TC, RD, RA, CD = 0x8000, 0x0200, 0x0100, 0x0080, 0x0010
_OPCODE_MASK = 0x7800
_NAME_POINTER = 0xC000

UDP_DEFAULT_SIZE = 512
MAX_SIZE = 65535
_MAX_NAME = 255


class FormatError(ValueError):
    """The message cannot be parsed (answered FORMERR when its header is readable)."""


@dataclass(frozen=True)
class Query:
    """A parsed query: its header fields and its one question."""

    id: int
    flags: int
    name: str            # as sent, without the trailing dot ("" for the root)
    qtype: int
    qclass: int
    question: bytes      # the question section re-encoded (name uncompressed)
    udp_size: int        # the client's EDNS(0) payload size, 512 without OPT

    @property
    def opcode(self) -> int:
        return (self.flags & _OPCODE_MASK) >> 11


def read_name(msg: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` (pointers followed) and the offset after it in place."""
    labels: list[str] = []
    end = -1
    seen = 0
    length = 0
    while True:
        if offset >= len(msg):
            raise FormatError("name runs past the message")
        n = msg[offset]
        if n & 0xC0 == 0xC0:
            if offset + 1 >= len(msg):
                raise FormatError("truncated pointer")
            if end < 0:
                end = offset + 2
            target = ((n & 0x3F) << 8) | msg[offset + 1]
            seen += 1
            if seen > 64 or target >= offset:
                raise FormatError("compression loop")
            offset = target
            continue
        if n & 0xC0:
            raise FormatError("unsupported label type")
        offset += 1
        if n == 0:
            break
        if offset + n > len(msg):
            raise FormatError("label runs past the message")
        length += n + 1
        if length > _MAX_NAME:
            raise FormatError("name too long")
        labels.append(msg[offset:offset + n].decode("latin-1"))
        offset += n
    return ".".join(labels), (end if end >= 0 else offset)


def encode_name(name: str) -> bytes:
    """Uncompressed wire form of a dotted name (a trailing dot is optional)."""
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("latin-1")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > _MAX_NAME:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out)


def _skip_rr(msg: bytes, offset: int) -> tuple[int, int, int]:
    """(type, class, offset after) of the resource record at `offset`."""
    _, offset = read_name(msg, offset)
    if offset + _RRFIXED.size > len(msg):
        raise FormatError("truncated record")
    rtype, rclass, _, rdlen = _RRFIXED.unpack_from(msg, offset)
    offset += _RRFIXED.size + rdlen
    if offset > len(msg):
        raise FormatError("truncated rdata")
    return rtype, rclass, offset


def parse_query(msg: bytes) -> Query:
    """Parse a query with exactly one question; FormatError otherwise."""
    if len(msg) < HEADER.size:
        raise FormatError("short header")
    qid, flags, qd, an, ns, ar = HEADER.unpack_from(msg)
    if qd != 1:
        raise FormatError(f"{qd} questions")
    name, offset = read_name(msg, HEADER.size)
    if offset + _QFIXED.size > len(msg):
        raise FormatError("truncated question")
    qtype, qclass = _QFIXED.unpack_from(msg, offset)
    offset += _QFIXED.size
    udp_size = UDP_DEFAULT_SIZE
    for i in range(an + ns + ar):
        rtype, rclass, offset = _skip_rr(msg, offset)
        if rtype == OPT and i >= an + ns:
            udp_size = max(UDP_DEFAULT_SIZE, rclass)  # OPT's class is the payload size
    question = encode_name(name) + _QFIXED.pack(qtype, qclass)
    return Query(qid, flags, name, qtype, qclass, question, udp_size)


def _reply_flags(flags: int, rcode: int) -> int:
    """QR, the query's opcode, RD and CD copied, RA set (as Docker's resolver)."""
    return QR | (flags & (_OPCODE_MASK | RD | CD)) | RA | rcode


def response(query: Query, rcode: int = NOERROR, answers: list[tuple[int, bytes]] | None = None,
             ttl: int = 0, limit: int = MAX_SIZE) -> bytes:
    """A reply to `query` with answers [(type, rdata)] named like its question.

    Answers that do not fit in `limit` bytes are left out from the end and
    the reply is marked truncated (TC), as miekg/dns's Msg.Truncate does.
    """
    records = [struct.pack("!H", _NAME_POINTER | HEADER.size)
               + _RRFIXED.pack(rtype, CLASS_IN, ttl, len(rdata)) + rdata
               for rtype, rdata in answers or []]
    flags = _reply_flags(query.flags, rcode)
    size = HEADER.size + len(query.question) + sum(map(len, records))
    while records and size > limit:
        size -= len(records.pop())
        flags |= TC
    return HEADER.pack(query.id, flags, 1, len(records), 0, 0) + query.question + b"".join(records)


def error_from_header(msg: bytes, rcode: int) -> bytes | None:
    """A bare error reply (no sections) to whatever readable header `msg` has;
    None for a message that is too short or is itself a response."""
    if len(msg) < HEADER.size:
        return None
    qid, flags = struct.unpack_from("!HH", msg)
    if flags & QR:
        return None
    return HEADER.pack(qid, _reply_flags(flags, rcode), 0, 0, 0, 0)


def rcode_of(msg: bytes) -> int:
    return msg[3] & 0x0F


def address_rdata(address: str) -> tuple[int, bytes]:
    """(A or AAAA, packed address) of an address string."""
    ip = ipaddress.ip_address(address)
    return (A if ip.version == 4 else AAAA), ip.packed


def ptr_address(name: str) -> str | None:
    """The address a reverse name stands for ("4.3.2.1.in-addr.arpa" ->
    "1.2.3.4", 32 nibbles of ip6.arpa -> compressed IPv6); None otherwise."""
    low = name.lower().rstrip(".")
    try:
        if low.endswith(".in-addr.arpa"):
            parts = low[:-len(".in-addr.arpa")].split(".")
            if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
        elif low.endswith(".ip6.arpa"):
            nibbles = low[:-len(".ip6.arpa")].split(".")
            if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
                return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
    except ValueError:
        pass
    return None
