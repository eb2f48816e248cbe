"""The embedded DNS server's wire format and local answers, on hand-built messages."""

import socket
import struct

import pytest

from dockerd_py.services.dns import local, wire


def query(name: str, qtype: int, qid: int = 0x1234, flags: int = 0x0100,
          extra: bytes = b"", arcount: int = 0) -> bytes:
    """A query built by hand: header, one question (no codec involved)."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p)
    return (struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
            + labels + b"\x00" + struct.pack("!HH", qtype, 1) + extra)


def records(msg: bytes) -> tuple[int, int, list[tuple[str, int, int, bytes]]]:
    """(flags, rcode, [(name, type, ttl, rdata)]) of a response."""
    _, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", msg)
    off = 12
    for _ in range(qd):
        _, off = wire.read_name(msg, off)
        off += 4
    out = []
    for _ in range(an):
        name, off = wire.read_name(msg, off)
        rtype, _, ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
        off += 10
        out.append((name, rtype, ttl, msg[off:off + rdlen]))
        off += rdlen
    assert off == len(msg)
    return flags, flags & 0xF, out


NAMES = {"web": ["172.30.0.2", "fd00::2"], "db": ["172.30.0.3", "172.30.0.4"], "v6less": ["10.0.0.9"]}


def lookup(asker: str, name: str):
    assert asker == "c1"
    return NAMES.get(name)


def reverse(asker: str, ip: str):
    return {"172.30.0.2": "web.mynet", "fd00::2": "web.mynet"}.get(ip)


def ask(raw: bytes, rr: local.RoundRobin | None = None):
    return local.answer(wire.parse_query(raw), "c1", lookup, reverse, rr or local.RoundRobin())


def test_parse_hand_built_query():
    q = wire.parse_query(query("Web.Example.", wire.AAAA, qid=7))
    assert (q.id, q.name, q.qtype, q.qclass, q.opcode, q.udp_size) == (7, "Web.Example", wire.AAAA, 1, 0, 512)


def test_parse_follows_compression_and_reads_edns_size():
    # an OPT record in the additional section carries the client's payload size
    opt = b"\x00" + struct.pack("!HHIH", wire.OPT, 4096, 0, 0)
    assert wire.parse_query(query("web", wire.A, extra=opt, arcount=1)).udp_size == 4096
    # a name ending in a pointer to the question's name
    msg = query("a.example", wire.A) + b"\x03www\xc0\x0c"
    assert wire.read_name(msg, len(msg) - 6) == ("www.a.example", len(msg))


@pytest.mark.parametrize("raw", [
    b"\x00\x01",                                                  # short header
    struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0),                     # two questions, none there
    struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab",         # label past the end
    struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",  # pointer loop
])
def test_malformed_is_a_format_error(raw):
    with pytest.raises(wire.FormatError):
        wire.parse_query(raw)
    err = wire.error_from_header(raw, wire.FORMERR)
    assert err is None or (err[:2] == raw[:2] and err[3] & 0xF == wire.FORMERR)


def test_a_answer_echoes_the_question_and_uses_ttl_600():
    flags, rcode, recs = records(ask(query("WEB.", wire.A)))
    assert rcode == wire.NOERROR and flags & wire.QR and flags & wire.RA and flags & wire.RD
    assert recs == [("WEB", wire.A, 600, bytes([172, 30, 0, 2]))]


def test_aaaa_answer_and_known_name_without_aaaa_is_empty_noerror():
    _, _, recs = records(ask(query("web", wire.AAAA)))
    assert recs == [("web", wire.AAAA, 600, b"\xfd" + b"\x00" * 14 + b"\x02")]
    _, rcode, recs = records(ask(query("v6less", wire.AAAA)))
    assert (rcode, recs) == (wire.NOERROR, [])


def test_other_types_of_our_names_are_empty_and_unknown_names_forwarded():
    _, rcode, recs = records(ask(query("web", wire.MX)))
    assert (rcode, recs) == (wire.NOERROR, [])
    assert ask(query("example.com", wire.A)) is None
    assert ask(query("", wire.NS)) is None


def test_ptr_v4_and_v6_and_unknown_address_forwarded():
    _, _, recs = records(ask(query("2.0.30.172.in-addr.arpa", wire.PTR)))
    assert recs == [("2.0.30.172.in-addr.arpa", wire.PTR, 600, wire.encode_name("web.mynet."))]
    v6 = ".".join(reversed("fd00" + "0" * 27 + "2")) + ".ip6.arpa"
    _, _, recs = records(ask(query(v6, wire.PTR)))
    assert recs[0][3] == wire.encode_name("web.mynet")
    assert ask(query("9.9.9.9.in-addr.arpa", wire.PTR)) is None
    assert wire.ptr_address("1.2.in-addr.arpa") is None


def test_round_robin_rotates_on_each_answer():
    rr = local.RoundRobin()
    seen = [[r[3] for r in records(ask(query("db", wire.A), rr))[2]] for _ in range(3)]
    a, b = bytes([172, 30, 0, 3]), bytes([172, 30, 0, 4])
    assert seen == [[a, b], [b, a], [a, b]]


def test_answers_that_do_not_fit_are_dropped_from_the_end_with_tc():
    q = wire.parse_query(query("many", wire.A))
    answers = [wire.address_rdata(f"10.0.0.{i}") for i in range(1, 61)]
    flags, _, recs = records(wire.response(q, wire.NOERROR, answers, 600, limit=512))
    assert flags & wire.TC and len(recs) == (512 - 12 - 10) // 16
    assert [r[3] for r in recs] == [a[1] for a in answers[:len(recs)]]
    flags, _, recs = records(wire.response(q, wire.NOERROR, answers, 600))
    assert not flags & wire.TC and len(recs) == 60

def test_nameservers_of_a_resolv_conf(tmp_path):
    from dockerd_py.services.dns import forward
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.com\nnameserver 127.0.0.53\nnameserver fe80::1%lo\n"
                    "nameserver bogus\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n")
    assert forward.nameservers(str(conf))[:2] == ["127.0.0.53", "fe80::1%lo"]
    got = forward.host_servers(str(conf))
    assert [s[1][0] for s in got] == ["127.0.0.53", "fe80::1", "10.0.0.1"]  # three at most
    assert got[1][1][3] == socket.if_nametoindex("lo")
    assert all(s[1][1] == 53 for s in got)
    assert [s[1][0] for s in forward.host_servers(str(tmp_path / "none"))] == ["8.8.8.8", "8.8.4.4"]
