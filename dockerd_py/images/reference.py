"""Image references: parsing and normalisation with Docker's grammar.

`busybox` is the *familiar* form of `docker.io/library/busybox`; references
are matched on their normalised form and shown in their familiar form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import errors

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
ID_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised named reference: `docker.io/library/busybox:latest`."""

    name: str                 # full name, e.g. docker.io/library/busybox
    tag: str | None = None
    digest: str | None = None

    @property
    def familiar_name(self) -> str:
        domain, _, path = self.name.partition("/")
        if domain != DEFAULT_DOMAIN:
            return self.name
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
            return path[len(OFFICIAL_PREFIX):]
        return path

    def familiar(self) -> str:
        """The familiar string: `busybox:latest`, `foo/bar@sha256:...`."""
        out = self.familiar_name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def with_default_tag(self) -> "Reference":
        """TagNameOnly: a bare name gets the tag `latest`."""
        if self.tag is None and self.digest is None:
            return Reference(self.name, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse(s: str) -> Reference:
    m = _REFERENCE_RE.match(s)
    if m is None:
        if not s:
            raise errors.InvalidParameter("invalid reference format: repository name must have at least one component")
        if _REFERENCE_RE.match(s.lower()):
            raise errors.InvalidParameter("invalid reference format: repository name must be lowercase")
        raise errors.InvalidParameter("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_MAX:
        raise errors.InvalidParameter(f"invalid reference format: repository name must not be more than {NAME_MAX} characters")
    if digest is not None and not _DIGEST_RE.match(digest):
        algo = digest.partition(":")[0]
        if algo != "sha256":
            raise errors.InvalidParameter("unsupported digest algorithm")
        raise errors.InvalidParameter("invalid checksum digest format")
    return Reference(name, tag, digest)


def parse_normalized(s: str) -> Reference:
    """ParseNormalizedNamed: `busybox` -> docker.io/library/busybox (no tag added)."""
    if ID_RE.match(s):
        raise errors.InvalidParameter(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(s)
    remote = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote.lower() != remote:
        raise errors.InvalidParameter(
            f"invalid reference format: repository name ({remote}) must be lowercase")
    return _parse(domain + "/" + remainder)


def parse_any(s: str) -> Reference | str:
    """ParseAnyReference: a full id / sha256 digest gives "sha256:<hex>", else a Reference."""
    if ID_RE.match(s):
        return "sha256:" + s
    if _DIGEST_RE.match(s):
        return s
    return parse_normalized(s)


def validate_tag(tag: str) -> None:
    if not _TAG_RE.match(tag):
        raise errors.InvalidParameter("invalid tag format")


def repo_tag(repo: str, tag: str | None = None) -> Reference:
    """RepoTagReference: `repo[:tag]` plus an optional separate tag -> name:tag."""
    ref = parse_normalized(repo)
    if ref.digest is not None:
        raise errors.InvalidParameter("cannot create digest reference")
    if tag:
        validate_tag(tag)
        ref = Reference(ref.name, tag, None)
    return ref.with_default_tag()
