"""What POST /containers/create refuses (400), and which options this daemon does not implement.

`OPTIONS` is the one table of every Config/HostConfig field and what we do
with it. To implement an option: change its row (and the spec code).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InvalidParameter
from . import capabilities, mounts, resources
from .defaults import LINUX_MIN_MEMORY
from .host import HostInfo, detect
from .security import SECCOMP_BUILTIN, SECCOMP_UNCONFINED, parse_security_opt

SUPPORTED = "supported"      # turned into the OCI spec here
ELSEWHERE = "elsewhere"      # another layer's job (network, logs, shim, services); validated here if Docker does
IGNORED = "ignored"          # Docker itself ignores it on Linux
UNSUPPORTED = "unsupported"  # not implemented: refused with a 400 when set to a non-default value


@dataclass(frozen=True)
class Option:
    status: str
    note: str = ""
    # For SUPPORTED/ELSEWHERE options implemented only in part: the values we refuse.
    refuse: Callable[[Any], list[str]] | None = None


def _refuse_security_opt(opts: list[str]) -> list[str]:
    out = []
    for opt in opts or []:
        key, _, value = opt.partition("=" if "=" in opt else ":")
        if key == "apparmor" and value != "unconfined":
            out.append(opt)   # no AppArmor support: only "unconfined" is what we do anyway
        elif key == "label" and value != "disable":
            out.append(opt)   # no SELinux labels
    return out


def _refuse_mounts(ms: list[dict]) -> list[str]:
    """--mount: bind, volume (any driver) and tmpfs with all their options; not image, npipe, cluster."""
    return [f"Type={m.get('Type')}" for m in ms or [] if m.get("Type") not in ("bind", "volume", "tmpfs")]


OPTIONS: dict[str, Option] = {
    # HostConfig
    "HostConfig.Binds": Option(SUPPORTED, "host paths here; named volumes resolved to host paths by services.volumes"),
    "HostConfig.ContainerIDFile": Option(IGNORED, "client side"),
    "HostConfig.LogConfig": Option(ELSEWHERE, "log drivers"),
    "HostConfig.NetworkMode": Option(ELSEWHERE, "network service; container:<id> shares a running container's netns"),
    "HostConfig.PortBindings": Option(ELSEWHERE, "network service; syntax validated here"),
    "HostConfig.RestartPolicy": Option(ELSEWHERE, "services; validated here"),
    "HostConfig.AutoRemove": Option(ELSEWHERE, "services"),
    "HostConfig.VolumeDriver": Option(ELSEWHERE, "services.volumes: local or a remote plugin"),
    "HostConfig.VolumesFrom": Option(ELSEWHERE, "services.volumes"),
    "HostConfig.Mounts": Option(ELSEWHERE, "services.volumes: bind, volume (any driver), tmpfs", _refuse_mounts),
    "HostConfig.ConsoleSize": Option(SUPPORTED),
    "HostConfig.Annotations": Option(SUPPORTED),
    "HostConfig.CapAdd": Option(SUPPORTED),
    "HostConfig.CapDrop": Option(SUPPORTED),
    "HostConfig.CgroupnsMode": Option(SUPPORTED),
    "HostConfig.Dns": Option(ELSEWHERE, "network service (resolv.conf)"),
    "HostConfig.DnsOptions": Option(ELSEWHERE, "network service (resolv.conf)"),
    "HostConfig.DnsSearch": Option(ELSEWHERE, "network service (resolv.conf)"),
    "HostConfig.ExtraHosts": Option(ELSEWHERE, "network service (/etc/hosts); syntax validated here"),
    "HostConfig.GroupAdd": Option(SUPPORTED),
    "HostConfig.IpcMode": Option(SUPPORTED, "private, none, host, shareable, container:<id>"),
    "HostConfig.Cgroup": Option(UNSUPPORTED, "cgroup v1 container:<id> sharing"),
    "HostConfig.Links": Option(ELSEWHERE, "network service: /etc/hosts entries and env vars on the default bridge"),
    "HostConfig.OomScoreAdj": Option(SUPPORTED),
    "HostConfig.PidMode": Option(SUPPORTED, "private, host, container:<id>"),
    "HostConfig.Privileged": Option(SUPPORTED),
    "HostConfig.PublishAllPorts": Option(ELSEWHERE, "network service"),
    "HostConfig.ReadonlyRootfs": Option(SUPPORTED),
    "HostConfig.SecurityOpt": Option(SUPPORTED, "seccomp, no-new-privileges, label=disable, apparmor=unconfined",
                                     _refuse_security_opt),
    "HostConfig.StorageOpt": Option(UNSUPPORTED, "rootfs size quota"),
    "HostConfig.Tmpfs": Option(SUPPORTED),
    "HostConfig.UTSMode": Option(SUPPORTED),
    "HostConfig.UsernsMode": Option(SUPPORTED, "only host (no userns-remap)",
                                    lambda v: [v] if v not in (None, "", "host") else []),
    "HostConfig.ShmSize": Option(SUPPORTED),
    "HostConfig.Sysctls": Option(SUPPORTED),
    "HostConfig.Runtime": Option(ELSEWHERE, "services (runtime list)"),
    "HostConfig.Isolation": Option(SUPPORTED, "validated: only default on Linux"),
    "HostConfig.MaskedPaths": Option(SUPPORTED),
    "HostConfig.ReadonlyPaths": Option(SUPPORTED),
    # HostConfig, Resources
    "HostConfig.CpuShares": Option(SUPPORTED),
    "HostConfig.Memory": Option(SUPPORTED),
    "HostConfig.CgroupParent": Option(UNSUPPORTED, "cgroups_path is chosen by the caller"),
    "HostConfig.BlkioWeight": Option(SUPPORTED),
    "HostConfig.BlkioWeightDevice": Option(UNSUPPORTED, "needs device lookup"),
    "HostConfig.BlkioDeviceReadBps": Option(UNSUPPORTED, "needs device lookup"),
    "HostConfig.BlkioDeviceWriteBps": Option(UNSUPPORTED, "needs device lookup"),
    "HostConfig.BlkioDeviceReadIOps": Option(UNSUPPORTED, "needs device lookup"),
    "HostConfig.BlkioDeviceWriteIOps": Option(UNSUPPORTED, "needs device lookup"),
    "HostConfig.CpuPeriod": Option(SUPPORTED),
    "HostConfig.CpuQuota": Option(SUPPORTED),
    "HostConfig.CpuRealtimePeriod": Option(UNSUPPORTED, "cgroup v1 rt scheduling"),
    "HostConfig.CpuRealtimeRuntime": Option(UNSUPPORTED, "cgroup v1 rt scheduling"),
    "HostConfig.CpusetCpus": Option(SUPPORTED),
    "HostConfig.CpusetMems": Option(SUPPORTED),
    "HostConfig.Devices": Option(SUPPORTED),
    "HostConfig.DeviceCgroupRules": Option(SUPPORTED),
    "HostConfig.DeviceRequests": Option(UNSUPPORTED, "GPUs/CDI"),
    "HostConfig.KernelMemory": Option(IGNORED, "API >= 1.42 resets it"),
    "HostConfig.KernelMemoryTCP": Option(UNSUPPORTED, "kmem.tcp (cgroup v1 only)"),
    "HostConfig.MemoryReservation": Option(SUPPORTED),
    "HostConfig.MemorySwap": Option(SUPPORTED),
    "HostConfig.MemorySwappiness": Option(SUPPORTED),
    "HostConfig.NanoCpus": Option(SUPPORTED),
    "HostConfig.OomKillDisable": Option(SUPPORTED),
    "HostConfig.Init": Option(SUPPORTED, "docker-init (tini) bound at /sbin/docker-init by the runner"),
    "HostConfig.PidsLimit": Option(SUPPORTED),
    "HostConfig.Ulimits": Option(SUPPORTED),
    "HostConfig.CpuCount": Option(IGNORED, "Windows only"),
    "HostConfig.CpuPercent": Option(IGNORED, "Windows only"),
    "HostConfig.IOMaximumIOps": Option(SUPPORTED, "validated: Docker refuses it on Linux"),
    "HostConfig.IOMaximumBandwidth": Option(SUPPORTED, "validated: Docker refuses it on Linux"),
    # Config
    "Config.Hostname": Option(SUPPORTED),
    "Config.Domainname": Option(SUPPORTED),
    "Config.User": Option(SUPPORTED),
    "Config.AttachStdin": Option(ELSEWHERE, "shim"),
    "Config.AttachStdout": Option(ELSEWHERE, "shim"),
    "Config.AttachStderr": Option(ELSEWHERE, "shim"),
    "Config.ExposedPorts": Option(ELSEWHERE, "network service"),
    "Config.Tty": Option(SUPPORTED),
    "Config.OpenStdin": Option(ELSEWHERE, "shim"),
    "Config.StdinOnce": Option(ELSEWHERE, "shim"),
    "Config.Env": Option(SUPPORTED),
    "Config.Cmd": Option(SUPPORTED),
    "Config.Healthcheck": Option(ELSEWHERE, "services.containers.health: validated at create, probes run as execs"),
    "Config.ArgsEscaped": Option(IGNORED, "Windows only"),
    "Config.Image": Option(ELSEWHERE, "services"),
    "Config.Volumes": Option(ELSEWHERE, "services.volumes: an anonymous volume each"),
    "Config.WorkingDir": Option(SUPPORTED),
    "Config.Entrypoint": Option(SUPPORTED),
    "Config.NetworkDisabled": Option(SUPPORTED),
    "Config.MacAddress": Option(ELSEWHERE, "network service"),
    "Config.OnBuild": Option(ELSEWHERE, "builder"),
    "Config.Labels": Option(ELSEWHERE, "services"),
    "Config.StopSignal": Option(ELSEWHERE, "services"),
    "Config.StopTimeout": Option(ELSEWHERE, "services"),
    "Config.Shell": Option(ELSEWHERE, "builder"),
}


def _is_default(value: Any) -> bool:
    if value in (None, "", 0, False, "default"):
        return True
    if isinstance(value, dict):
        # A struct (RestartPolicy, LogConfig) is default when its fields are; a map keyed by
        # names or paths (Volumes {"/data": {}}, StorageOpt) is set as soon as it has a key.
        return all(k[:1].isupper() and _is_default(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_default(v) for v in value) if value and isinstance(value[0], int) else not value
    return False


def unsupported_options(host_config: dict | None, config: dict | None = None) -> list[str]:
    """Options set to something this daemon does not implement, e.g. ["HostConfig.VolumesFrom"].

    A field refused only for some values is named with them: "HostConfig.IpcMode=shareable".
    Fields missing from OPTIONS (new API fields) count as unsupported when set.
    """
    out: list[str] = []
    for section, values in (("HostConfig", host_config or {}), ("Config", config or {})):
        for name, value in values.items():
            key = f"{section}.{name}"
            opt = OPTIONS.get(key, Option(UNSUPPORTED))
            if opt.status == UNSUPPORTED and opt.refuse is None:
                if not _is_default(value):
                    out.append(key)
            elif opt.refuse is not None:
                out.extend(f"{key}={bad}" for bad in opt.refuse(value))
    return out


# --- validation: Docker's 400s, in Docker's order -------------------------------------------------

_RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


def _port(text: str) -> bool:
    return text == "" or (text.isdigit() and int(text) <= 65535)


def _port_range(text: str) -> bool:
    if text == "":
        return True
    lo, sep, hi = text.partition("-")
    if not sep:
        return _port(lo) and lo != ""
    return _port(lo) and _port(hi) and lo != "" and hi != "" and int(hi) >= int(lo)


def _validate_ports(bindings: dict | None) -> None:
    for key, binds in (bindings or {}).items():
        port = key.split("/", 1)[0]
        if not _port(port):
            raise InvalidParameter(f'invalid port specification: "{port}"')
        for b in binds or []:
            host_port = ((b or {}).get("HostPort") or "").split("/", 1)[0]
            if not _port_range(host_port):
                raise InvalidParameter(f'invalid port specification: "{(b or {}).get("HostPort")}"')


def _validate_extra_hosts(hosts: list[str] | None) -> None:
    for entry in hosts or []:
        name, sep, ip = entry.partition(":")
        if not sep or not name:
            raise InvalidParameter(f'bad format for add-host: "{entry}"')
        if ip == "host-gateway":
            continue
        try:
            ipaddress.ip_address(ip.strip().removeprefix("[").removesuffix("]"))
        except ValueError:
            raise InvalidParameter(f'invalid IP address in add-host: "{ip}"') from None


def _validate_restart(hc: dict) -> None:
    policy = hc.get("RestartPolicy") or {}
    name, retries = policy.get("Name") or "", policy.get("MaximumRetryCount") or 0
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidParameter(msg + (" and cannot be negative" if retries < 0 else ""))
    elif name == "on-failure":
        if retries < 0:
            raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    elif name != "":
        raise InvalidParameter(f"invalid restart policy: unknown policy '{name}'; use one of "
                               "'no', 'always', 'on-failure', or 'unless-stopped'")


def _parse_cpuset(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise ValueError(f"invalid format: {text}")
        out.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return out


def _format_cpuset(ids: frozenset[int] | set[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5", as the kernel's cpuset.cpus reads (Docker quotes that file)."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def _validate_resources(hc: dict, host: HostInfo) -> None:
    g = lambda k: hc.get(k) or 0  # noqa: E731  (absent and null mean 0)
    memory, swap, reservation = g("Memory"), g("MemorySwap"), g("MemoryReservation")
    if memory != 0 and memory < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if reservation != 0 and reservation < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    nano, period, quota = g("NanoCpus"), g("CpuPeriod"), g("CpuQuota")
    if nano > 0 and period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > host.ncpu * 10**9:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {host.ncpu}.00, "
                               f"as there are only {host.ncpu} CPUs available")
    if g("CpuShares") < 0:
        raise InvalidParameter("shares: invalid argument")
    if period != 0 and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    for key, kind, avail, label in (("CpusetCpus", "cpus", host.cpus, "CPUs"),
                                    ("CpusetMems", "mems", host.mems, "memory nodes")):
        value = hc.get(key) or ""
        if not value:
            continue
        try:
            wanted = _parse_cpuset(value)
        except ValueError as e:
            raise InvalidParameter(f"Invalid value {value} for cpuset {kind}: {e}") from None
        if not wanted <= avail:
            have = _format_cpuset(avail)
            raise InvalidParameter(f"Requested {label} are not available - requested {value}, available: {have}")
    weight = g("BlkioWeight")
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if g("IOMaximumBandwidth") != 0 or g("IOMaximumIOps") != 0:
        raise InvalidParameter("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
    resources.validate_ulimits(hc.get("Ulimits"))
    resources.validate_device_mappings(hc.get("Devices"))
    for rule in hc.get("DeviceCgroupRules") or []:
        resources.device_cgroup_rule(rule)


def _validate_modes(hc: dict) -> None:
    ipc = hc.get("IpcMode") or ""
    if not (ipc in ("", "none", "private", "shareable", "host")
            or (ipc.startswith("container:") and ipc != "container:")):
        raise InvalidParameter(f"invalid IPC mode: {ipc}")
    pid = hc.get("PidMode") or ""
    if not (pid in ("", "host") or (pid.startswith("container:") and pid != "container:")):
        raise InvalidParameter(f"invalid PID mode: {pid}")
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    if (hc.get("UTSMode") or "") not in ("", "host"):
        raise InvalidParameter(f"invalid UTS mode: {hc.get('UTSMode')}")
    oom = hc.get("OomScoreAdj") or 0
    if not -1000 <= oom <= 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    if (hc.get("CgroupnsMode") or "") not in ("", "private", "host"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {hc.get('CgroupnsMode')}")
    if (hc.get("Isolation") or "") not in ("", "default"):
        raise InvalidParameter(f"Invalid isolation: \"{hc.get('Isolation')}\" - linux only supports 'default'")


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _validate_sysctls(hc: dict) -> None:
    """Only namespaced sysctls (the CLI's ValidateSysctl, runc's checks for the host namespaces)."""
    network_host = (hc.get("NetworkMode") or "") == "host"
    for key, value in (hc.get("Sysctls") or {}).items():
        if not isinstance(value, str):
            raise InvalidParameter(f"sysctl '{key}' must have a string value")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if (hc.get("IpcMode") or "") == "host":
                raise InvalidParameter(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        elif key.startswith("net."):
            if network_host:
                raise InvalidParameter(f'sysctl "{key}" not allowed in host network namespace')
        elif key in ("kernel.domainname", "kernel.hostname"):
            if (hc.get("UTSMode") or "") == "host":
                raise InvalidParameter(f'sysctl "{key}" is not allowed as it conflicts with the host UTS namespace')
        else:
            raise InvalidParameter(f"sysctl '{key}={value}' is not allowed")


def _validate_mounts(hc: dict) -> None:
    for bind in hc.get("Binds") or []:
        mounts.parse_bind(bind)
    for m in mounts.tmpfs_mounts(hc.get("Tmpfs")):
        mounts.merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate"] + (m.data.split(",") if m.data else []))
    for key in ("MaskedPaths", "ReadonlyPaths"):
        for p in hc.get(key) or []:
            if not isinstance(p, str) or not p.startswith("/"):
                raise InvalidParameter(f"invalid {key} entry {p!r}: must be an absolute path")


def _validate_security(hc: dict) -> None:
    sec = parse_security_opt(hc.get("SecurityOpt"))
    if sec.seccomp not in ("", SECCOMP_UNCONFINED, SECCOMP_BUILTIN):
        from .seccomp import load_profile
        load_profile(sec.seccomp)


def validate_host_config(host_config: dict | None, config: dict | None = None, *,
                         host: HostInfo | None = None) -> None:
    """Raise InvalidParameter with Docker's text for what `POST /containers/create` refuses."""
    host = host or detect()
    config = config or {}
    hc = host_config or {}
    wd = config.get("WorkingDir") or ""
    if wd and not posixpath.isabs(wd):
        raise InvalidParameter(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    _validate_restart(hc)
    _validate_extra_hosts(hc.get("ExtraHosts"))
    _validate_ports(hc.get("PortBindings"))
    _validate_resources(hc, host)
    _validate_modes(hc)
    _validate_mounts(hc)
    _validate_sysctls(hc)
    for key in ("CapAdd", "CapDrop"):
        try:
            capabilities.normalize(hc.get(key), host)
        except InvalidParameter as e:
            raise InvalidParameter(f"invalid {key}: {e.message}") from None
    _validate_security(hc)


_SWAPPINESS_DISCARDED = ("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
                        "Memory swappiness discarded.")
_OOM_KILL_DISABLE_DISCARDED = "Your kernel does not support OomKillDisable. OomKillDisable discarded."
_SWAP_DISCARDED = ("Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
                   "Memory limited without swap.")
_CPU_PERCENT_DISCARDED = "linux does not support CPU percent. Percent discarded."
_BLKIO_WEIGHT_DISCARDED = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
# what Docker stores instead of a setting it warned about as discarded: {warning: (field, value)}
_RESETS = {_SWAPPINESS_DISCARDED: ("MemorySwappiness", None), _OOM_KILL_DISABLE_DISCARDED: ("OomKillDisable", False),
           _SWAP_DISCARDED: ("MemorySwap", -1), _CPU_PERCENT_DISCARDED: ("CpuPercent", 0),
           _BLKIO_WEIGHT_DISCARDED: ("BlkioWeight", 0)}


def discard_unsupported(host_config: dict, *, host: HostInfo | None = None) -> dict:
    """The HostConfig as Docker stores it at create and update: what `host_config_warnings` reports
    as discarded is reset (verifyPlatformContainerResources, before the defaults are filled in)."""
    hc = dict(host_config)
    for warning in host_config_warnings(host_config, host=host):
        if warning in _RESETS:
            key, value = _RESETS[warning]
            hc[key] = value
    return hc


def host_config_warnings(host_config: dict | None, *, host: HostInfo | None = None) -> list[str]:
    """The Warnings Docker returns from create for settings it accepts but discards."""
    host = host or detect()
    hc = host_config or {}
    out: list[str] = []
    if hc.get("MemorySwappiness") not in (None, -1) and host.cgroup_v2:
        out.append(_SWAPPINESS_DISCARDED)
    if hc.get("OomKillDisable") and host.cgroup_v2:
        out.append(_OOM_KILL_DISABLE_DISCARDED)
    elif hc.get("OomKillDisable") and not hc.get("Memory"):
        out.append("OOM killer is disabled for the container, but no memory limit is set, "
                   "this can result in the system running out of resources.")
    if (hc.get("Memory") or 0) > 0 and hc.get("MemorySwap") != -1 and not host.swap_limit:
        out.append(_SWAP_DISCARDED)
    if (hc.get("CpuPercent") or 0) > 0:
        out.append(_CPU_PERCENT_DISCARDED)
    if (hc.get("BlkioWeight") or 0) > 0 and not host.blkio_weight:
        out.append(_BLKIO_WEIGHT_DISCARDED)
    if (hc.get("NetworkMode") or "") == "host" and hc.get("PortBindings"):
        out.append("Published ports are discarded when using host network mode")
    return out
