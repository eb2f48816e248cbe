"""The transport of Docker's legacy plugins, for the test plugins: HTTP/1.1 POSTs with JSON
bodies on a unix socket. A plugin gives `on_post(path, body, headers) -> (status, answer)`."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Callable, Mapping

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
OnPost = Callable[[str, dict, Mapping[str, str]], "tuple[int, dict]"]


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class PluginHTTPServer:
    def __init__(self, sock: str, on_post: OnPost) -> None:
        self.sock = sock
        self.raw_bodies: list[tuple[str, bytes]] = []   # (path, body as sent), every POST in order
        raw_bodies = self.raw_bodies

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                raw_bodies.append((self.path, raw))
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    body = {"<raw>": raw.decode(errors="replace")}
                status, answer = on_post(self.path, body if isinstance(body, dict) else {}, self.headers)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._handler = Handler
        self._server: _UnixHTTPServer | None = None

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.sock), exist_ok=True)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self._server = _UnixHTTPServer(self.sock, self._handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
