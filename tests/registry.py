"""A real registry for tests and benchmarks: Debian's `docker-registry` (distribution 2.8).

`Registry.start(root, auth=False)` runs it on 127.0.0.1:<free port> with its
own config file and filesystem storage under `root`; with `auth=True` it asks
for htpasswd (bcrypt) credentials USER / PASSWORD. `stop()` ends it by PID.
The blob helpers speak the registry API directly, to put there what Docker
would not push (OCI indexes, zstd layers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import requests

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
USER, PASSWORD = "tester", "s3cret-pw"


def available() -> bool:
    return os.access(BINARY, os.X_OK) and os.access(HTPASSWD, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    root: str
    auth: bool = False
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (USER, PASSWORD) if self.auth else None

    def start(self, timeout: float = 20) -> "Registry":
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        self.port = _free_port()
        auth = ""
        if self.auth:
            htpasswd = os.path.join(self.root, "htpasswd")
            subprocess.run([HTPASSWD, "-Bbc", htpasswd, USER, PASSWORD], check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n"
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
