"""Daemon-wide defaults for containers, as dockerd has them.

`--default-ulimit`, `--default-shm-size`, `--default-ipc-mode`, `--default-cgroupns-mode`,
`--no-new-privileges`, `--seccomp-profile`, `--log-driver`/`--log-opt` (and `--label`, `--shutdown-timeout`) are checked
at start-up with dockerd's texts: their values' syntax by the flags' types (`parse_ulimit`,
`parse_size`, `parse_label` through goflags), the rest by `check`.

Docker applies the defaults at two moments, and so does this module:
- at create, `fill_host_config` stores ShmSize, IpcMode, CgroupnsMode and LogConfig (inspect shows them);
  and `no_new_privileges_for` gives the container's NoNewPrivileges (config.v2.json);
- at start, `for_spec` hands the spec builder the default ulimits and seccomp profile and that
  NoNewPrivileges, none of which Docker stores in HostConfig (inspect shows the Ulimits merged
  with the defaults: `merged_ulimits`; SecurityOpt stays as the client sent it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from . import goflags
from .config import ConfigError, DaemonConfig
from .oci.resources import ULIMIT_NAMES
from .oci.security import SECCOMP_BUILTIN, SECCOMP_UNCONFINED, parse_security_opt

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")   # go-units RAMInBytes
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_ulimit(text: str) -> dict:
    """go-units ParseUlimit: name=soft[:hard] (hard defaults to soft)."""
    name, sep, limits = text.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in ULIMIT_NAMES:
        raise ValueError(f"invalid ulimit type: {name}")
    values = limits.split(":")
    if len(values) > 2:
        raise ValueError(f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`")
    hard = goflags.parse_int(values[1]) if len(values) == 2 else None
    soft = goflags.parse_int(values[0])
    hard = soft if hard is None else hard
    if hard != -1 and soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def parse_size(text: str) -> int:
    """go-units RAMInBytes (binary units; no negative sizes)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


@dataclass(frozen=True)
class ContainerDefaults:
    ulimits: tuple[dict, ...] = ()      # [{"Name", "Hard", "Soft"}], by name
    shm_size: int = 0                   # 0: Docker's 64 MiB
    ipc_mode: str = ""                  # "": private
    cgroupns_mode: str = ""             # "": private on cgroup v2, host on v1
    no_new_privileges: bool = False
    seccomp_profile: str = SECCOMP_BUILTIN   # builtin, unconfined, or the profile's path
    seccomp_json: str = ""              # a custom profile's text, read at start-up as dockerd does
    log_config: tuple[str, tuple[tuple[str, str], ...]] = ("json-file", ())  # driver, sorted options

    @classmethod
    def from_config(cls, cfg: DaemonConfig) -> "ContainerDefaults":
        """The defaults of a checked config (`check` has read the seccomp profile into it)."""
        return cls(ulimits=tuple(cfg.default_ulimits[n] for n in sorted(cfg.default_ulimits)),
                   shm_size=int(cfg.default_shm_size or 0), ipc_mode=cfg.default_ipc_mode,
                   cgroupns_mode=cfg.default_cgroupns_mode, no_new_privileges=cfg.no_new_privileges,
                   seccomp_profile=cfg.seccomp_profile or SECCOMP_BUILTIN, seccomp_json=cfg.seccomp_json,
                   log_config=(cfg.log_driver, tuple(sorted(cfg.log_opts.items()))))

    def fill_host_config(self, hc: dict) -> dict:
        """The create-time defaults (adaptContainerSettings), where the client left them empty."""
        out = dict(hc)
        if not out.get("ShmSize") and self.shm_size:
            out["ShmSize"] = self.shm_size
        if not out.get("IpcMode") and self.ipc_mode:
            out["IpcMode"] = self.ipc_mode
        if not out.get("CgroupnsMode") and self.cgroupns_mode:
            out["CgroupnsMode"] = self.cgroupns_mode
        out["LogConfig"] = self.merged_log_config(out.get("LogConfig"))
        return out

    def merged_log_config(self, log_config: dict | None) -> dict:
        """mergeAndVerifyLogConfig: no driver is the default one; the default driver's options
        fill the ones the container does not set."""
        driver, options = self.log_config
        own = dict(log_config or {})
        own["Type"] = own.get("Type") or driver
        own["Config"] = {**(dict(options) if own["Type"] == driver else {}), **(own.get("Config") or {})}
        return own

    def merged_ulimits(self, ulimits: list[dict] | None) -> list[dict] | None:
        """The container's ulimits, then the defaults of the names it does not set (mergeUlimits)."""
        if not self.ulimits:
            return ulimits
        own = {u.get("Name") for u in ulimits or []}
        return [*(ulimits or []), *(dict(u) for u in self.ulimits if u["Name"] not in own)]

    def no_new_privileges_for(self, hc: dict) -> bool:
        """What Docker stores at create (config.v2.json NoNewPrivileges): the daemon's default,
        then the container's SecurityOpt. A later daemon default does not change it."""
        return parse_security_opt(["no-new-privileges"] * self.no_new_privileges
                                  + list(hc.get("SecurityOpt") or [])).no_new_privileges

    def for_spec(self, hc: dict, no_new_privileges: bool) -> dict:
        """HostConfig as the spec builder must see it: the default ulimits merged, and the container's
        stored no-new-privileges and the daemon's seccomp profile ahead of its own SecurityOpt
        (which win)."""
        out = dict(hc)
        out["Ulimits"] = self.merged_ulimits(hc.get("Ulimits"))
        own = list(hc.get("SecurityOpt") or [])
        first = []
        if no_new_privileges:
            first.append("no-new-privileges=true")
        has_seccomp = any(o.startswith(("seccomp=", "seccomp:")) for o in own)
        if not has_seccomp and not hc.get("Privileged"):   # privileged: no daemon profile (WithSeccomp)
            if self.seccomp_profile == SECCOMP_UNCONFINED:
                first.append(f"seccomp={SECCOMP_UNCONFINED}")
            elif self.seccomp_json:
                first.append(f"seccomp={self.seccomp_json}")
        if first:
            out["SecurityOpt"] = first + own
        return out

    def info_security_options(self, cgroup_v2: bool) -> list[str]:
        """`docker info` SecurityOptions, in Docker's order (seccomp, cgroupns, no-new-privileges)."""
        out = [f"name=seccomp,profile={self.seccomp_profile}"]
        if (self.cgroupns_mode or ("private" if cgroup_v2 else "host")) == "private":
            out.append("name=cgroupns")
        if self.no_new_privileges:
            out.append("name=no-new-privileges")
        return out

    def info_warnings(self) -> list[str]:
        if self.seccomp_profile != SECCOMP_BUILTIN:
            return ["WARNING: daemon is not using the default seccomp profile"]
        return []


def check(cfg: DaemonConfig, from_flags: set[str], config_file: str | None) -> None:
    """Check the settings as dockerd does, with its messages (daemon.json's sizes and ulimits parsed here).

    `from_flags`: the DaemonConfig fields given as flags (parsed by their argparse types; the rest
    came from daemon.json, of the right JSON types). `config_file`: the daemon.json in use, if any
    (dockerd then prefixes validation errors).
    """
    if "default_ulimits" in from_flags:
        cfg.default_ulimits = {u["Name"]: u for u in cfg.default_ulimits}
    else:
        cfg.default_ulimits = _file_ulimits(cfg.default_ulimits, config_file)
    if "default_shm_size" not in from_flags and cfg.default_shm_size:   # dockerd reads a number as text too
        try:
            cfg.default_shm_size = parse_size(str(cfg.default_shm_size))
        except ValueError as e:
            raise ConfigError(f"unable to configure the Docker daemon with file {config_file}: {e}") from None

    def invalid(message: str) -> ConfigError:
        if config_file:
            message = (f"unable to configure the Docker daemon with file {config_file}: "
                       f"merged configuration validation from file and command line flags failed: {message}")
        return ConfigError(message)

    _check_ipc_mode(cfg.default_ipc_mode, invalid)
    if cfg.default_cgroupns_mode not in ("", "host", "private"):
        raise invalid(f'default cgroup namespace mode ({cfg.default_cgroupns_mode}) is invalid; use "host" or "private"')
    for label in cfg.labels:
        if "=" not in label:
            raise invalid(f"bad attribute format: {label}")
    cfg.labels = conflict_free_labels(cfg.labels)
    _check_log_config(cfg, "log_opts" in from_flags)
    if not cfg.cleanup:   # --cleanup runs no container
        cfg.seccomp_json = read_seccomp_profile(cfg.seccomp_profile)


def _check_log_config(cfg: DaemonConfig, from_flags: bool) -> None:
    """--log-opt KEY=VALUE (a KEY alone: ""), then the driver and its option names as dockerd
    checks them at start-up (their values, like a container's, at each start)."""
    from .errors import InvalidParameter
    from .services.containers import logconfig

    if from_flags:
        cfg.log_opts = dict((opt.split("=", 1) + [""])[:2] for opt in cfg.log_opts)
    try:
        logconfig.validate({"Type": cfg.log_driver, "Config": cfg.log_opts})
    except InvalidParameter as e:
        # NewDaemon's wrap of defaultLogConfig's wrap, as dockerd 27 prints it
        raise ConfigError(f"failed to start daemon: failed to set log opts: failed to set log opts: {e.message}") \
            from None


def read_seccomp_profile(profile: str) -> str:
    """The --seccomp-profile file's text, read once at start-up as dockerd does ("" for builtin and
    unconfined); a file that cannot be read stops the start."""
    if profile in ("", SECCOMP_BUILTIN, SECCOMP_UNCONFINED):
        return ""
    try:
        with open(profile) as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"failed to start daemon: opening seccomp profile ({profile}) failed: "
                          f"open {profile}: {os.strerror(e.errno or 0).lower()}") from None


def parse_label(text: str) -> str:
    if "=" not in text:
        raise ValueError(f"bad attribute format: {text}")
    return text


# daemon.json: the JSON types dockerd's Config takes for these options, and their Go types
FILE_TYPES: goflags.JsonTypes = {
    "default_shm_size": ((int, str), "opts.MemBytes"), "shutdown_timeout": ((int,), "int"),
    "no_new_privileges": ((bool,), "bool"), "live_restore": ((bool,), "bool"), "default_ipc_mode": ((str,), "string"),
    "default_cgroupns_mode": ((str,), "string"), "seccomp_profile": ((str,), "string"), "labels": ((list,), "[]string"),
    "log_driver": ((str,), "string"), "log_opts": ((dict,), "map[string]string"),
}


def _check_ipc_mode(mode: str, invalid) -> None:
    hint = 'use "shareable" or "private"'
    kind, _, donor = mode.partition(":")
    valid = mode in ("", "host", "private", "shareable", "none") or (kind == "container" and donor)
    if not valid:
        raise invalid(f"default IPC mode setting ({mode}) is invalid; {hint}")
    if mode not in ("", "private", "shareable"):
        raise invalid(f'IPC mode "{mode}" is not supported as default value; {hint}')


def _file_ulimits(value, config_file: str | None) -> dict:
    """daemon.json "default-ulimits": {"nofile": {"Name": "nofile", "Hard": N, "Soft": N}, ...}."""
    def bad(detail: str) -> ConfigError:
        return ConfigError(f"unable to configure the Docker daemon with file {config_file}: default-ulimits: {detail}")

    if not isinstance(value, dict):
        raise bad('an object of {"Name", "Soft", "Hard"} by ulimit name is expected')
    out = {}
    for name, u in value.items():
        if not isinstance(u, dict) or not all(isinstance(u.get(k, 0), int) and not isinstance(u.get(k, 0), bool)
                                              for k in ("Soft", "Hard")):
            raise bad(f'{name}: {{"Name", "Soft", "Hard"}} with integer limits is expected')
        ulimit_name = u.get("Name") or name
        if ulimit_name not in ULIMIT_NAMES:
            raise bad(f"invalid ulimit type: {ulimit_name}")
        out[name] = {"Name": ulimit_name, "Hard": u.get("Hard", 0), "Soft": u.get("Soft", 0)}
    return out


def conflict_free_labels(labels: list[str]) -> list[str]:
    """Each key once; one key with two values is refused (dockerd's GetConflictFreeLabels)."""
    seen: dict[str, str] = {}
    for label in labels:
        key, _, value = label.partition("=")
        if key in seen and seen[key] != value:
            raise ConfigError(f"conflict labels for {key}={value} and {key}={seen[key]}")
        seen[key] = value
    return [f"{k}={v}" for k, v in seen.items()]
