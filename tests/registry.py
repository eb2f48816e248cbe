"""A real registry for tests and benchmarks: Debian's `docker-registry` (distribution 2.8).

`Registry.start(root, auth=False)` runs it on 127.0.0.1:<free port> with its
own config file and filesystem storage under `root`; with `auth=True` it asks
for htpasswd (bcrypt) credentials USER / PASSWORD; with `token=True` it wants
Bearer tokens from a `TokenServer` of this module. `stop()` ends it by PID.
The blob helpers speak the registry API directly, to put there what Docker
would not push (OCI indexes, zstd layers).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import requests

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
USER, PASSWORD = "tester", "s3cret-pw"
SERVICE, ISSUER = "test-registry", "test-token-issuer"


def available() -> bool:
    return all(os.access(p, os.X_OK) for p in (BINARY, HTPASSWD, OPENSSL))


def _free_port(bind: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((bind, 0))
        return s.getsockname()[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The Bearer token flow's other half: a token server signing RS256 JWTs (keys made by openssl).

    USER/PASSWORD get pull and push; anyone gets pull; a wrong password gets a 401.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.key = os.path.join(root, "token.key")
        self.cert = os.path.join(root, "token.crt")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=test-token-issuer"],
                       check=True, capture_output=True)
        der = subprocess.run([OPENSSL, "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.handle(self)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + "." + _b64(sig)

    def handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(req.path).query)
        given = req.headers.get("Authorization", "")
        user = ""
        if given.startswith("Basic "):
            name, _, password = base64.b64decode(given[6:]).decode().partition(":")
            if (name, password) != (USER, PASSWORD):
                body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
                req.send_response(401)
                req.send_header("Content-Type", "application/json")
                req.send_header("Content-Length", str(len(body)))
                req.end_headers()
                req.wfile.write(body)
                return
            user = name
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a == "pull" or user]
            access.append({"type": kind, "name": name, "actions": granted})
        self.requests.append({"user": user, "scopes": query.get("scope", []), "service": query.get("service")})
        now = int(time.time())
        token = self.sign({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                           "iat": now, "jti": os.urandom(8).hex(), "access": access})
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Registry:
    root: str
    auth: bool = False
    token: bool = False       # Bearer tokens from a TokenServer instead of htpasswd
    bind: str = "127.0.0.1"   # another address of this host: a registry that is not insecure by default
    port: int = 0
    proc: subprocess.Popen | None = None
    token_server: TokenServer | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (USER, PASSWORD) if self.auth else None  # direct API use: htpasswd registries only

    def start(self, timeout: float = 20) -> "Registry":
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        self.port = _free_port(self.bind)
        auth = ""
        if self.auth:
            htpasswd = os.path.join(self.root, "htpasswd")
            subprocess.run([HTPASSWD, "-Bbc", htpasswd, USER, PASSWORD], check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
        elif self.token:
            self.token_server = TokenServer(self.root)
            auth = (f"auth:\n  token:\n    realm: {self.token_server.realm}\n    service: {SERVICE}\n"
                    f"    issuer: {ISSUER}\n    rootcertbundle: {self.token_server.cert}\n")
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.root}/data\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n{auth}")
        log = open(os.path.join(self.root, "registry.log"), "ab")
        self.proc = subprocess.Popen([BINARY, "serve", config], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}")
            try:
                requests.get(self.url + "/v2/", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not answer")

    def stop(self) -> None:
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- direct API use ----------------------------------------------------------
    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = requests.post(f"{self.url}/v2/{repo}/blobs/uploads/", auth=self.credentials, timeout=30)
        r.raise_for_status()
        location = r.headers["Location"]
        location = location if location.startswith("http") else self.url + location
        sep = "&" if "?" in location else "?"
        r = requests.put(f"{location}{sep}digest={digest}", data=data, auth=self.credentials, timeout=60,
                         headers={"Content-Type": "application/octet-stream"})
        r.raise_for_status()
        return digest

    def put_manifest(self, repo: str, ref: str, body: dict, media_type: str) -> tuple[str, int]:
        raw = json.dumps(body).encode()
        r = requests.put(f"{self.url}/v2/{repo}/manifests/{ref}", data=raw, auth=self.credentials, timeout=30,
                         headers={"Content-Type": media_type})
        r.raise_for_status()
        return "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)

    def manifest(self, repo: str, ref: str) -> bytes:
        accept = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
        r = requests.get(f"{self.url}/v2/{repo}/manifests/{ref}", auth=self.credentials, timeout=30,
                         headers={"Accept": accept})
        r.raise_for_status()
        return r.content


class CuttingProxy:
    """A TCP proxy to a registry that, when armed, breaks the next download of blob `cut_digest`
    after `cut_after` bytes, or the next blob upload after `cut_upload_after` bytes (one-shot)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut_digest = ""
        self.cut_after = 0
        self.cut_upload_after = 0   # armed when > 0: the next blob upload request breaks after that many bytes
        self.cuts = 0
        self.ranged = 0             # requests that resumed with a Range header
        self.blob_gets: dict[str, int] = {}   # digest -> GET requests seen
        self.slow = 0.0             # seconds of delay per 64 KiB of every blob answer
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        answer = {"limit": 0}                     # a cut of the answer, set by the request side
        threading.Thread(target=self._pump, args=(client, upstream, True, answer), daemon=True).start()
        self._pump(upstream, client, False, answer)

    def _armed(self, request: bytes) -> int:
        """Bytes to let through from the start of this request before breaking it (0: all)."""
        line = request.split(b"\r\n", 1)[0]
        with self._lock:
            if b"\r\nrange: bytes=" in request.lower():
                self.ranged += 1
            if line.startswith(b"GET ") and b"/blobs/sha256:" in line:
                digest = line.split(b"/blobs/", 1)[1].split(b" ", 1)[0].decode()
                self.blob_gets[digest] = self.blob_gets.get(digest, 0) + 1
                if self.slow:
                    return -1 << 62           # no cut, but a slow answer (see _pump)
            if self.cut_digest and line.startswith(b"GET ") and f"/blobs/{self.cut_digest} ".encode() in line:
                self.cut_digest = ""
                self.cuts += 1
                return -self.cut_after            # negative: cut the answer, not the request
            if self.cut_upload_after and line.split(b" ")[0] in (b"PATCH", b"PUT") and b"/blobs/uploads/" in line:
                limit, self.cut_upload_after = self.cut_upload_after, 0
                self.cuts += 1
                return limit
        return 0

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool, answer: dict) -> None:
        """Copy src to dst; on the client side, look at each request (keep-alive: one after another)."""
        left = 0                                  # bytes still allowed before the cut (0: no cut pending)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if requests and not left and data[:8].split(b" ")[0] in (b"GET", b"HEAD", b"PUT", b"PATCH",
                                                                          b"POST", b"DELETE"):
                    limit = self._armed(data)
                    if limit > 0:
                        left = limit
                    elif limit < 0:
                        answer["limit"] = -limit
                if not requests and answer["limit"]:
                    left, answer["limit"] = answer["limit"], 0
                if not requests and self.slow and left > 1 << 61:
                    time.sleep(self.slow * len(data) / 65536)
                if left:
                    if len(data) >= left:
                        dst.sendall(data[:left])
                        break
                    left -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()
