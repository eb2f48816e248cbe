"""Container records → Docker's ContainerInspect and ContainerSummary JSON."""

import shlex
import time

from ...container_defaults import ContainerDefaults
from ...oci.mounts import is_host_bind, parse_bind
from ...timeutil import rfc3339_to_nano
from ...services.containers import links
from ...services.containers.health import health_text
from ...services.containers.record import Container


def inspect(c: Container, graph_driver: dict, volume_mounts: list[dict], sizes: tuple[int, int] | None = None,
            exec_ids: list[str] | None = None, defaults: ContainerDefaults = ContainerDefaults()) -> dict:
    out = {
        "Id": c.id, "Created": c.created, "Path": c.path, "Args": c.args, "State": c.state.to_json(),
        "Image": c.image_id, "ResolvConfPath": c.etc_path("resolv.conf"), "HostnamePath": c.etc_path("hostname"),
        "HostsPath": c.etc_path("hosts"), "LogPath": c.log_path, "Name": c.name, "RestartCount": c.restart_count,
        "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": exec_ids, "HostConfig": _host_config(c, defaults), "GraphDriver": graph_driver, "Mounts": mounts(c, volume_mounts),
        "Config": c.config, "NetworkSettings": network_settings(c),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    return out


def _host_config(c: Container, defaults: ContainerDefaults) -> dict:
    """HostConfig as Docker shows it: Links are the legacy links graph's (none on a user-defined network);
    Ulimits merged with the daemon's default ulimits."""
    hc = c.host_config
    if hc.get("Links") and not links.registers(hc.get("NetworkMode") or ""):
        hc = {**hc, "Links": None}
    if defaults.ulimits:
        hc = {**hc, "Ulimits": defaults.merged_ulimits(hc.get("Ulimits"))}
    return hc


def mounts(c: Container, volume_mounts: list[dict]) -> list[dict]:
    """Docker's `Mounts`: the host-path binds and tmpfs mounts, then the volumes (as the volume service lists them)."""
    out = []
    for bind in c.host_config.get("Binds") or []:
        if is_host_bind(bind):
            m = parse_bind(bind)
            mode = bind.split(":", 2)[2] if bind.count(":") >= 2 else ""
            out.append({"Type": "bind", "Source": m.source, "Destination": m.destination, "Mode": mode,
                        "RW": m.writable, "Propagation": m.propagation})
    for m in c.host_config.get("Mounts") or []:  # --mount bind / tmpfs (volumes come from the service)
        if m.get("Type") == "bind":
            out.append({"Type": "bind", "Source": m.get("Source", ""), "Destination": m.get("Target", ""),
                        "Mode": "", "RW": not m.get("ReadOnly"),
                        "Propagation": (m.get("BindOptions") or {}).get("Propagation") or "rprivate"})
        elif m.get("Type") == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": m.get("Target", ""), "Mode": "",
                        "RW": not m.get("ReadOnly"), "Propagation": ""})
    return out + volume_mounts


def network_settings(c: Container) -> dict:
    settings = {"Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": False,
                "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": {},
                "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0,
                "IPv6Gateway": "", "MacAddress": "", "Networks": {}}
    settings.update(c.network_settings or {})
    settings["Networks"] = {name: {k: v for k, v in ep.items() if k != "DesiredMacAddress"}  # stored, not shown
                            for name, ep in (settings.get("Networks") or {}).items()}
    bridge = (settings.get("Networks") or {}).get("bridge")
    if bridge:  # the deprecated top-level copy of the default bridge endpoint
        for key in ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress",
                    "IPPrefixLen", "IPv6Gateway", "MacAddress"):
            settings[key] = bridge.get(key, settings[key])
    return settings


def summary(c: Container, volume_mounts: list[dict], sizes: tuple[int, int] | None = None,
            names: list[str] | None = None) -> dict:
    settings = network_settings(c)
    out = {
        "Id": c.id, "Names": names or [c.name], "Image": c.config.get("Image", ""), "ImageID": c.image_id,
        "Command": command(c), "Created": rfc3339_to_nano(c.created) // 10**9, "Ports": ports(settings.get("Ports") or {}),
        "Labels": c.config.get("Labels") or {}, "State": c.state.status, "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "bridge")},
        "NetworkSettings": {"Networks": settings.get("Networks") or {}}, "Mounts": mounts(c, volume_mounts),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    return out


def command(c: Container) -> str:
    argv = [c.path, *c.args]
    return " ".join(shlex.quote(a) if (" " in a or not a) else a for a in argv)


def ports(bindings: dict) -> list[dict]:
    out = []
    for port_proto, hosts in sorted(bindings.items()):
        port, _, proto = port_proto.partition("/")
        if not hosts:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
            continue
        for host in hosts:
            out.append({"IP": host.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(host.get("HostPort") or 0), "Type": proto or "tcp"})
    return out


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _ago(rfc3339: str) -> str:
    return human_duration(time.time() - rfc3339_to_nano(rfc3339) / 1e9)


def status_text(c: Container) -> str:
    st = c.state
    if st.status == "paused":
        return f"Up {_ago(st.started_at)} (Paused)"
    if st.status == "restarting":
        return f"Restarting ({st.exit_code}) {_ago(st.finished_at)} ago"
    if st.status == "running" and st.health is not None:
        return f"Up {_ago(st.started_at)} ({health_text(st.health)})"
    if st.status == "running":
        return f"Up {_ago(st.started_at)}"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "dead":
        return "Dead"
    if st.status == "created" or not c.has_been_started:
        return "Created"
    return f"Exited ({st.exit_code}) {_ago(st.finished_at)} ago"
