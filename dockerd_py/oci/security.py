"""HostConfig.SecurityOpt parsing (daemon/daemon_unix.go parseSecurityOpt)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidParameter
from ..goflags import parse_bool

SECCOMP_UNCONFINED = "unconfined"
SECCOMP_BUILTIN = "builtin"


@dataclass
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str = ""              # "", "unconfined", "builtin" or a profile's JSON text
    apparmor: str = ""
    labels: list[str] = field(default_factory=list)


def parse_security_opt(opts: list[str] | None) -> SecurityOptions:
    out = SecurityOptions()
    for opt in opts or []:
        if opt == "no-new-privileges":
            out.no_new_privileges = True
            continue
        if opt == "disable":
            out.labels.append("disable")
            continue
        # "=" is the separator; ":" is the deprecated one Docker still accepts.
        sep = "=" if "=" in opt else ":" if ":" in opt else None
        if sep is None:
            raise InvalidParameter(f'invalid --security-opt 1: "{opt}"')
        key, _, value = opt.partition(sep)
        if key == "label":
            out.labels.append(value)
        elif key == "apparmor":
            out.apparmor = value
        elif key == "seccomp":
            out.seccomp = value
        elif key == "no-new-privileges":
            try:
                out.no_new_privileges = parse_bool(value)
            except ValueError:
                raise InvalidParameter(f'invalid --security-opt 2: "{opt}"') from None
        else:
            raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
    return out
