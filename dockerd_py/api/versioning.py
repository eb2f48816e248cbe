"""API versions: the `/vX.Y` prefix, the supported range, and version gates.

Every route is registered once, without a prefix; this middleware strips the
prefix and records the requested version, so both forms are served by the
same handler (moby's "registered once, served twice").
"""

import json
import re
from collections.abc import Callable, Iterable

from werkzeug.http import HTTP_STATUS_CODES

from .. import __version__

MAX_API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "27.5.1"
SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux)"
ENVIRON_KEY = "dockerd_py.api_version"

_PREFIX = re.compile(r"^/v([0-9]+(?:\.[0-9]+)*)(/.*)$")


def parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def common_headers() -> list[tuple[str, str]]:
    """Headers of every reply. `Server` is written by gunicorn itself (see server.py)."""
    return [("Api-Version", MAX_API_VERSION), ("Docker-Experimental", "false"), ("Ostype", "linux")]


class VersionMiddleware:
    """Strip `/vX.Y`, check the range, and add Docker's headers to every reply."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        version = MAX_API_VERSION
        match = _PREFIX.match(path)
        if match:
            version, environ["PATH_INFO"] = match.group(1), match.group(2)
            error = _range_error(version)
            if error:
                body = (json.dumps({"message": error}) + "\n").encode()
                start_response("400 Bad Request", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body)))] + common_headers())
                return [body]
        environ[ENVIRON_KEY] = version

        def with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [h for h in common_headers() if h[0].lower() not in present]
            return start_response(_go_status(status), headers, exc_info)

        return self.app(environ, with_headers)


def _go_status(status: str) -> str:
    """Go's status text ("400 Bad Request"): werkzeug writes it in capitals, which docker-py shows."""
    code, _, reason = status.partition(" ")
    text = HTTP_STATUS_CODES.get(int(code)) if code.isdigit() else None
    return f"{code} {text}" if text and reason == text.upper() else status


def _range_error(version: str) -> str | None:
    try:
        requested = parse(version)
    except ValueError:
        return f"invalid API version {version!r}"
    if requested > parse(MAX_API_VERSION):
        return f"client version {version} is too new. Maximum supported API version is {MAX_API_VERSION}"
    if requested < parse(MIN_API_VERSION):
        return (f"client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                "please upgrade your client to a newer version")
    return None


def request_version() -> str:
    from flask import request

    return request.environ.get(ENVIRON_KEY, MAX_API_VERSION)


def gate_image_inspect(out: dict, image_config: dict, version: str) -> dict:
    """Image inspect before API 1.45 also has `Container` and `ContainerConfig` (after `Created`)."""
    if at_least(version, "1.45"):
        return out
    from ..images.changes import go_config

    legacy = {"Container": image_config.get("container") or "",
              "ContainerConfig": go_config(image_config.get("container_config") or {})}
    keys = list(out)
    at = keys.index("Created") + 1 if "Created" in keys else keys.index("Comment") + 1
    return {**{k: out[k] for k in keys[:at]}, **legacy, **{k: out[k] for k in keys[at:]}}


def gate_container_create(body: dict, version: str) -> None:
    """A create body's fields newer than the request's API version: Docker's 400s, or dropped as Docker does."""
    health = body.get("Healthcheck")
    if isinstance(health, dict) and not at_least(version, "1.44"):
        health.pop("StartInterval", None)  # added in API 1.44
    host_config = body.get("HostConfig")
    _gate_mounts(host_config if isinstance(host_config, dict) else None, version)


def read_only_non_recursive(version: str) -> bool:
    """Whether a container created at this API version keeps read-only host binds read-only on top only.

    Read-only binds became recursively read-only with API 1.44; Docker keeps the
    old behaviour for older clients' containers (DefaultReadOnlyNonRecursive).
    """
    return not at_least(version, "1.44")


def gate_container_inspect(out: dict, version: str) -> dict:
    """A container's inspect JSON for the request's API version. Below 1.45 each endpoint
    on a user-defined network lists the short container id and the hostname among its
    Aliases (they moved to DNSNames in 1.45), as Docker's router adds them."""
    if at_least(version, "1.45"):
        return out
    short_id, hostname = out["Id"][:12], (out.get("Config") or {}).get("Hostname") or ""
    for name, ep in ((out.get("NetworkSettings") or {}).get("Networks") or {}).items():
        if name not in ("bridge", "host", "none", "default") and not name.startswith("container:"):
            ep["Aliases"] = list(dict.fromkeys([*(ep.get("Aliases") or []), short_id, hostname]))
    return out


def _gate_mounts(host_config: dict | None, version: str) -> None:
    """HostConfig.Mounts options newer than the request's API version: Docker's 400s and defaults."""
    from ..errors import InvalidParameter

    for m in (host_config or {}).get("Mounts") or []:
        if not isinstance(m, dict):
            continue
        bind = m.get("BindOptions") if isinstance(m.get("BindOptions"), dict) else None
        if not at_least(version, "1.44") and bind and bind.get("ReadOnlyForceRecursive"):
            raise InvalidParameter("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
        if not at_least(version, "1.45") and ((m.get("VolumeOptions") or {}).get("Subpath")):
            raise InvalidParameter("VolumeOptions.Subpath needs API v1.45 or newer")
        if not at_least(version, "1.46") and ((m.get("TmpfsOptions") or {}).get("Options")):
            raise InvalidParameter("TmpfsOptions.Options needs API v1.46 or newer")


__all__ = ["MAX_API_VERSION", "MIN_API_VERSION", "ENGINE_VERSION", "VersionMiddleware", "request_version",
           "at_least", "gate_container_create", "gate_container_inspect", "gate_image_inspect",
           "read_only_non_recursive", "__version__"]
