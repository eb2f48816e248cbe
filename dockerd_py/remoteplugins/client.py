"""Docker's plugin RPC: ``POST /<Method>`` with a JSON body over HTTP/1.1 (unix or tcp).

As Docker's pkg/plugins client: a call that cannot connect is retried with a
backoff of 1, 2, 4, 8... seconds while the total stays under 30 s; a non-200
answer is an error ``<Method>: <Err>`` (the body's ``Err``, else the body).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlparse

from .discovery import Endpoint

log = logging.getLogger("dockerd_py.remoteplugins")

MIMETYPE = "application/vnd.docker.plugins.v1.2+json"
RETRY_TOTAL = 30.0   # Docker's defaultTimeOut for retries


class PluginError(Exception):
    """A plugin call failed; `status` is the plugin's HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def backoff(retries: int) -> float:
    return float(min(1 << retries, 30))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class PluginClient:
    def __init__(self, endpoint: Endpoint, retry_total: float = RETRY_TOTAL) -> None:
        self.endpoint = endpoint
        self.retry_total = retry_total
        u = urlparse(endpoint.addr)
        self._scheme, self._netloc, self._path = u.scheme, u.netloc, u.path

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "unix":
            return _UnixConnection(self._path, timeout)
        tls = self.endpoint.tls
        if tls is None:
            return http.client.HTTPConnection(self._netloc, timeout=timeout)
        ctx = ssl.create_default_context(cafile=tls.ca_file or None)
        if tls.insecure_skip_verify:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if tls.cert_file:
            ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
        return http.client.HTTPSConnection(self._netloc, timeout=timeout, context=ctx)

    def call(self, method: str, args: Any, timeout: float, retry: bool = True) -> dict:
        """POST /<method> with `args` as JSON; the decoded answer. PluginError on failure."""
        body = b"" if args is None else json.dumps(args).encode()   # no args: no body, as Docker's client
        start, retries = time.monotonic(), 0
        while True:
            conn = self._connection(timeout)
            try:
                conn.request("POST", "/" + method, body=body,
                             headers={"Accept": MIMETYPE, "Content-Type": MIMETYPE, "Host": "localhost"})
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, FileNotFoundError, socket.gaierror) as e:
                conn.close()
                wait = backoff(retries)
                if not retry or time.monotonic() - start + wait > self.retry_total:
                    raise PluginError(f'Post "http://{self._target()}/{method}": {self._dial(e)}') from None
                retries += 1
                log.warning("Unable to connect to plugin: %s/%s: %s, retrying in %ss", self._target(), method,
                            self._dial(e), int(wait))
                time.sleep(wait)
                continue
            except (TimeoutError, socket.timeout):
                conn.close()
                raise PluginError(f'Post "http://{self._target()}/{method}": context deadline exceeded '
                                  "(Client.Timeout exceeded while awaiting headers)") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise PluginError(f'Post "http://{self._target()}/{method}": {_describe(e)}') from None
            conn.close()
            if resp.status != 200:
                try:
                    err = (json.loads(data) or {}).get("Err") or ""
                except (ValueError, AttributeError):
                    err = ""
                raise PluginError(f"{method}: {err or data.decode(errors='replace')}", resp.status)
            try:
                out = json.loads(data) if data.strip() else {}
            except ValueError as e:
                raise PluginError(f"{method}: invalid answer: {e}") from None
            return out if isinstance(out, dict) else {}

    def _dial(self, e: BaseException) -> str:
        """Go's text for a failed connect: dial unix /run/docker/plugins/x.sock: connect: connection refused."""
        where = f"dial unix {self._path}" if self._scheme == "unix" else f"dial tcp {self._netloc}"
        return f"{where}: {_describe(e)}"

    def _target(self) -> str:
        return self._path.replace("/", "%2F") if self._scheme == "unix" else self._netloc


def _describe(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "connect: no such file or directory"
    if isinstance(e, ConnectionRefusedError):
        return "connect: connection refused"
    return str(e) or type(e).__name__
