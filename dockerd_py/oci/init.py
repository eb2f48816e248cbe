"""`docker run --init`: Docker's docker-init (tini) bound read-only at /sbin/docker-init as PID 1."""

from __future__ import annotations

import os
import shutil

from ..errors import InvalidParameter

IN_CONTAINER_PATH = "/sbin/docker-init"
DEFAULT_BINARY = "docker-init"
# Where Docker looks before $PATH (config.LookupInitPath), then Debian's tini package.
_LIBEXEC_DIRS = ("/usr/local/libexec/docker", "/usr/libexec/docker", "/usr/local/lib/docker", "/usr/lib/docker")
_FALLBACKS = ("/usr/bin/tini-static", "/usr/bin/tini")


def wanted(host_config: dict, daemon_default: bool) -> bool:
    """HostConfig.Init, or the daemon's `init` setting when the container leaves it null."""
    init = host_config.get("Init")
    return bool(daemon_default) if init is None else bool(init)


def lookup(init_path: str = "") -> str:
    """The host path of the init binary: --init-path if given (absolute or looked up), else docker-init."""
    binary = init_path or DEFAULT_BINARY
    if os.path.isabs(binary):
        return binary
    for d in _LIBEXEC_DIRS:
        candidate = os.path.join(d, binary)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(binary)
    if found:
        return os.path.abspath(found)
    if not init_path:
        for candidate in _FALLBACKS:
            if os.access(candidate, os.X_OK):
                return candidate
    raise InvalidParameter(f'exec: "{binary}": executable file not found in $PATH')


def apply(spec: dict, init_binary: str) -> None:
    """Make the init PID 1: it runs the container's command after `--`."""
    spec["process"]["args"] = [IN_CONTAINER_PATH, "--", *spec["process"]["args"]]
    spec["mounts"].append({"destination": IN_CONTAINER_PATH, "type": "bind", "source": init_binary,
                           "options": ["bind", "ro"]})
