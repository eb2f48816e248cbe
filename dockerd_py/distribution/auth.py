"""Registry credentials: the AuthConfig a client sends, and the challenges a registry answers.

Credentials live only in memory for one operation; nothing here logs them, and
`AuthConfig.__repr__` hides them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AuthConfig:
    """Docker's registry.AuthConfig (what X-Registry-Auth and POST /auth carry)."""

    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    auth: str = field(default="", repr=False)
    server_address: str = ""
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    @classmethod
    def from_dict(cls, data: Any) -> "AuthConfig":
        if not isinstance(data, dict):
            return cls()

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        return cls(text("username"), text("password"), text("auth"), text("serveraddress"),
                   text("identitytoken"), text("registrytoken"))

    def credentials(self) -> tuple[str, str]:
        """(user, password): as given, or from `auth` (base64 "user:password", as in the CLI's config.json)."""
        if (self.username or self.password) or not self.auth:
            return self.username, self.password
        try:
            decoded = base64.b64decode(self.auth + "=" * (-len(self.auth) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        user, _, password = decoded.partition(":")
        return user, password

    @property
    def empty(self) -> bool:
        return not (any(self.credentials()) or self.identity_token or self.registry_token)

    def hmac_key(self) -> bytes:
        """ComputeV2MetadataHMACKey: keys distribution metadata to these credentials, never stores them."""
        fields = {"username": self.username, "password": self.password, "auth": self.auth,
                  "identitytoken": self.identity_token, "registrytoken": self.registry_token}
        text = json.dumps({k: v for k, v in fields.items() if v}, separators=(",", ":"), ensure_ascii=False)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            text = text.replace(ch, esc)  # Go's encoder escapes these
        buf = text.encode()
        return ("sha256:" + hashlib.sha256(buf).hexdigest()).encode()


def decode_header(value: str | None) -> AuthConfig:
    """X-Registry-Auth: base64url JSON (padding optional). Invalid content counts as none, as in Docker."""
    if not value:
        return AuthConfig()
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return AuthConfig.from_dict(json.loads(raw))
    except (binascii.Error, ValueError):
        return AuthConfig()


def decode_config_header(value: str | None) -> dict[str, AuthConfig]:
    """X-Registry-Config (`POST /build`): base64url JSON of server address -> AuthConfig."""
    if not value:
        return {}
    try:
        raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {address: AuthConfig.from_dict(entry) for address, entry in raw.items() if isinstance(entry, dict)}


@dataclass(frozen=True)
class Challenge:
    scheme: str                      # "basic" or "bearer"
    params: dict[str, str]


_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """WWW-Authenticate values -> challenges (`Bearer realm="..",service=".."`, `Basic realm=".."`)."""
    out = []
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        params: dict[str, str] = {}
        for m in _PARAM_RE.finditer(rest):
            value = m.group(2) if m.group(2) is not None else m.group(3)
            params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
        if scheme:
            out.append(Challenge(scheme.lower(), params))
    return out


def basic_header(auth: AuthConfig) -> str:
    user, password = auth.credentials()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return "Basic " + token
