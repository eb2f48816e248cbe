"""The embedded DNS server: one thread serving 127.0.0.11:53 of every attached container.

Every container gets a UDP and a TCP socket opened inside its network
namespace (`netns.open_listeners`); all of them are served by one thread
with a selector. Local answers (`local.answer`) are given on that thread;
forwarded queries go to a small thread pool (blocking exchanges with
timeouts, in the host's namespace) whose replies come back to the serving
thread, which alone touches the sockets and the selector. attach, detach and
close hand their work to the serving thread and wait for it, so once detach
returns the container's sockets are closed.

`lookup` and `reverse` run on the serving thread: they must be quick and
must not wait for anything held by a caller of attach/detach/close.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import forward, local, netns, wire

log = logging.getLogger(__name__)
T = TypeVar("T")
Reply = Callable[[bytes], None]

FORWARD_WORKERS = 8
MAX_INFLIGHT = 1024       # forwarded queries waiting at once (Docker's maxConcurrent)
MAX_CONNS = 64            # TCP connections per container
TCP_IDLE = 10.0           # seconds a TCP connection may sit idle
_MAX_OUTBUF = 1 << 20
_BATCH = 64


@dataclass(eq=False)
class _Attachment:
    container_id: str
    udp: socket.socket
    tcp: socket.socket
    upstream: list[forward.Server] | None
    ndots_set: bool
    conns: set[_Conn] = field(default_factory=set)


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    att: _Attachment
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    events: int = selectors.EVENT_READ
    last: float = field(default_factory=time.monotonic)
    pending: int = 0
    closed: bool = False


class EmbeddedDNS:
    """Docker's embedded DNS server for containers on user-defined networks.

    lookup(asker_id, name) -> addresses, or None when the name is not the
    daemon's; reverse(asker_id, ip) -> name, or None. `resolv_conf` is read
    at each forward; `upstream` ("ip" or (ip, port) entries) replaces it
    (tests point it at a stub server).
    """

    def __init__(self, lookup: Callable[[str, str], list[str] | None],
                 reverse: Callable[[str, str], str | None] | None = None, *,
                 resolv_conf: str = "/etc/resolv.conf",
                 upstream: Sequence[str | tuple[str, int]] | None = None,
                 timeout: float = forward.TIMEOUT) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._resolv_conf = resolv_conf
        self._upstream = forward.servers(upstream) if upstream is not None else None
        self._timeout = timeout
        self._rr = local.RoundRobin()
        self._attached: dict[str, _Attachment] = {}
        self._inflight = 0
        self._nconns = 0
        self._running = True
        self._closed = False
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        # worker threads are started by the serving thread, which is started
        # here: both stay in the caller's (the host's) network namespace
        self._pool = ThreadPoolExecutor(FORWARD_WORKERS, thread_name_prefix="dns-forward")
        self._thread = threading.Thread(target=self._serve, name="embedded-dns", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API

    def attach(self, container_id: str, netns_path: str, *,
               upstream: Sequence[str | tuple[str, int]] | None = None,
               ndots_set: bool = False) -> None:
        """Answer at 127.0.0.11:53 (UDP and TCP) inside `netns_path` for the
        container; `upstream`: its own --dns servers instead of the host's
        (an empty list: nothing is forwarded, foreign names get SERVFAIL);
        `ndots_set`: its --dns-option sets ndots, so a foreign single-label
        A/AAAA name gets an empty answer, not forwarded (Docker's rule: the
        client retries with its search domains).
        Attaching an attached container replaces its sockets. Raises OSError
        when the namespace does not exist or the address cannot be bound."""
        if self._closed:
            raise RuntimeError("the embedded DNS server is closed")
        self.detach(container_id)
        udp, tcp = netns.open_listeners(netns_path)
        servers = forward.servers(upstream) if upstream is not None else None
        att = _Attachment(container_id, udp, tcp, servers, ndots_set)
        try:
            self._in_loop(self._add, att)
        except BaseException:
            udp.close()
            tcp.close()
            raise

    def detach(self, container_id: str) -> None:
        """Close the container's sockets (and TCP connections); idempotent."""
        try:
            self._in_loop(self._remove, container_id)
        except RuntimeError:  # closed: nothing is attached any more
            pass

    def close(self) -> None:
        """Stop serving and close every socket; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._call_soon(self._stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------- the serving thread

    def _call_soon(self, fn: Callable[[], None]) -> None:
        self._calls.put(fn)
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (the loop wakes anyway) or closed
            pass

    def _in_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the serving thread; its result or exception."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        with self._lock:
            if self._closed:
                raise RuntimeError("the embedded DNS server is closed")
            self._call_soon(run)
        return done.result()

    def _stop(self) -> None:
        self._running = False

    def _serve(self) -> None:
        try:
            while self._running:
                idle_check = self._nconns > 0
                for key, mask in self._sel.select(1.0 if idle_check else None):
                    try:
                        self._dispatch(key.data, mask)
                    except Exception:  # one bad event never ends the server
                        log.exception("embedded DNS: error serving %r", key.data)
                if idle_check:
                    self._close_idle()
        finally:
            for container_id in list(self._attached):
                self._remove(container_id)
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _dispatch(self, data: Any, mask: int) -> None:
        if data is None:
            self._run_calls()
        elif isinstance(data, _Conn):
            self._on_conn(data, mask)
        elif data[0] == "udp":
            self._on_udp(data[1])
        else:
            self._on_accept(data[1])

    def _run_calls(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                fn = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except Exception:
                log.exception("embedded DNS: error in a queued call")

    def _add(self, att: _Attachment) -> None:
        self._remove(att.container_id)
        self._attached[att.container_id] = att
        self._sel.register(att.udp, selectors.EVENT_READ, ("udp", att))
        self._sel.register(att.tcp, selectors.EVENT_READ, ("tcp", att))

    def _remove(self, container_id: str) -> None:
        att = self._attached.pop(container_id, None)
        if att is None:
            return
        for conn in list(att.conns):
            self._close_conn(conn)
        for sock in (att.udp, att.tcp):
            self._sel.unregister(sock)
            sock.close()

    # ------------------------------------------------------------- queries

    def _query(self, att: _Attachment, data: bytes, reply: Reply,
               conn: _Conn | None = None) -> None:
        """Answer one query; `conn` is its TCP connection (None: UDP)."""
        tcp = conn is not None
        try:
            q = wire.parse_query(data)
        except ValueError:
            err = wire.error_from_header(data, wire.FORMERR)
            if err is not None:
                reply(err)
            return
        if q.flags & wire.QR:
            return  # a response: nothing to answer
        if q.opcode != 0:
            reply(wire.response(q, wire.NOTIMP))
            return
        try:
            resp = local.answer(q, att.container_id, self._lookup, self._reverse, self._rr,
                                wire.MAX_SIZE if tcp else q.udp_size)
        except Exception:
            log.exception("embedded DNS: lookup of %r for %s failed", q.name, att.container_id)
            resp = wire.response(q, wire.SERVFAIL)
        if resp is None and att.ndots_set and q.qtype in (wire.A, wire.AAAA) \
                and "." not in q.name:
            resp = wire.response(q)
        if resp is None:
            self._forward(att, q, data, reply, conn)
        else:
            reply(resp)

    def _forward(self, att: _Attachment, q: wire.Query, data: bytes, reply: Reply,
                 conn: _Conn | None) -> None:
        if self._inflight >= MAX_INFLIGHT:
            log.warning("embedded DNS: more than %d concurrent queries", MAX_INFLIGHT)
            reply(wire.response(q, wire.REFUSED))
            return
        self._inflight += 1
        if conn is not None:
            conn.pending += 1
        fut = self._pool.submit(self._exchange, data, conn is not None, att.upstream)
        fut.add_done_callback(lambda f: self._call_soon(lambda: self._forwarded(q, f, reply, conn)))

    def _exchange(self, data: bytes, tcp: bool, upstream: list[forward.Server] | None) -> bytes | None:
        """On a pool thread: the upstream reply, the servers read now."""
        servers = upstream if upstream is not None else self._upstream
        if servers is None:
            servers = forward.host_servers(self._resolv_conf)
        return forward.forward(data, tcp, servers, self._timeout)

    def _forwarded(self, q: wire.Query, fut: Future[bytes | None], reply: Reply,
                   conn: _Conn | None) -> None:
        self._inflight -= 1
        if conn is not None:
            conn.pending -= 1
        try:
            resp = fut.result()
        except Exception:
            resp = None
        # an upstream reply goes to the client verbatim, as Docker's does
        reply(resp if resp is not None else wire.response(q, wire.SERVFAIL))

    # ----------------------------------------------------------------- UDP

    def _on_udp(self, att: _Attachment) -> None:
        for _ in range(_BATCH):
            try:
                data, addr = att.udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error queued on the socket
                continue

            def reply(resp: bytes, addr: Any = addr) -> None:
                try:
                    att.udp.sendto(resp, addr)
                except OSError:  # detached meanwhile, or the client is gone
                    pass

            self._query(att, data, reply)

    # ----------------------------------------------------------------- TCP

    def _on_accept(self, att: _Attachment) -> None:
        for _ in range(_BATCH):
            try:
                sock, _ = att.tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if len(att.conns) >= MAX_CONNS:
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Conn(sock, att)
            att.conns.add(conn)
            self._nconns += 1
            self._sel.register(sock, selectors.EVENT_READ, conn)

    def _on_conn(self, conn: _Conn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if conn.closed or not mask & selectors.EVENT_READ:
            return
        try:
            data = conn.sock.recv(65537)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        conn.last = time.monotonic()
        conn.inbuf += data
        while len(conn.inbuf) >= 2 and not conn.closed:
            (n,) = struct.unpack_from("!H", conn.inbuf)
            if len(conn.inbuf) < 2 + n:
                break
            msg = bytes(conn.inbuf[2:2 + n])
            del conn.inbuf[:2 + n]
            self._query(conn.att, msg, lambda resp, c=conn: self._send_tcp(c, resp), conn)

    def _send_tcp(self, conn: _Conn, resp: bytes) -> None:
        if conn.closed:
            return
        conn.last = time.monotonic()
        conn.outbuf += struct.pack("!H", len(resp)) + resp
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf) if conn.outbuf else 0
            del conn.outbuf[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_conn(conn)
            return
        if len(conn.outbuf) > _MAX_OUTBUF:  # a client that does not read
            self._close_conn(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        if events != conn.events:
            conn.events = events
            self._sel.modify(conn.sock, events, conn)

    def _close_conn(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        conn.att.conns.discard(conn)
        self._nconns -= 1
        self._sel.unregister(conn.sock)
        conn.sock.close()

    def _close_idle(self) -> None:
        limit = time.monotonic() - TCP_IDLE
        for att in self._attached.values():
            for conn in list(att.conns):
                if conn.pending == 0 and not conn.outbuf and conn.last < limit:
                    self._close_conn(conn)
