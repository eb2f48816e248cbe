"""Ping, version negotiation, info, error shapes: what every client sees first."""

import json
import os
import socket





def raw_request(daemon, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request on the daemon's unix socket, read to the end."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(daemon.socket_path)
    lines = [f"{method} {path} HTTP/1.1", "Host: api.moby.localhost", "Connection: close",
             f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if hdrs.get("transfer-encoding") == "chunked":
        body_out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            body_out += rest[:size]
            rest = rest[size + 2:]
        rest = body_out
    return int(status_line.split()[1]), hdrs, rest


def test_ping_get_and_head_carry_docker_headers(daemon):
    status, headers, body = raw_request(daemon, "GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.47"
    assert headers["ostype"] == "linux"
    assert headers["builder-version"] == "1"
    assert headers["server"].startswith("Docker/")
    status, headers, body = raw_request(daemon, "HEAD", "/_ping")
    assert status == 200 and body == b"" and headers["api-version"] == "1.47"


def test_cli_negotiates_and_reports_versions(cli):
    out = json.loads(cli("version", "--format", "{{json .}}").stdout)
    assert out["Server"]["ApiVersion"] == "1.47"
    assert out["Server"]["MinAPIVersion"] == "1.24"
    assert out["Client"]["ApiVersion"] == "1.47"  # negotiated down from the CLI's own maximum


def test_version_prefix_too_new_and_too_old(daemon):
    status, headers, body = raw_request(daemon, "GET", "/v1.99/version")
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["message"] == "client version 1.99 is too new. Maximum supported API version is 1.47"
    status, _, body = raw_request(daemon, "GET", "/v1.12/version")
    assert status == 400 and "is too old. Minimum supported API version is 1.24" in json.loads(body)["message"]
    for path in ("/version", "/v1.24/version", "/v1.47/version"):
        assert raw_request(daemon, "GET", path)[0] == 200


def test_unknown_route_is_json_404(daemon):
    status, headers, body = raw_request(daemon, "GET", "/v1.47/nonsense/route")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "page not found"}


def test_info_has_real_figures(cli, daemon):
    info = json.loads(cli("info", "--format", "{{json .}}").stdout)
    assert info["Driver"] == "overlay2"
    assert info["OSType"] == "linux"
    assert info["CgroupVersion"] in ("1", "2")
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert info["DefaultRuntime"] == "dockerd-py-runc"
    assert "dockerd-py-runc" in info["Runtimes"]
    assert info["DockerRootDir"] == f"{daemon.root}/data"
    assert info["Images"] >= 1
    with open("/proc/sys/kernel/osrelease") as f:
        assert info["KernelVersion"] == f.read().strip()


def test_swarm_answers_not_a_manager(cli, daemon):
    status, _, body = raw_request(daemon, "GET", "/v1.47/swarm")
    assert status == 503 and json.loads(body)["message"].startswith("This node is not a swarm manager.")
    out = cli("node", "ls", check=False)
    assert out.returncode != 0 and "This node is not a swarm manager" in out.stderr


def test_plugins_answer_an_honest_error(daemon):
    status, _, body = raw_request(daemon, "GET", "/v1.47/plugins")
    assert status == 501 and "not supported" in json.loads(body)["message"]


def test_body_with_wrong_content_type_is_400(daemon):
    status, _, body = raw_request(daemon, "POST", "/v1.47/containers/create", b'{"Image":"busybox"}',
                                  {"Content-Type": "text/plain"})
    assert status == 400
    assert "unsupported Content-Type header (text/plain): must be 'application/json'" in json.loads(body)["message"]


def test_malformed_json_is_400(daemon):
    status, _, body = raw_request(daemon, "POST", "/v1.47/containers/create", b'{"Image": "busybox",',
                                  {"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["message"].startswith("invalid JSON")


def test_info_netfilter_sysctls(client):
    """(Through the API: the CLI 28 no longer decodes the deprecated BridgeNf* fields.)"""
    info = client.info()
    for key, sysctl in (("IPv4Forwarding", "net/ipv4/ip_forward"),
                        ("BridgeNfIptables", "net/bridge/bridge-nf-call-iptables"),
                        ("BridgeNfIp6tables", "net/bridge/bridge-nf-call-ip6tables")):
        path = f"/proc/sys/{sysctl}"  # (net/bridge/ exists only with br_netfilter loaded)
        on = os.path.exists(path) and open(path).read().strip() == "1"
        assert info[key] is on, key


def test_sdk_ping_version_info(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.47"
    assert client.info()["OSType"] == "linux"
