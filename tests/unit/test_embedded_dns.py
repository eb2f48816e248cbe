"""The embedded DNS server answering at 127.0.0.11 inside a private network namespace.

Each test makes its own netns (`ip netns add dpydns-<random>`, removed at the
end), queries from inside it with busybox nslookup and with raw sockets on a
thread that entered it, and forwards to a stub resolver of the test on
127.0.0.1:<port> of the host's namespace.
"""

import os
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest

from dockerd_plugins.network._netlink import in_netns
from dockerd_py.services.dns import EmbeddedDNS, wire

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

SERVER = ("127.0.0.11", 53)
NAMES = {
    "c1": {"web": ["172.30.0.2", "fd00::2"], "db": ["172.30.0.3", "172.30.0.4"],
           "v4only": ["172.30.0.5"], "many": [f"172.30.1.{i}" for i in range(1, 61)]},
    "c2": {"web": ["172.31.0.9"]},
}
PTRS = {"172.30.0.2": "web.mynet", "fd00::2": "web.mynet"}
BIG = [f"198.51.100.{i}" for i in range(1, 61)]  # 60 A records: more than 512 bytes


def lookup(asker: str, name: str):
    if name == "boom":
        raise KeyError(name)
    return NAMES.get(asker, {}).get(name)


def reverse(asker: str, ip: str):
    return PTRS.get(ip)


# ------------------------------------------------------------------ helpers


def build(name: str, qtype: int, qid: int = 0x4242) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire.encode_name(name) + struct.pack("!HH", qtype, 1)


def parse(msg: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(flags, rcode, [(type, rdata)]) of a response."""
    _, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", msg)
    off = 12
    for _ in range(qd):
        off = wire.read_name(msg, off)[1] + 4
    out = []
    for _ in range(an):
        off = wire.read_name(msg, off)[1]
        rtype, _, _, rdlen = struct.unpack_from("!HHIH", msg, off)
        out.append((rtype, msg[off + 10:off + 10 + rdlen]))
        off += 10 + rdlen
    return flags, flags & 0xF, out


def addresses(msg: bytes) -> list[str]:
    return [socket.inet_ntop(socket.AF_INET if t == wire.A else socket.AF_INET6, d)
            for t, d in parse(msg)[2] if t in (wire.A, wire.AAAA)]


def udp_query(ns: str, raw: bytes, timeout: float = 3.0) -> bytes:
    def run() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(raw, SERVER)
            return s.recv(65535)
    return in_netns(ns, run)


def tcp_connect(ns: str) -> socket.socket:
    return in_netns(ns, lambda: socket.create_connection(SERVER, timeout=3))


def tcp_exchange(sock: socket.socket, raw: bytes) -> bytes:
    sock.sendall(struct.pack("!H", len(raw)) + raw)
    head = sock.recv(2, socket.MSG_WAITALL)
    return sock.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)


def tcp_query(ns: str, raw: bytes) -> bytes:
    with tcp_connect(ns) as s:
        return tcp_exchange(s, raw)


def nslookup(ns_name: str, *args: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns_name, "busybox", "nslookup", *args, "127.0.0.11"],
                          capture_output=True, text=True, timeout=20).stdout


class Stub:
    """A resolver of the test on 127.0.0.1:<port> (UDP and TCP) in the host's namespace:
    upstream.test -> 192.0.2.1, big.test -> 60 addresses (truncated over UDP, as a
    real server does), anything else NXDOMAIN."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.05)
        self.stopped = threading.Event()
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        self.seen: list[tuple[str, str]] = []
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def answer(self, raw: bytes, proto: str) -> bytes:
        q = wire.parse_query(raw)
        self.seen.append((proto, q.name))
        found = {"upstream.test": ["192.0.2.1"], "big.test": BIG}.get(q.name.lower())
        if found is None:
            return wire.response(q, wire.NXDOMAIN)
        limit = q.udp_size if proto == "udp" else wire.MAX_SIZE
        return wire.response(q, wire.NOERROR, [wire.address_rdata(a) for a in found], 30, limit)

    def _serve_udp(self) -> None:
        while not self.stopped.is_set():
            try:
                raw, addr = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            self.udp.sendto(self.answer(raw, "udp"), addr)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                n = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
                resp = self.answer(conn.recv(n, socket.MSG_WAITALL), "tcp")
                conn.sendall(struct.pack("!H", len(resp)) + resp)

    def close(self) -> None:
        self.stopped.set()
        self.tcp.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        for t in self.threads:
            t.join()
        self.tcp.close()
        self.udp.close()


# ----------------------------------------------------------------- fixtures


@pytest.fixture
def netns_names():
    """make() -> the name of a new netns with lo up; all removed at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"dpydns-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def dns(stub):
    server = EmbeddedDNS(lookup, reverse, upstream=[("127.0.0.1", stub.port)], timeout=2)
    yield server
    server.close()


@pytest.fixture
def ns(netns_names, dns):
    """A netns attached as container c1: (name, path)."""
    name = netns_names()
    dns.attach("c1", f"/run/netns/{name}")
    return name, f"/run/netns/{name}"


# -------------------------------------------------------------------- tests


def test_busybox_nslookup_gets_a_and_aaaa(ns):
    out = nslookup(ns[0], "web")
    assert "172.30.0.2" in out and "fd00::2" in out, out
    out = nslookup(ns[0], "-type=AAAA", "WEB.")
    assert "fd00::2" in out and "172.30.0.2" not in out, out


def test_busybox_nslookup_ptr(ns):
    out = nslookup(ns[0], "172.30.0.2")
    assert "web.mynet" in out, out


def test_raw_udp_a_aaaa_ptr_and_known_name_without_aaaa(ns):
    assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]
    assert addresses(udp_query(ns[1], build("Web.", wire.AAAA))) == ["fd00::2"]
    flags, rcode, recs = parse(udp_query(ns[1], build("v4only", wire.AAAA)))
    assert (rcode, recs) == (wire.NOERROR, [])
    _, _, recs = parse(udp_query(ns[1], build("2.0.30.172.in-addr.arpa", wire.PTR)))
    assert recs == [(wire.PTR, wire.encode_name("web.mynet"))]


def test_round_robin_across_two_answers(ns):
    orders = [addresses(udp_query(ns[1], build("db", wire.A))) for _ in range(4)]
    assert sorted(orders[0]) == ["172.30.0.3", "172.30.0.4"]
    assert orders[0] != orders[1] and orders[0] == orders[2] and orders[1] == orders[3]


def test_answers_depend_on_the_asking_container(netns_names, dns, ns):
    other = netns_names()
    dns.attach("c2", f"/run/netns/{other}")
    assert addresses(udp_query(f"/run/netns/{other}", build("web", wire.A))) == ["172.31.0.9"]
    assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]


def test_unknown_name_is_forwarded_over_udp_and_tcp(ns, stub):
    assert addresses(udp_query(ns[1], build("upstream.test", wire.A))) == ["192.0.2.1"]
    assert addresses(tcp_query(ns[1], build("upstream.test", wire.A))) == ["192.0.2.1"]
    _, rcode, _ = parse(udp_query(ns[1], build("nowhere.test", wire.A)))
    assert rcode == wire.NXDOMAIN
    assert ("udp", "upstream.test") in stub.seen and ("tcp", "upstream.test") in stub.seen
    assert not any(name == "web" for _, name in stub.seen)
    assert "192.0.2.1" in nslookup(ns[0], "upstream.test")


def test_large_answers_are_truncated_over_udp_and_whole_over_tcp(ns):
    # ours: the answers that fit in 512 bytes, TC set
    flags, _, recs = parse(udp_query(ns[1], build("many", wire.A)))
    assert flags & wire.TC and 0 < len(recs) < 60
    assert sorted(addresses(tcp_query(ns[1], build("many", wire.A)))) == sorted(NAMES["c1"]["many"])
    # forwarded: the upstream's truncated reply is relayed, the TCP retry gets all
    flags, _, recs = parse(udp_query(ns[1], build("big.test", wire.A)))
    assert flags & wire.TC and 0 < len(recs) < 60
    assert addresses(tcp_query(ns[1], build("big.test", wire.A))) == BIG
    out = subprocess.run(["ip", "netns", "exec", ns[0], "busybox", "nslookup", "many", "127.0.0.11"],
                         capture_output=True, text=True, timeout=20).stdout
    assert "172.30.1." in out, out


def test_container_upstream_replaces_the_hosts_and_empty_forwards_nothing(netns_names, dns, stub):
    a, b = netns_names(), netns_names()
    dns.attach("c1", f"/run/netns/{a}", upstream=[])  # e.g. an internal network
    _, rcode, _ = parse(udp_query(f"/run/netns/{a}", build("upstream.test", wire.A)))
    assert rcode == wire.SERVFAIL and stub.seen == []
    assert addresses(udp_query(f"/run/netns/{a}", build("web", wire.A))) == ["172.30.0.2"]
    own = Stub()  # the container's --dns server
    try:
        dns.attach("c2", f"/run/netns/{b}", upstream=[("127.0.0.1", own.port)])
        assert addresses(udp_query(f"/run/netns/{b}", build("upstream.test", wire.A))) == ["192.0.2.1"]
        assert own.seen == [("udp", "upstream.test")] and stub.seen == []
    finally:
        own.close()


def test_no_upstream_answering_gives_servfail(netns_names):
    with socket.socket() as s:  # a closed port: the forward is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = EmbeddedDNS(lookup, reverse, upstream=[("127.0.0.1", port)], timeout=1)
    try:
        name = netns_names()
        server.attach("c1", f"/run/netns/{name}")
        _, rcode, _ = parse(udp_query(f"/run/netns/{name}", build("upstream.test", wire.A)))
        assert rcode == wire.SERVFAIL
    finally:
        server.close()


def test_tcp_queries_and_an_idle_connection_blocks_no_one(ns):
    idle = tcp_connect(ns[1])
    idle.sendall(b"\x00")  # half a length prefix, never completed
    try:
        with tcp_connect(ns[1]) as s:
            assert addresses(tcp_exchange(s, build("web", wire.A))) == ["172.30.0.2"]
            assert addresses(tcp_exchange(s, build("web", wire.AAAA))) == ["fd00::2"]
        assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]
    finally:
        idle.close()


def test_malformed_query_gets_formerr_and_the_server_keeps_serving(ns):
    bad = struct.pack("!HHHHHH", 0x7777, 0x0100, 1, 0, 0, 0) + b"\x3fab"
    resp = udp_query(ns[1], bad)
    assert resp[:2] == b"\x77\x77" and resp[3] & 0xF == wire.FORMERR
    assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]


def test_failing_lookup_gives_servfail_and_the_server_keeps_serving(ns):
    _, rcode, _ = parse(udp_query(ns[1], build("boom", wire.A)))
    assert rcode == wire.SERVFAIL
    assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]


def test_detach_stops_answering_at_once(ns, dns):
    conn = tcp_connect(ns[1])
    dns.detach("c1")
    with pytest.raises(OSError):  # ECONNREFUSED (port unreachable) or a timeout
        udp_query(ns[1], build("web", wire.A), timeout=1)
    with pytest.raises(ConnectionRefusedError):
        tcp_connect(ns[1])
    assert conn.recv(1) == b""  # the open connection was closed too
    conn.close()
    dns.detach("c1")  # idempotent
    dns.attach("c1", ns[1])  # and it can come back
    assert addresses(udp_query(ns[1], build("web", wire.A))) == ["172.30.0.2"]


def test_attach_to_a_missing_netns_raises(dns):
    with pytest.raises(FileNotFoundError, match="/run/netns/dpydns-missing"):
        dns.attach("c9", "/run/netns/dpydns-missing")


def test_close_ends_the_thread_and_every_socket(netns_names, stub):
    server = EmbeddedDNS(lookup, reverse, upstream=[("127.0.0.1", stub.port)])
    name = netns_names()
    server.attach("c1", f"/run/netns/{name}")
    server.close()
    assert not server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        tcp_connect(f"/run/netns/{name}")
    with pytest.raises(RuntimeError):
        server.attach("c1", f"/run/netns/{name}")
    server.close()


def test_with_ndots_set_a_foreign_single_label_name_is_not_forwarded(netns_names, dns, stub):
    name = netns_names()
    dns.attach("c1", f"/run/netns/{name}", ndots_set=True)
    _, rcode, recs = parse(udp_query(f"/run/netns/{name}", build("nowhere", wire.A)))
    assert (rcode, recs) == (wire.NOERROR, [])
    assert addresses(udp_query(f"/run/netns/{name}", build("web", wire.A))) == ["172.30.0.2"]
    assert addresses(udp_query(f"/run/netns/{name}", build("upstream.test", wire.A))) == ["192.0.2.1"]
    parse(udp_query(f"/run/netns/{name}", build("nowhere", wire.MX)))  # other types: forwarded
    assert [n for _, n in stub.seen] == ["upstream.test", "nowhere"]
