"""Assemble config.json in Docker's createSpec order (daemon/oci_linux.go).

common (args, env, cwd, hostname, netns sysctls) -> cgroups -> resources ->
sysctls -> devices -> rlimits -> namespaces -> capabilities -> seccomp ->
mounts -> OOM score -> annotations -> user. Capabilities are final before
seccomp, whose includes/excludes depend on them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidParameter
from . import capabilities, mounts, resources, seccomp
from .defaults import (DEFAULT_NAMESPACES, DEFAULT_PATH_ENV, MASKED_PATHS, NETNS_SYSCTLS, OCI_VERSION,
                       READONLY_PATHS, default_device_rules)
from .host import HostInfo, detect
from .security import SECCOMP_BUILTIN, SECCOMP_UNCONFINED, parse_security_opt
from .user import resolve_user


def _image_section(image_config: dict | None) -> dict:
    """Accept the image's config JSON ({"config": {...}, "rootfs": ...}) or its "config" part."""
    image_config = image_config or {}
    inner = image_config.get("config")
    return inner if isinstance(inner, dict) else image_config


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def merge_image_config(config: dict | None, image_config: dict | None) -> dict:
    """Config completed from the image as Docker does at create (daemon/commit.go merge).

    Idempotent, so it is safe on a Config that was already merged when stored.
    """
    cfg = dict(config or {})
    img = _image_section(image_config)
    if not cfg.get("User"):
        cfg["User"] = img.get("User") or ""
    user_env = list(cfg.get("Env") or [])
    if not user_env:   # the image's, null when it has none (inspect shows "Env": null)
        cfg["Env"] = None if img.get("Env") is None else list(img["Env"])
    else:
        keys = {_env_key(e) for e in user_env}
        cfg["Env"] = user_env + [e for e in img.get("Env") or [] if _env_key(e) not in keys]
    if not cfg.get("Entrypoint"):
        if not cfg.get("Cmd"):
            cfg["Cmd"] = img.get("Cmd")
        if cfg.get("Entrypoint") is None:   # an explicit [] (--entrypoint "") drops the image's
            cfg["Entrypoint"] = img.get("Entrypoint")
    if not cfg.get("WorkingDir"):
        cfg["WorkingDir"] = img.get("WorkingDir") or ""
    for field in ("ExposedPorts", "Volumes", "Labels"):  # unions; the container's entries win
        merged = {**(img.get(field) or {}), **(cfg.get(field) or {})}
        if merged or field == "Labels":
            cfg[field] = merged
        elif field in img or field == "Volumes":   # none at all: the image's (Volumes: null when it has none)
            cfg[field] = img.get(field)
        else:
            cfg.pop(field, None)   # ExposedPorts: left out (omitempty)
    for field in ("StopSignal", "Shell"):
        if not cfg.get(field) and img.get(field):
            cfg[field] = img[field]
    if img.get("Healthcheck"):  # field by field: the container's non-zero values win
        hc = dict(cfg.get("Healthcheck") or {})
        for key, value in img["Healthcheck"].items():
            if not hc.get(key):
                hc[key] = value
        cfg["Healthcheck"] = hc
    return cfg


def process_args(cfg: dict) -> list[str]:
    """Entrypoint + Cmd (already merged with the image's)."""
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not args:
        raise InvalidParameter("No command specified")
    return args


def process_env(cfg: dict, hostname: str) -> list[str]:
    """Daemon defaults (PATH, HOSTNAME, TERM) overridden by Config.Env; "KEY" alone unsets KEY."""
    env = [f"PATH={DEFAULT_PATH_ENV}", f"HOSTNAME={hostname}"]
    if cfg.get("Tty"):
        env.append("TERM=xterm")
    return replace_or_append_env(env, cfg.get("Env") or [])


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: an override replaces the default of its key or is
    appended; "KEY" alone unsets a default KEY."""
    env = list(defaults)
    index = {_env_key(e): i for i, e in enumerate(env)}
    for value in overrides:
        if "=" not in value:
            if value in index:
                env[index[value]] = ""
            continue
        key = _env_key(value)
        if key in index:
            env[index[key]] = value
        else:
            env.append(value)
    return [e for e in env if e != ""]


def container_hostname(container_id: str, cfg: dict, hc: dict, host: HostInfo) -> str:
    if cfg.get("Hostname"):
        return cfg["Hostname"]
    if (hc.get("NetworkMode") or "") == "host" or (hc.get("UTSMode") or "") == "host":
        return host.hostname
    return container_id[:12]


def _namespaces(cfg: dict, hc: dict, netns_path: str | None, host: HostInfo,
                joined: Mapping[str, int]) -> list[dict]:
    ns = {t: {"type": t} for t in DEFAULT_NAMESPACES}
    for kind, pid in joined.items():          # PidMode/IpcMode container:<ref>
        ns[kind]["path"] = f"/proc/{pid}/ns/{kind}"
    if cfg.get("NetworkDisabled"):
        pass                                   # a fresh namespace with loopback only
    elif netns_path:
        ns["network"]["path"] = netns_path
    else:
        del ns["network"]                      # the host's network namespace
    if (hc.get("IpcMode") or "") == "host":
        del ns["ipc"]
    if (hc.get("PidMode") or "") == "host":
        del ns["pid"]
    if (hc.get("UTSMode") or "") == "host":
        del ns["uts"]
    cgroupns = hc.get("CgroupnsMode") or ("private" if host.cgroup_v2 else "host")
    out = list(ns.values())
    if cgroupns == "private":
        out.append({"type": "cgroup"})
    return out


def _seccomp(sec_value: str, privileged: bool, caps: list[str], host: HostInfo) -> dict | None:
    """Docker's default profile unless unconfined; privileged runs without one unless one is given."""
    if sec_value == SECCOMP_UNCONFINED:
        return None
    if privileged and sec_value in ("", SECCOMP_BUILTIN):
        return None
    custom = sec_value not in ("", SECCOMP_BUILTIN)
    if not host.seccomp:
        if custom:
            raise InvalidParameter("seccomp is not enabled in your kernel, cannot run a custom seccomp profile")
        return None
    profile = seccomp.load_profile(sec_value) if custom else seccomp.default_profile()
    return seccomp.to_oci(profile, caps, host)


def build_spec(*, container_id: str, config: dict | None, host_config: dict | None,
               image_config: dict | None, rootfs: str, etc_files: dict[str, str] | None = None,
               netns_path: str | None, cgroups_path: str, host: HostInfo | None = None,
               joined: Mapping[str, int] | None = None, shm_path: str | None = None) -> dict:
    """The OCI config.json Docker Engine 27 would hand to runc for this container.

    `joined`: {"pid"/"ipc": PID of the container whose PID/IPC namespace this one joins}.
    `shm_path`: the host dir bound as /dev/shm (IpcMode shareable or container:<ref>).
    """
    host = host or detect()
    hc = host_config or {}
    cfg = merge_image_config(config, image_config)
    sec = parse_security_opt(hc.get("SecurityOpt"))
    privileged = bool(hc.get("Privileged"))
    uts_host = (hc.get("UTSMode") or "") == "host"

    # common
    hostname = container_hostname(container_id, cfg, hc, host)
    process: dict = {
        "terminal": bool(cfg.get("Tty")),
        "user": {"uid": 0, "gid": 0},
        "args": process_args(cfg),
        "env": process_env(cfg, hostname),
        "cwd": cfg.get("WorkingDir") or "/",
    }
    console = hc.get("ConsoleSize") or [0, 0]
    if cfg.get("Tty") and (console[0] or console[1]):
        process["consoleSize"] = {"height": console[0], "width": console[1]}
    linux: dict = {"sysctl": {}}
    if cfg.get("Domainname"):
        linux["sysctl"]["kernel.domainname"] = cfg["Domainname"]
    network_mode = hc.get("NetworkMode") or ""
    own_netns = cfg.get("NetworkDisabled") or (
        netns_path and network_mode != "host" and not network_mode.startswith("container:"))
    if own_netns:
        for key, value in NETNS_SYSCTLS:
            if key in host.sysctls:
                linux["sysctl"][key] = value
    # cgroups, resources, sysctls, devices
    linux["cgroupsPath"] = cgroups_path
    if privileged:
        device_rules = [{"allow": True, "access": "rwm"}]
        nodes = host.devices()
    else:
        nodes, device_rules = resources.user_devices(hc.get("Devices"), host)
        device_rules = default_device_rules() + device_rules + [
            resources.device_cgroup_rule(r) for r in hc.get("DeviceCgroupRules") or []]
    if nodes:
        linux["devices"] = nodes
    linux["resources"] = resources.build(hc, device_rules, host)
    linux["sysctl"].update(hc.get("Sysctls") or {})
    # rlimits, namespaces, capabilities, seccomp
    rlimits = resources.rlimits(hc)
    if rlimits:
        process["rlimits"] = rlimits
    linux["namespaces"] = _namespaces(cfg, hc, netns_path, host, joined or {})
    caps = capabilities.effective_capabilities(hc, host)
    process["capabilities"] = {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)}
    if sec.no_new_privileges:
        process["noNewPrivileges"] = True
    filt = _seccomp(sec.seccomp, privileged, caps, host)
    if filt is not None:
        linux["seccomp"] = filt
    # mounts, masked/read-only paths
    spec_mounts, propagation = mounts.build(host_config=hc, etc_files=etc_files or {}, rro_error=host.rro_error,
                                              shm_path=shm_path)
    if propagation:
        linux["rootfsPropagation"] = propagation
    if not privileged:
        masked = hc.get("MaskedPaths")
        readonly = hc.get("ReadonlyPaths")
        masked = list(MASKED_PATHS) if masked is None else list(masked)
        readonly = list(READONLY_PATHS) if readonly is None else list(readonly)
        if masked:
            linux["maskedPaths"] = masked
        if readonly:
            linux["readonlyPaths"] = readonly
    # OOM score, user
    process["oomScoreAdj"] = hc.get("OomScoreAdj") or 0
    process["user"] = resolve_user(rootfs, cfg.get("User") or "", hc.get("GroupAdd"))
    if not linux["sysctl"]:
        del linux["sysctl"]

    spec: dict = {"ociVersion": OCI_VERSION, "process": process,
                  "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))}}
    if not uts_host:                       # the host's UTS namespace: the runtime must not set one
        spec["hostname"] = hostname
    spec["mounts"] = spec_mounts
    spec["linux"] = linux
    if hc.get("Annotations"):
        spec["annotations"] = dict(hc["Annotations"])
    return spec
