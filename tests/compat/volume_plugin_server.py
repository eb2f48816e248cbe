"""A small Docker volume plugin (the remote VolumeDriver protocol) for the tests.

It serves HTTP/1.1 on a unix socket, keeps its volumes as directories under
`root`, and records every call (path and JSON body) in `calls`. Run it as a
script to try it against another daemon: `python volume_plugin_server.py SOCK ROOT`.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class VolumePlugin:
    def __init__(self, sock: str, root: str, implements: tuple[str, ...] = ("VolumeDriver",)) -> None:
        self.sock, self.root, self.implements = sock, root, implements
        self.calls: list[tuple[str, dict]] = []
        self.volumes: dict[str, dict] = {}   # name -> {"Opts":..., "mounts": set of ids}
        self.content_types: set[str] = set()
        self.delay = 0.0                      # seconds each answer waits (a plugin that does not answer)
        self._lock = threading.Lock()
        plugin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    body = {"<raw>": raw.decode(errors="replace")}
                with plugin._lock:
                    plugin.calls.append((self.path, body))
                    if self.headers.get("Accept"):
                        plugin.content_types.add(self.headers["Accept"])
                if plugin.delay:
                    threading.Event().wait(plugin.delay)
                status, answer = plugin.answer(self.path, body or {})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        if os.path.exists(sock):
            os.unlink(sock)
        os.makedirs(os.path.dirname(sock), exist_ok=True)
        self.server = _UnixHTTPServer(sock, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "VolumePlugin":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass

    def names(self) -> list[str]:
        with self._lock:
            return [path.removeprefix("/VolumeDriver.").removeprefix("/") for path, _ in self.calls]

    def _mountpoint(self, name: str) -> str:
        return os.path.join(self.root, name)

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        name = body.get("Name", "")
        with self._lock:
            if path == "/Plugin.Activate":
                return 200, {"Implements": list(self.implements)}
            if path == "/VolumeDriver.Capabilities":
                return 200, {"Capabilities": {"Scope": "local"}}
            if path == "/VolumeDriver.Create":
                if (body.get("Opts") or {}).get("fail"):
                    return 500, {"Err": "refused by the plugin: " + body["Opts"]["fail"]}
                os.makedirs(self._mountpoint(name), exist_ok=True)
                self.volumes.setdefault(name, {"Opts": body.get("Opts") or {}, "mounts": set()})
                return 200, {"Err": ""}
            if path == "/VolumeDriver.List":
                return 200, {"Volumes": [{"Name": n, "Mountpoint": self._mountpoint(n) if v["mounts"] else ""}
                                         for n, v in sorted(self.volumes.items())], "Err": ""}
            vol = self.volumes.get(name)
            if vol is None:
                return 200 if path == "/VolumeDriver.Remove" else 500, {"Err": f"no such volume: {name}"}
            if path == "/VolumeDriver.Get":
                return 200, {"Volume": {"Name": name, "Mountpoint": self._mountpoint(name) if vol["mounts"] else "",
                                        "Status": {"mounts": len(vol["mounts"])}}, "Err": ""}
            if path == "/VolumeDriver.Remove":
                if vol["mounts"]:
                    return 500, {"Err": "volume is mounted"}
                del self.volumes[name]
                shutil.rmtree(self._mountpoint(name), ignore_errors=True)
                return 200, {"Err": ""}
            if path == "/VolumeDriver.Mount":
                vol["mounts"].add(body.get("ID", ""))
                return 200, {"Mountpoint": self._mountpoint(name), "Err": ""}
            if path == "/VolumeDriver.Unmount":
                vol["mounts"].discard(body.get("ID", ""))
                return 200, {"Err": ""}
            if path == "/VolumeDriver.Path":
                return 200, {"Mountpoint": self._mountpoint(name) if vol["mounts"] else "", "Err": ""}
        return 404, {"Err": f"unknown call {path}"}


if __name__ == "__main__":
    p = VolumePlugin(sys.argv[1], sys.argv[2]).start()
    try:
        while True:
            threading.Event().wait(1)
            sys.stdout.write("".join(f"{path} {json.dumps(body)}\n" for path, body in p.calls))
            sys.stdout.flush()
            p.calls.clear()
    except KeyboardInterrupt:
        p.stop()
