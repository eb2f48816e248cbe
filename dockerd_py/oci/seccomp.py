"""Docker's seccomp profile format -> OCI linux.seccomp (DEFAULTS.md §6).

A profile's syscall groups carry includes/excludes conditions on the
container's bounding capabilities, the native architecture and the kernel
version; they are evaluated here, against the FINAL capability set, so the
runtime gets a plain OCI filter.
"""

from __future__ import annotations

import functools
import json
import os

from ..errors import InvalidParameter
from .host import HostInfo

# GOARCH -> libseccomp's name for the native architecture.
_NATIVE = {
    "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM", "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64",
    "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}

PROFILE_PATH = os.path.join(os.path.dirname(__file__), "seccomp-default.json")


@functools.lru_cache(maxsize=1)
def _default_profile_text() -> str:
    with open(PROFILE_PATH) as f:
        return f.read()


def default_profile() -> dict:
    """Docker 27's default profile, in Docker's format (a fresh copy)."""
    return json.loads(_default_profile_text())


def _kernel(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor.split(".")[0] or 0)
    except ValueError:
        raise InvalidParameter(f"invalid kernel version in seccomp profile: {text!r}") from None


def _keep(group: dict, caps: set[str], host: HostInfo) -> bool:
    inc = group.get("includes") or {}
    exc = group.get("excludes") or {}
    if host.arch in (exc.get("arches") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and _kernel(exc["minKernel"]) <= host.kernel:
        return False
    if inc.get("arches") and host.arch not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and _kernel(inc["minKernel"]) > host.kernel:
        return False
    return True


def _architectures(profile: dict, host: HostInfo) -> list[str]:
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidParameter("both 'architectures' and 'archMap' are specified in the seccomp profile, "
                               "use either 'architectures' or 'archMap'")
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = _NATIVE.get(host.arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            return [native] + list(entry.get("subArchitectures") or [])
    return []


def to_oci(profile: dict, capabilities: list[str], host: HostInfo) -> dict:
    """Translate a profile in Docker's format for a container with these bounding caps."""
    if not profile.get("defaultAction"):
        raise InvalidParameter("seccomp profile has no defaultAction")
    out: dict = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    archs = _architectures(profile, host)
    if archs:
        out["architectures"] = archs
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    caps = set(capabilities)
    syscalls = []
    for group in profile.get("syscalls") or []:
        if group.get("name") and group.get("names"):
            raise InvalidParameter("use either 'name' or 'names'")
        if not _keep(group, caps, host):
            continue
        call: dict = {"names": list(group.get("names") or [group.get("name")]), "action": group["action"]}
        if group.get("errnoRet") is not None:
            call["errnoRet"] = group["errnoRet"]
        if group.get("args"):
            call["args"] = [{k: v for k, v in a.items() if k in ("index", "value", "valueTwo", "op")
                             and not (k == "valueTwo" and not v)} for a in group["args"]]
        syscalls.append(call)
    out["syscalls"] = syscalls
    return out


def load_profile(text: str) -> dict:
    """A profile given as JSON text (--security-opt seccomp=<file> sends the file's content)."""
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidParameter(f"decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidParameter("decoding seccomp profile failed: not a JSON object")
    return profile
