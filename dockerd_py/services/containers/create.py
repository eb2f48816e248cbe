"""Turning a `POST /containers/create` body into a stored container config.

Pure functions: type checks with Docker's messages, and the defaults Docker
stores in Config and HostConfig. (The merge with the image's config is
`oci.merge_image_config`, shared with the spec builder.)
"""

import socket
from typing import Any

from ...errors import InvalidParameter, json_kind
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
# HostConfig's scalar and []string fields with their Go types (Resources is embedded: same path).
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
    **dict.fromkeys(("BlkioWeightDevice", ), "[]*blkiodev.WeightDevice"),
    **dict.fromkeys(("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"),
                    "[]*blkiodev.ThrottleDevice"),
    **dict.fromkeys(("Tmpfs", "Sysctls", "StorageOpt", "Annotations"), "map[string]string"),
}
_OBJECT_GO_TYPES = ("nat.PortMap", "container.RestartPolicy", "container.LogConfig")


def _check_port_bindings(bindings: dict) -> None:
    """nat.PortMap: each port's value a list of {HostIp, HostPort} (or null)."""
    def refuse(value: Any, where: str, go_type: str) -> InvalidParameter:
        return InvalidParameter(f"json: cannot unmarshal {json_kind(value)} into Go struct field {where} "
                                f"of type {go_type}")

    for hosts in bindings.values():
        if hosts is None:
            continue
        if not isinstance(hosts, list):
            raise refuse(hosts, "HostConfig.HostConfig.PortBindings", "[]nat.PortBinding")
        for host in hosts:
            if not isinstance(host, dict):
                raise refuse(host, "HostConfig.HostConfig.PortBindings", "nat.PortBinding")
            for key in ("HostIp", "HostPort"):
                if host.get(key) is not None and not isinstance(host[key], str):
                    raise refuse(host[key], f"PortBinding.HostConfig.PortBindings.{key}", "string")


def _check_host_config_types(host_config: dict) -> None:
    """Go's decoder refuses a value of the wrong JSON type (never a crash further on)."""
    for key, go_type in _HOST_CONFIG_GO_TYPES.items():
        value = host_config.get(key)
        if value is None:
            continue
        if go_type == "bool":
            ok = isinstance(value, bool)
        elif go_type in ("[]string", "map[string]string"):
            items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else None
            ok = isinstance(value, list if go_type[0] == "[" else dict) and all(isinstance(v, str) for v in items)
        elif go_type in _OBJECT_GO_TYPES:
            ok = isinstance(value, dict)
        elif go_type.startswith("[]"):  # of structs: each one an object
            ok = isinstance(value, list)
            bad = next((v for v in value if not isinstance(v, dict)), None) if ok else None
            if bad is not None:
                raise InvalidParameter(f"json: cannot unmarshal {json_kind(bad)} into Go struct "
                                       f"field HostConfig.HostConfig.{key} of type {go_type[2:].lstrip('*')}")
        elif go_type.startswith("["):
            ok = isinstance(value, list)
        elif go_type.startswith(("int", "uint")):
            ok = isinstance(value, int) and not isinstance(value, bool) and (value >= 0 or go_type[0] == "i")
        else:
            ok = isinstance(value, str)
        if not ok:
            got = json_kind(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and go_type[0] in "iu":
                got = f"number {value}"  # a number that does not fit: Go says which
            elif isinstance(value, (list, dict)) and go_type in ("[]string", "map[string]string") and \
                    isinstance(value, list if go_type[0] == "[" else dict):  # the wrong one is an element
                items = value if isinstance(value, list) else list(value.values())
                got = json_kind(next(v for v in items if not isinstance(v, str)))
                go_type = "string"
            raise InvalidParameter(f"json: cannot unmarshal {got} into Go struct field HostConfig.HostConfig.{key} "
                                   f"of type {go_type}")
    if isinstance(host_config.get("PortBindings"), dict):
        _check_port_bindings(host_config["PortBindings"])


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
    _check_host_config_types(host_config)
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


def fill_host_config_defaults(host_config: dict, default_runtime: str) -> dict:
    out = {**_HOST_CONFIG_ZERO, **host_config}
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
    if not out.get("Privileged"):           # create_unix.go: the defaults are stored, inspect shows them
        for key, default in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
            if out.get(key) is None:
                out[key] = list(default)
    return out


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
