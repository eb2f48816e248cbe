"""The tar of `docker import URL`: fetched over HTTP(S) with Docker's errors
(moby's remotecontext.GetWithStatusError: 404 and 400 pass through, the rest is 500)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO

from .. import errors

TIMEOUT = 120   # seconds without progress on the connection


def normalize(src: str) -> str:
    """`fromSrc` without a scheme is an http URL, as in Docker."""
    return src if "://" in src else "http://" + src


def open_url(url: str) -> tuple[BinaryIO, int]:
    """The response body and its Content-Length (-1 when the server does not say)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise errors.InvalidParameter(f'Get "{url}": unsupported protocol scheme "{parts.scheme}"')
    try:
        resp = urllib.request.urlopen(url, timeout=TIMEOUT)  # noqa: S310 - the scheme is checked above
    except urllib.error.HTTPError as e:
        with e:
            body = e.read().strip().decode(errors="replace")
        message = f"failed to GET {url} with status {e.code} {e.reason}: {body}"
        cls = {404: errors.NotFound, 400: errors.InvalidParameter}.get(e.code, errors.SystemErr)
        raise cls(message) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(reason, socket.gaierror):
            raise errors.NotFound(f'Get "{url}": dial tcp: lookup {parts.hostname}: no such host') from None
        if isinstance(reason, ConnectionRefusedError):
            raise errors.SystemErr(f'Get "{url}": dial tcp {parts.hostname}:{parts.port or _PORTS[parts.scheme]}: '
                                   "connect: connection refused") from None
        raise errors.SystemErr(f'Get "{url}": {reason}') from None
    length = resp.headers.get("Content-Length")
    return resp, int(length) if length and length.isdigit() else -1


_PORTS = {"http": 80, "https": 443}
