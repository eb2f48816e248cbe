"""A small Docker volume plugin (the remote VolumeDriver protocol) for the tests.

It serves HTTP/1.1 on a unix socket, keeps its volumes as directories under
`root`, and records every call (path and JSON body) in `calls`. Run it as a
script to try it against another daemon: `python volume_plugin_server.py SOCK ROOT`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading

try:
    from .plugin_http import PluginHTTPServer
except ImportError:  # run as a script
    from plugin_http import PluginHTTPServer


class VolumePlugin:
    def __init__(self, sock: str, root: str, implements: tuple[str, ...] = ("VolumeDriver",)) -> None:
        self.sock, self.root, self.implements = sock, root, implements
        self.calls: list[tuple[str, dict]] = []
        self.volumes: dict[str, dict] = {}   # name -> {"Opts":..., "mounts": set of ids}
        self.content_types: set[str] = set()
        self.delay = 0.0                      # seconds each answer waits (a plugin that does not answer)
        self._lock = threading.Lock()
        self._http = PluginHTTPServer(sock, self._on_post)
        self.raw_bodies = self._http.raw_bodies

    def _on_post(self, path: str, body: dict, headers) -> tuple[int, dict]:
        with self._lock:
            self.calls.append((path, body))
            if headers.get("Accept"):
                self.content_types.add(headers["Accept"])
        if self.delay:
            threading.Event().wait(self.delay)
        return self.answer(path, body)

    def start(self) -> "VolumePlugin":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

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
