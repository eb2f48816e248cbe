"""Where Docker's legacy (v1) plugins are found: sockets and spec files.

``<sockets>/<name>.sock`` or ``<sockets>/<name>/<name>.sock`` (a unix socket),
else ``<specs>/<name>.spec`` (one URL: ``unix:///path`` or ``tcp://host:port``)
or ``<specs>/<name>.json`` (``{"Name", "Addr", "TLSConfig"}``), each also as
``<specs>/<name>/<name>.<ext>``, in that order, as Docker's LocalRegistry.
The directories are Docker's; ``DOCKERD_PY_PLUGIN_SOCKETS`` and
``DOCKERD_PY_PLUGIN_SPECS`` (colon-separated) replace them, so that a second
daemon (the tests) does not meet the plugins of the host's.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from urllib.parse import urlparse

SOCKETS_DIR = "/run/docker/plugins"
SPECS_DIRS = ("/etc/docker/plugins", "/usr/lib/docker/plugins")


class PluginNotFound(LookupError):
    pass


@dataclass(frozen=True)
class TLSConfig:
    insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class Endpoint:
    name: str
    addr: str                    # unix:///path or tcp://host:port
    tls: TLSConfig | None = None


@dataclass(frozen=True)
class PluginDirs:
    sockets: str = SOCKETS_DIR
    specs: tuple[str, ...] = field(default=SPECS_DIRS)

    @classmethod
    def from_env(cls) -> "PluginDirs":
        sockets = os.environ.get("DOCKERD_PY_PLUGIN_SOCKETS") or SOCKETS_DIR
        specs = os.environ.get("DOCKERD_PY_PLUGIN_SPECS")
        return cls(sockets, tuple(filter(None, specs.split(":"))) if specs is not None else SPECS_DIRS)

    def find(self, name: str) -> Endpoint:
        """The endpoint of plugin `name`; PluginNotFound when no socket or spec names it."""
        for path in _paths(self.sockets, name, ".sock"):
            try:
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    return Endpoint(name, "unix://" + path)
            except OSError:
                continue
        for base in self.specs:
            for path in _paths(base, name, ".spec") + _paths(base, name, ".json"):
                if os.path.exists(path):
                    return _read_json_spec(name, path) if path.endswith(".json") else _read_spec(name, path)
        raise PluginNotFound(f"could not find plugin {name} in v1 plugin registry")

    def scan(self) -> list[str]:
        """Names of every plugin with a socket or a spec file."""
        names: set[str] = set()
        for base, exts in [(self.sockets, (".sock",))] + [(d, (".spec", ".json")) for d in self.specs]:
            try:
                entries = os.listdir(base)
            except OSError:
                continue
            for entry in entries:
                path = os.path.join(base, entry)
                if os.path.isdir(path):
                    names.update(entry for ext in exts if os.path.exists(os.path.join(path, entry + ext)))
                else:
                    names.update(entry[: -len(ext)] for ext in exts if entry.endswith(ext) and len(entry) > len(ext))
        return sorted(names)


def _paths(base: str, name: str, ext: str) -> list[str]:
    return [os.path.join(base, name + ext), os.path.join(base, name, name + ext)]


def _check_addr(addr: str) -> str:
    u = urlparse(addr)
    if not u.scheme:
        raise PluginNotFound("Unknown protocol")
    if u.scheme not in ("unix", "tcp"):
        raise PluginNotFound(f"{u.scheme}: unknown protocol")
    return addr


def _read_spec(name: str, path: str) -> Endpoint:
    with open(path) as f:
        return Endpoint(name, _check_addr(f.read().strip()))


def _read_json_spec(name: str, path: str) -> Endpoint:
    with open(path) as f:
        spec = json.load(f)
    tls = spec.get("TLSConfig") or None
    return Endpoint(name, _check_addr(spec.get("Addr") or ""),
                    TLSConfig(bool(tls.get("InsecureSkipVerify")), tls.get("CAFile", ""), tls.get("CertFile", ""),
                              tls.get("KeyFile", "")) if tls else None)
