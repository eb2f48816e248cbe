"""dockerd_py.remoteplugins: discovery order, the plugin RPC over unix and tcp (loopback), retries, activation."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dockerd_py.remoteplugins import (NotImplementing, PluginClient, PluginDirs, PluginError, PluginNotFound,
                                      Registry)
from dockerd_py.remoteplugins.discovery import Endpoint


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.path, self.headers.get("Accept"), body))
        status, answer = {"/Plugin.Activate": (200, {"Implements": ["NetworkDriver"]}),
                          "/VolumeDriver.Create": (500, {"Err": "boom"})}.get(self.path, (404, {"Err": ""}))
        data = json.dumps(answer).encode() if answer.get("Err") != "" else b"404 page not found"
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def tcp_plugin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_discovery_order_and_scan(tmp_path):
    dirs = PluginDirs(str(tmp_path / "run"), (str(tmp_path / "etc"), str(tmp_path / "lib")))
    with pytest.raises(PluginNotFound, match="could not find plugin p1 in v1 plugin registry"):
        dirs.find("p1")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "p1.json").write_text(json.dumps({"Addr": "tcp://127.0.0.1:1"}))
    assert dirs.find("p1") == Endpoint("p1", "tcp://127.0.0.1:1")
    (tmp_path / "etc" / "p1").mkdir(parents=True)
    (tmp_path / "etc" / "p1" / "p1.spec").write_text("unix:///x/p1.sock\n")
    assert dirs.find("p1").addr == "unix:///x/p1.sock"  # specs dirs in order: etc before lib
    (tmp_path / "run" / "p1").mkdir(parents=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "run" / "p1" / "p1.sock"))
    s.close()
    assert dirs.find("p1").addr == f"unix://{tmp_path}/run/p1/p1.sock"  # a socket wins over specs
    (tmp_path / "etc" / "bad.spec").write_text("no-scheme")
    with pytest.raises(PluginNotFound, match="Unknown protocol"):
        dirs.find("bad")
    (tmp_path / "run" / "notasocket.sock").write_text("")
    assert dirs.scan() == ["bad", "notasocket", "p1"]
    with pytest.raises(PluginNotFound):
        dirs.find("notasocket")


def test_client_over_tcp_errors_and_activation(tmp_path, tcp_plugin):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "net1.spec").write_text(tcp_plugin)
    reg = Registry(PluginDirs(str(tmp_path / "run"), (str(tmp_path / "etc"),)), retry_total=3)
    plugin = reg.get("net1", "NetworkDriver")
    assert plugin.implements == ("NetworkDriver",) and reg.get("net1", "NetworkDriver") is plugin  # cached
    assert [(p, a) for p, a, _ in _Handler.seen] == [("/Plugin.Activate", "application/vnd.docker.plugins.v1.2+json")]
    with pytest.raises(NotImplementing):
        reg.get("net1", "VolumeDriver")
    with pytest.raises(PluginError, match="^VolumeDriver.Create: boom$") as e:
        plugin.client.call("VolumeDriver.Create", {"Name": "x"}, timeout=5)
    assert e.value.status == 500 and json.loads(_Handler.seen[-1][2]) == {"Name": "x"}
    with pytest.raises(PluginError, match="^VolumeDriver.Nope: 404 page not found$"):
        plugin.client.call("VolumeDriver.Nope", None, timeout=5)


def test_client_retries_until_the_plugin_listens(tmp_path):
    port = _free_port()
    client = PluginClient(Endpoint("late", f"tcp://127.0.0.1:{port}"), retry_total=0)
    with pytest.raises(PluginError, match=f"dial tcp 127.0.0.1:{port}: connect: connection refused"):
        client.call("Plugin.Activate", None, timeout=5)
    servers = []

    def listen_later():
        time.sleep(0.5)
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), _Handler))
        servers[0].serve_forever()

    threading.Thread(target=listen_later, daemon=True).start()
    client.retry_total = 10
    t0 = time.monotonic()
    try:
        assert client.call("Plugin.Activate", None, timeout=5) == {"Implements": ["NetworkDriver"]}
        assert 0.9 < time.monotonic() - t0 < 5  # one backoff of 1 s
    finally:
        servers[0].shutdown()
        servers[0].server_close()


def test_registry_retries_a_missing_plugin_then_gives_up(tmp_path):
    reg = Registry(PluginDirs(str(tmp_path / "run"), ()), retry_total=2.5)
    t0 = time.monotonic()
    with pytest.raises(PluginNotFound):
        reg.get("never", "VolumeDriver")
    assert 0.9 < time.monotonic() - t0 < 2.5  # 1 s, then 2 s more would pass the budget
    t0 = time.monotonic()
    with pytest.raises(PluginNotFound):
        reg.get("never", "VolumeDriver", retry=False)
    assert time.monotonic() - t0 < 0.5
