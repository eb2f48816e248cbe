"""Turning a `POST /containers/create` body into a stored container config.

Pure functions: type checks with Docker's messages, and the defaults Docker
stores in Config and HostConfig. (The merge with the image's config is
`oci.merge_image_config`, shared with the spec builder.)
"""

import socket
from typing import Any

from ...errors import InvalidParameter, json_kind
from . import gotypes
from ...oci.defaults import MASKED_PATHS, READONLY_PATHS
from ...oci import detect_host

# Config fields of the create body and the JSON types they accept.
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "Hostname": (str,), "Domainname": (str,), "User": (str,), "AttachStdin": (bool,), "AttachStdout": (bool,),
    "AttachStderr": (bool,), "ExposedPorts": (dict,), "Tty": (bool,), "OpenStdin": (bool,), "StdinOnce": (bool,),
    "Env": (list,), "Cmd": (list, str), "Healthcheck": (dict,), "ArgsEscaped": (bool,), "Image": (str,),
    "Volumes": (dict,), "WorkingDir": (str,), "Entrypoint": (list, str), "NetworkDisabled": (bool,),
    "MacAddress": (str,), "OnBuild": (list,), "Labels": (dict,), "StopSignal": (str,), "StopTimeout": (int,),
    "Shell": (list,),
}
_GO_TYPES = {str: "string", bool: "bool", dict: "map", list: "[]string", int: "int"}
# HostConfig's fields with their Go types (Resources is embedded: same path), for gotypes.check.
_HOST_CONFIG_GO_TYPES: dict[str, str] = {
    **dict.fromkeys(("Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "KernelMemoryTCP", "NanoCpus",
                     "CpuShares", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount",
                     "CpuPercent", "ShmSize", "MemorySwappiness", "PidsLimit"), "int64"),
    "IOMaximumIOps": "uint64", "IOMaximumBandwidth": "uint64", "OomScoreAdj": "int", "BlkioWeight": "uint16",
    **dict.fromkeys(("Privileged", "PublishAllPorts", "ReadonlyRootfs", "AutoRemove", "OomKillDisable", "Init"),
                    "bool"),
    **dict.fromkeys(("ContainerIDFile", "VolumeDriver", "CgroupParent", "CpusetCpus", "CpusetMems", "Runtime"),
                    "string"),
    **{k: f"container.{k}" for k in ("NetworkMode", "IpcMode", "PidMode", "UTSMode", "UsernsMode", "CgroupnsMode",
                                      "Isolation")},
    "Cgroup": "container.CgroupSpec",
    **dict.fromkeys(("Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd",
                     "Links", "SecurityOpt", "VolumesFrom", "DeviceCgroupRules", "MaskedPaths", "ReadonlyPaths"),
                    "[]string"),
    "PortBindings": "nat.PortMap", "RestartPolicy": "container.RestartPolicy", "LogConfig": "container.LogConfig",
    "Ulimits": "[]*units.Ulimit", "Devices": "[]container.DeviceMapping", "Mounts": "[]mount.Mount",
    "DeviceRequests": "[]container.DeviceRequest", "ConsoleSize": "[2]uint",
    "BlkioWeightDevice": "[]*blkiodev.WeightDevice",
    **dict.fromkeys(("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"),
                    "[]*blkiodev.ThrottleDevice"),
    **dict.fromkeys(("Tmpfs", "Sysctls", "StorageOpt", "Annotations"), "map[string]string"),
}
_CONFIG_MAP_GO_TYPES = {"ExposedPorts": "nat.PortSet", "Volumes": "map[string]struct {}", "Labels": "map[string]string"}


def _type_error(field: str, value: Any, expected: tuple[type, ...]) -> InvalidParameter:
    got = json_kind(value)
    go_type = _CONFIG_MAP_GO_TYPES.get(field, "map") if expected[0] is dict else _GO_TYPES[expected[0]]
    return InvalidParameter(f"json: cannot unmarshal {got} into Go struct field ContainerConfigWrapper.{field} "
                            f"of type {go_type}")


def split_body(body: dict) -> tuple[dict, dict, dict]:
    """The create body → (Config, HostConfig, NetworkingConfig), type-checked."""
    config: dict[str, Any] = {}
    for field, expected in _CONFIG_TYPES.items():
        if field in body and body[field] is not None:
            value = body[field]
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                raise _type_error(field, value, expected)
            if isinstance(value, str) and field in ("Cmd", "Entrypoint"):
                value = [value]
            if field in ("Env", "Cmd", "Entrypoint", "Shell", "OnBuild") and not all(isinstance(v, str) for v in value):
                raise _type_error(field, value, (list,))
            if field in ("ExposedPorts", "Volumes"):
                gotypes.check(value, _CONFIG_MAP_GO_TYPES[field], "ContainerConfigWrapper", field)
            if field == "Labels" and not all(isinstance(v, str) for v in value.values()):
                bad = next(v for v in value.values() if not isinstance(v, str))
                raise _type_error(field, bad, (str,))
            config[field] = value
    host_config = body.get("HostConfig") or {}
    networking = body.get("NetworkingConfig") or {}
    if not isinstance(host_config, dict):
        raise InvalidParameter("json: cannot unmarshal into Go struct field ContainerConfigWrapper.HostConfig")
    if not isinstance(networking, dict):
        raise InvalidParameter("json: cannot unmarshal into Go struct field ContainerConfigWrapper.NetworkingConfig")
    for key, go_type in _HOST_CONFIG_GO_TYPES.items():
        gotypes.check(host_config.get(key), go_type, "HostConfig", f"HostConfig.{key}")
    gotypes.check(networking.get("EndpointsConfig"), "map[string]*network.EndpointSettings", "NetworkingConfig",
                  "NetworkingConfig.EndpointsConfig")
    for env in config.get("Env", []):
        if env.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {env}")
    return config, host_config, networking


def fill_config_defaults(config: dict, container_id: str, image_ref: str, network_mode: str) -> dict:
    """Docker's stored defaults; the hostname is the short ID, or the host's own with --network host."""
    default_hostname = socket.gethostname() if network_mode == "host" else container_id[:12]
    out = {"Hostname": default_hostname, "Domainname": "", "User": "", "AttachStdin": False,
           "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False,
           "Env": None, "Cmd": None, "Image": image_ref, "Volumes": None, "WorkingDir": "", "Entrypoint": None,
           "OnBuild": None, "Labels": {}}
    out.update({k: v for k, v in config.items() if v is not None or k in ("Cmd", "Entrypoint")})
    for key in _CONFIG_OMITTED_EMPTY:
        if key in out and not out[key]:
            del out[key]
    if isinstance(out.get("Healthcheck"), dict):  # HealthConfig: every field omitempty (docker-py sends nulls)
        out["Healthcheck"] = _omit_empty(out["Healthcheck"])
    if not out["Hostname"]:
        out["Hostname"] = default_hostname
    return out


# HostConfig as Go's struct holds it (the CLI 28.2 sends it whole, in this order): a client that
# sends part of it (docker-py) gets every other field's zero value in inspect, as from Docker.
_HOST_CONFIG_ZERO: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": None}, "NetworkMode": "",
    "PortBindings": None, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "", "Dns": None, "DnsOptions": None, "DnsSearch": None, "ExtraHosts": None, "GroupAdd": None,
    "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": 0, "Runtime": "", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
    "BlkioWeight": 0, "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": None,
    "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
}
# Config fields Go leaves out when empty (omitempty)
_CONFIG_OMITTED_EMPTY = ("NetworkDisabled", "MacAddress", "StopSignal", "Shell", "ArgsEscaped")


def _omit_empty(d: dict) -> dict:
    """Go's `omitempty` on a struct's fields: null, false, 0, "" and empty collections are left out."""
    return {k: v for k, v in d.items() if v not in (None, False, 0, "", [], {})}


def fill_host_config_defaults(host_config: dict, default_runtime: str) -> dict:
    out = {**_HOST_CONFIG_ZERO, **host_config}
    if isinstance(out.get("Mounts"), list):  # mount.Mount: every field omitempty (docker-py sends nulls)
        out["Mounts"] = [_omit_empty(m) if isinstance(m, dict) else m for m in out["Mounts"]]
    if out.get("NetworkMode") in (None, "", "default"):
        out["NetworkMode"] = "bridge"
    out.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    if not out["LogConfig"].get("Type"):
        out["LogConfig"] = {"Type": "json-file", "Config": out["LogConfig"].get("Config") or {}}
    if not out.get("Runtime"):
        out["Runtime"] = default_runtime
    out.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if not out["RestartPolicy"].get("Name"):
        out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    out.setdefault("AutoRemove", False)
    out.setdefault("Privileged", False)
    out.setdefault("ShmSize", 67108864)
    if not out.get("ShmSize"):
        out["ShmSize"] = 67108864
    if not out.get("CgroupnsMode"):   # adaptContainerSettings: the CLI sends ""
        out["CgroupnsMode"] = "private" if detect_host().cgroup_v2 else "host"
    if (out.get("Memory") or 0) > 0 and not out.get("MemorySwap"):
        out["MemorySwap"] = 2 * out["Memory"]  # adaptContainerSettings; `docker update --memory` checks it
    if not out.get("IpcMode"):
        out["IpcMode"] = "private"
    if out.get("OomKillDisable") is None:   # adaptContainerSettings
        out["OomKillDisable"] = False
    if out.get("MemorySwappiness") == -1:   # fixMemorySwappiness: the CLI's -1 means unset
        out["MemorySwappiness"] = None
    if (out.get("PidsLimit") or 0) <= 0:    # the create route: 0 and negative mean no limit
        out["PidsLimit"] = None
    if _labels_disabled(out):               # adaptContainerSettings (generateSecurityOpt), SELinux or not
        out["SecurityOpt"] = [*(out.get("SecurityOpt") or []), "label=disable"]
    if not out.get("Privileged"):           # create_unix.go: the defaults are stored, inspect shows them
        for key, default in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
            if out.get(key) is None:
                out[key] = list(default)
    return out


def _labels_disabled(hc: dict) -> bool:
    """Docker stores `label=disable` for a privileged container or one sharing the host's IPC or PID
    namespace, unless the client gave a `label` option of its own."""
    if any(opt.split("=", 1)[0] == "label" for opt in hc.get("SecurityOpt") or []):
        return False
    return bool(hc.get("Privileged")) or hc.get("IpcMode") == "host" or hc.get("PidMode") == "host"


# endpoint settings a container may be created with; the rest is refused by name
_ENDPOINT_FIELDS_ACCEPTED = {"NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                             "GlobalIPv6Address", "GlobalIPv6PrefixLen", "MacAddress", "DriverOpts", "DNSNames",
                             "IPAMConfig", "Aliases", "Links"}


def check_networking_config(networking: dict) -> None:
    """NetworkingConfig.EndpointsConfig: one entry per network; unsupported settings are refused by name."""
    endpoints = networking.get("EndpointsConfig") or {}
    if not isinstance(endpoints, dict):
        raise InvalidParameter("json: cannot unmarshal into Go struct field NetworkingConfig.EndpointsConfig")
    for name, settings in endpoints.items():
        for key, value in (settings or {}).items():
            if value and key not in _ENDPOINT_FIELDS_ACCEPTED:
                raise InvalidParameter(f"not supported by this daemon yet: NetworkingConfig.EndpointsConfig.{name}.{key}")
        ipam_config = (settings or {}).get("IPAMConfig") or {}
        for key in ("LinkLocalIPs",):
            if ipam_config.get(key):
                raise InvalidParameter(f"not supported by this daemon yet: NetworkingConfig.EndpointsConfig.{name}.IPAMConfig.{key}")
