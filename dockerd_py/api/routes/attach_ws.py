"""`GET /containers/{id}/attach/ws`: attach over a websocket (docker-py's attach_socket(ws=True)).

The same reserved attachment as the hijacked attach; the streams are not
multiplexed (Docker's MuxStreams false): stdout and stderr payloads each go
out as one message, binary from API 1.28 on, text before; client messages
are stdin.
"""

from __future__ import annotations

import socket
import threading

from flask import Blueprint

from ...streams import Demuxer, DetachWatcher
from .. import hijack
from ..versioning import at_least, request_version
from ..websocket import BINARY, TEXT, WebSocket
from .containers import AttachRequest, attach_backend, attach_logs, attach_request


def _pump(ws: WebSocket, backend: socket.socket, req: AttachRequest, opcode: int) -> bool:
    """Messages → stdin, output → messages, until the output ends or the client closes; True if detached."""
    watcher = DetachWatcher(req.detach_keys) if req.tty and req.stdin else None

    def stdin_loop() -> None:
        how = socket.SHUT_WR
        while (message := ws.receive()) is not None:
            data = watcher.feed(message) if watcher else message
            if data is None:
                break
            if data and req.stdin:
                try:
                    backend.sendall(data)
                except OSError:
                    break
        else:
            how = socket.SHUT_RDWR  # the client closed the websocket: the session is over
        if watcher is not None and watcher.detached:
            how = socket.SHUT_RDWR
        try:
            backend.shutdown(how)
        except OSError:
            pass

    threading.Thread(target=stdin_loop, daemon=True, name="attach-ws-stdin").start()
    demux = None if req.tty else Demuxer()
    try:
        while data := backend.recv(65536):
            for payload in ([data] if demux is None else demux.feed(data)):
                ws.send(payload, opcode)
    except OSError:
        pass
    return watcher is not None and watcher.detached


def blueprint(engine) -> Blueprint:
    bp = Blueprint("attach_ws", __name__)

    @bp.route("/containers/<ref>/attach/ws", websocket=True)
    def attach_ws(ref):
        c = engine.containers.get(ref)
        key = WebSocket.handshake_key()
        req = attach_request(engine, c)
        ws = WebSocket.accept(key)
        opcode = BINARY if at_least(request_version(), "1.28") else TEXT
        if req.with_logs:
            for line in attach_logs(engine, c, req):
                ws.send(line.data, opcode)
        backend = attach_backend(req, hijack.client_gone_check(ws.sock))
        if backend is not None:
            try:
                if _pump(ws, backend, req, opcode):
                    engine.containers.publish_detach(c)
            finally:
                backend.close()
        ws.close()
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return hijack.finish()

    return bp
