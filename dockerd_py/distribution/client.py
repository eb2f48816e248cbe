"""A registry HTTP API v2 client over http.client: ping, auth, and streamed requests.

One `Session` talks to one endpoint with one set of credentials during one
operation (pull, push, login). Requests from several threads are fine: each
thread keeps its own keep-alive connection; a blob download gets a connection
of its own, closed when the blob has been read (or abandoned).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from contextlib import contextmanager
from typing import Iterable, Iterator

from .. import __version__
from .auth import AuthConfig, Challenge, basic_header, parse_challenges

USER_AGENT = f"docker/{__version__} (dockerd-py)"
TIMEOUT = 60.0
IDLE_REUSE = 2.0           # seconds a kept-alive connection may idle before a POST/PUT/PATCH
_REDIRECTS = (301, 302, 303, 307, 308)


class TransportError(Exception):
    """The endpoint could not be reached or spoke no HTTP (worth trying the next endpoint)."""


class RegistryError(Exception):
    """An error answer of the registry, as Docker's errcode renders it (`manifest unknown: manifest unknown`)."""

    def __init__(self, status: int, text: str, code: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.code = code


class AuthError(RegistryError):
    """The credentials were refused (bad password, or none where they are needed)."""

    reason = ""     # the bare cause, where Docker shows it without the request (push)


def go_error(method: str, url: str, exc: BaseException) -> str:
    """Go's `Get "url": ...` rendering of a transport failure."""
    verb = method[0] + method[1:].lower()
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(exc, socket.gaierror):
        reason = f"dial tcp: lookup {host.rsplit(':', 1)[0]}: no such host"
    elif isinstance(exc, ConnectionRefusedError):
        reason = f"dial tcp {host}: connect: connection refused"
    elif isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
        reason = "http: server gave HTTP response to HTTPS client"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        reason = f"dial tcp {host}: i/o timeout"
    else:
        reason = str(exc) or type(exc).__name__
    return f'{verb} "{url}": {reason}'


def error_text(status: int, body: bytes, challenges: list[Challenge]) -> tuple[str, str]:
    """HandleErrorResponse: (text, first error code) of a 4xx/5xx answer."""
    for c in challenges:
        if c.scheme == "bearer" and c.params.get("error") in ("invalid_token", "insufficient_scope"):
            code = "UNAUTHORIZED" if c.params["error"] == "invalid_token" else "DENIED"
            default = "authentication required" if code == "UNAUTHORIZED" else "requested access to the resource is denied"
            return f"{code.lower()}: {c.params.get('error_description') or default}", code
    if 400 <= status < 500:
        try:
            errs = json.loads(body).get("errors") or []
        except (ValueError, AttributeError):
            errs = None
        if errs:
            parts = [f"{str(e.get('code', 'UNKNOWN')).lower().replace('_', ' ')}: {e.get('message', '')}"
                     for e in errs if isinstance(e, dict)]
            text = parts[0] if len(parts) == 1 else "errors:\n" + "\n".join(parts) + "\n"
            return text, str(errs[0].get("code", "")) if isinstance(errs[0], dict) else ""
        if status == 401:
            return "unauthorized: authentication required", "UNAUTHORIZED"
        return f"error parsing HTTP {status} response body: {body[:200]!r}", ""
    return f"received unexpected HTTP status: {status} {http.client.responses.get(status, '')}".rstrip(), ""


class Response:
    """A response whose body is either read whole (`body`) or streamed (`read`)."""

    def __init__(self, raw: http.client.HTTPResponse, body: bytes | None,
                 conn: http.client.HTTPConnection | None = None) -> None:
        self.raw = raw
        self.conn = conn
        self.status = raw.status
        self.body = body

    def header(self, name: str) -> str:
        return self.raw.getheader(name) or ""

    def read(self, n: int) -> bytes:
        return self.raw.read(n)


class Session:
    """Requests to one registry endpoint with one identity; tokens cached per scope set."""

    def __init__(self, base: str, auth: AuthConfig, verify_tls: bool = True) -> None:
        self.base = base.rstrip("/")
        parts = urllib.parse.urlsplit(self.base)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.auth = auth
        self.verify_tls = verify_tls
        self.challenges: list[Challenge] = []
        self._tokens: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- connections ----------------------------------------------------------
    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            ctx = ssl.create_default_context()
            if not self.verify_tls:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=ctx)
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT)

    def _pooled(self, idempotent: bool) -> http.client.HTTPConnection:
        """This thread's kept-alive connection; a request that cannot be resent gets a fresh one
        if the kept one idled (the server may have closed it meanwhile)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not idempotent and time.monotonic() - self._local.used > IDLE_REUSE:
            conn.close()
            conn = None
        if conn is None:
            conn = self._local.conn = self._connect(self.scheme, self.netloc)
        self._local.used = time.monotonic()
        return conn

    def url(self, path: str) -> str:
        return self.base + path if path.startswith("/") else path

    def _send(self, conn: http.client.HTTPConnection, method: str, target: str, headers: dict[str, str],
              body: bytes | Iterable[bytes] | None) -> http.client.HTTPResponse:
        headers = {"User-Agent": USER_AGENT, **headers}
        chunked = body is not None and not isinstance(body, (bytes, bytearray, memoryview))
        conn.request(method, target, body=body, headers=headers, encode_chunked=chunked)  # type: ignore[arg-type]
        return conn.getresponse()

    # -- auth -------------------------------------------------------------------
    def ping(self) -> None:
        """GET /v2/ without credentials: learn the challenges (or that none is needed)."""
        resp = self._request("GET", "/v2/", None, {}, None, stream=False)
        self.challenges = parse_challenges(resp.raw.headers.get_all("WWW-Authenticate") or [])

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        with self._lock:
            cached = self._tokens.get(scopes)
        if cached:
            return cached
        realm = challenge.params.get("realm", "")
        if not realm:
            raise RegistryError(401, "unauthorized: the registry's bearer challenge has no realm", "UNAUTHORIZED")
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", s) for s in scopes]
        headers: dict[str, str] = {}
        method, body = "GET", None
        if self.auth.identity_token:
            method = "POST"
            form = [("grant_type", "refresh_token"), ("refresh_token", self.auth.identity_token),
                    ("client_id", "docker")] + query
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            target_url = realm
        else:
            user = self.auth.credentials()[0]
            if user:
                query.append(("account", user))
                headers["Authorization"] = basic_header(self.auth)
            sep = "&" if "?" in realm else "?"
            target_url = realm + (sep + urllib.parse.urlencode(query) if query else "")
        parts = urllib.parse.urlsplit(target_url)
        conn = self._connect(parts.scheme, parts.netloc)
        try:
            target = parts.path + ("?" + parts.query if parts.query else "")
            try:
                resp = self._send(conn, method, target or "/", headers, body)
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                raise TransportError(go_error(method, realm, e)) from e
        finally:
            conn.close()
        if resp.status != 200:
            text, code = error_text(resp.status, data, [])
            cls = AuthError if resp.status in (401, 403) else RegistryError
            raise cls(resp.status, text, code or "UNAUTHORIZED")
        try:
            answer = json.loads(data)
            token = answer.get("token") or answer.get("access_token") or ""
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise AuthError(401, "unauthorized: the token server sent no token", "UNAUTHORIZED")
        with self._lock:
            self._tokens[scopes] = token
        return token

    def _authorization(self, method: str, url: str, scopes: tuple[str, ...]) -> str | None:
        for c in self.challenges:
            if c.scheme == "bearer":
                return "Bearer " + self._token(c, scopes)
        for c in self.challenges:
            if c.scheme == "basic":
                if self.auth.empty:
                    err = AuthError(401, f'{method[0] + method[1:].lower()} "{url}": no basic auth credentials',
                                    "UNAUTHORIZED")
                    err.reason = "no basic auth credentials"
                    raise err
                return basic_header(self.auth)
        return None

    def forget_token(self, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(scopes, None)

    # -- requests ---------------------------------------------------------------
    def _request(self, method: str, path: str, scopes: tuple[str, ...] | None, headers: dict[str, str],
                 body: bytes | Iterable[bytes] | None, stream: bool) -> Response:
        url = self.url(path)
        parts = urllib.parse.urlsplit(url)
        hdrs = dict(headers)
        if scopes is not None:
            authz = self._authorization(method, url, scopes)
            if authz:
                hdrs["Authorization"] = authz
        target = parts.path + ("?" + parts.query if parts.query else "")
        same = (parts.scheme, parts.netloc) == (self.scheme, self.netloc)
        idempotent = method in ("GET", "HEAD")
        for attempt in (0, 1):
            conn = self._pooled(idempotent) if same and not stream else self._connect(parts.scheme, parts.netloc)
            try:
                raw = self._send(conn, method, target, hdrs, body)
                if stream and raw.status < 300:
                    return Response(raw, None, conn)
                data = raw.read()  # b"" for HEAD; reading frees the connection for the next request
                if stream or not same:
                    conn.close()
                return Response(raw, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                if same and not stream:
                    self._local.conn = None
                # a kept-alive connection the server had closed: GET and HEAD are sent once more
                if attempt == 0 and idempotent:
                    continue
                raise TransportError(go_error(method, url, e)) from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if same and not stream:
                    self._local.conn = None
                raise TransportError(go_error(method, url, e)) from e
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, scopes: tuple[str, ...], headers: dict[str, str] | None = None,
                body: bytes | Iterable[bytes] | None = None, ok: tuple[int, ...] = (200,)) -> Response:
        """A request whose answer is read whole; an answer outside `ok` raises RegistryError."""
        resp = self._request(method, path, scopes, headers or {}, body, stream=False)
        if resp.status == 401 and scopes and any(c.scheme == "bearer" for c in self.challenges) and (
                body is None or isinstance(body, (bytes, bytearray))):
            self.forget_token(scopes)  # an expired token: fetch a new one once
            resp = self._request(method, path, scopes, headers or {}, body, stream=False)
        if resp.status not in ok:
            raise self.error(resp)
        return resp

    def error(self, resp: Response) -> RegistryError:
        text, code = error_text(resp.status, resp.body or b"",
                                parse_challenges(resp.raw.headers.get_all("WWW-Authenticate") or []))
        cls = AuthError if resp.status == 401 else RegistryError
        return cls(resp.status, text, code)

    @contextmanager
    def stream(self, path: str, scopes: tuple[str, ...], headers: dict[str, str] | None = None) -> Iterator[Response]:
        """GET a body to read in pieces (redirects followed); the connection is closed afterwards."""
        url, hops = path, 0
        while True:
            resp = self._request("GET", url, scopes if hops == 0 else None, headers or {}, None, stream=True)
            if resp.status in _REDIRECTS and hops < 10:
                url = urllib.parse.urljoin(self.url(url), resp.header("Location"))
                hops += 1
                continue
            break
        if resp.status not in (200, 206):
            raise self.error(resp)
        try:
            yield resp
        finally:
            resp.raw.close()
            if resp.conn is not None:
                resp.conn.close()
