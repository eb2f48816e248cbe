"""The create body's JSON types as Go's encoding/json checks them, with its words:
"json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>", where
<Struct> is the innermost struct's name and <path> the field path from the top (Go >= 1.20).

A value of the wrong type is refused here, before any rule reads it (never a crash further on).
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParameter, json_kind

_INTS = ("int", "int64", "uint16", "uint64", "uint", "fs.FileMode")
# named map types: what they are
_NAMED = {"nat.PortMap": "map[string][]nat.PortBinding", "nat.PortSet": "map[string]struct {}"}
# struct types: (the name Go gives the struct in a path, {field: Go type})
STRUCTS: dict[str, tuple[str, dict[str, str]]] = {
    "container.RestartPolicy": ("RestartPolicy", {"Name": "container.RestartPolicyMode", "MaximumRetryCount": "int"}),
    "container.LogConfig": ("LogConfig", {"Type": "string", "Config": "map[string]string"}),
    "units.Ulimit": ("Ulimit", {"Name": "string", "Hard": "int64", "Soft": "int64"}),
    "container.DeviceMapping": ("DeviceMapping", {"PathOnHost": "string", "PathInContainer": "string",
                                                  "CgroupPermissions": "string"}),
    "nat.PortBinding": ("PortBinding", {"HostIp": "string", "HostPort": "string"}),
    "mount.Mount": ("Mount", {"Type": "mount.Type", "Source": "string", "Target": "string", "ReadOnly": "bool",
                              "Consistency": "mount.Consistency", "BindOptions": "*mount.BindOptions",
                              "VolumeOptions": "*mount.VolumeOptions", "TmpfsOptions": "*mount.TmpfsOptions"}),
    "mount.BindOptions": ("BindOptions", {"Propagation": "mount.Propagation", "NonRecursive": "bool",
                                          "CreateMountpoint": "bool", "ReadOnlyNonRecursive": "bool",
                                          "ReadOnlyForceRecursive": "bool"}),
    "mount.VolumeOptions": ("VolumeOptions", {"NoCopy": "bool", "Labels": "map[string]string", "Subpath": "string",
                                              "DriverConfig": "*mount.Driver"}),
    "mount.Driver": ("Driver", {"Name": "string", "Options": "map[string]string"}),
    "mount.TmpfsOptions": ("TmpfsOptions", {"SizeBytes": "int64", "Mode": "fs.FileMode"}),
    "network.EndpointSettings": ("EndpointSettings", {
        "IPAMConfig": "*network.EndpointIPAMConfig", "Links": "[]string", "Aliases": "[]string",
        "MacAddress": "string", "DriverOpts": "map[string]string", "NetworkID": "string", "EndpointID": "string",
        "Gateway": "string", "IPAddress": "string", "IPPrefixLen": "int", "DNSNames": "[]string"}),
    "network.EndpointIPAMConfig": ("EndpointIPAMConfig", {"IPv4Address": "string", "IPv6Address": "string",
                                                          "LinkLocalIPs": "[]string"}),
    "blkiodev.WeightDevice": ("WeightDevice", {"Path": "string", "Weight": "uint16"}),
    "blkiodev.ThrottleDevice": ("ThrottleDevice", {"Path": "string", "Rate": "uint64"}),
    "container.DeviceRequest": ("DeviceRequest", {"Driver": "string", "Count": "int", "DeviceIDs": "[]string",
                                                  "Capabilities": "[][]string", "Options": "map[string]string"}),
}


def check(value: Any, go_type: str, struct: str, path: str) -> None:
    """Raise Go's error if `value` (JSON-decoded) cannot be a `go_type` at `struct`.`path`; null always can."""
    if value is None:
        return
    go_type = go_type.lstrip("*")
    shape = _NAMED.get(go_type, go_type)
    if shape.startswith("map["):
        if not isinstance(value, dict):
            raise _error(value, struct, path, go_type)
        element = shape[shape.index("]") + 1:]
        for v in value.values():
            check(v, element, struct, path)
    elif shape.startswith("["):  # a slice, or an array ([2]uint)
        if not isinstance(value, list):
            raise _error(value, struct, path, go_type)
        for v in value:
            check(v, shape[shape.index("]") + 1:], struct, path)
    elif shape == "struct {}":
        if not isinstance(value, dict):
            raise _error(value, struct, path, go_type)
    elif shape in STRUCTS:
        if not isinstance(value, dict):
            raise _error(value, struct, path, go_type)
        name, fields = STRUCTS[shape]
        for key, field_type in fields.items():
            check(value.get(key), field_type, name, f"{path}.{key}")
    elif shape == "bool":
        if not isinstance(value, bool):
            raise _error(value, struct, path, go_type)
    elif shape in _INTS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error(value, struct, path, go_type)
        if isinstance(value, float) or (value < 0 and shape not in ("int", "int64")):
            raise _error(value, struct, path, go_type, f"number {value}")  # a number that does not fit
    elif not isinstance(value, str):  # string, and Go's named string types
        raise _error(value, struct, path, go_type)


def _error(value: Any, struct: str, path: str, go_type: str, kind: str = "") -> InvalidParameter:
    return InvalidParameter(f"json: cannot unmarshal {kind or json_kind(value)} into Go struct field "
                            f"{struct}.{path} of type {go_type}")
