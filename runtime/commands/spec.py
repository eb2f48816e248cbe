"""spec: write runc's starter config.json into the bundle (``--rootless`` variant).

The document is runc's, field for field and in Go's field order, apart from
ociVersion (ours). Like runc: tab indentation, no final newline, and an
existing config.json is never overwritten.
"""

from __future__ import annotations

import os

from .. import OCI_VERSION, jsonio
from ..cgroups.manager import is_v2
from ..errors import RuntimeErr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..cli import Args

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec() -> dict[str, Any]:
    spec = _starter_spec()
    if is_v2():  # as runc: a cgroup namespace where the host is pure cgroup v2
        spec["linux"]["namespaces"].append({"type": "cgroup"})
    return spec


def _starter_spec() -> dict[str, Any]:
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def to_rootless(spec: dict[str, Any]) -> dict[str, Any]:
    """runc's specconv.ToRootless: a user namespace mapping us to root, no
    network namespace, /sys bound from the host, no gid= on devpts, no resources."""
    linux = spec["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    namespaces.append({"type": "user"})
    mappings = {
        "uidMappings": [{"containerID": 0, "hostID": os.geteuid(), "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": os.getegid(), "size": 1}],
    }
    rest = {k: v for k, v in linux.items() if k != "resources"}
    rest["namespaces"] = namespaces
    spec["linux"] = {**mappings, **rest}
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys":
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        elif m.get("options"):
            m = {**m, "options": [o for o in m["options"] if not o.startswith("gid=")]}
        mounts.append(m)
    spec["mounts"] = mounts
    return spec


def run(args: Args) -> int:
    spec = default_spec()
    if args.spec_rootless:
        spec = to_rootless(spec)
    if args.bundle:
        try:
            os.chdir(args.bundle)
        except OSError as e:
            raise RuntimeErr(f"chdir {args.bundle}: {e.strerror.lower()}") from None
    if os.path.exists("config.json"):
        raise RuntimeErr("File config.json exists. Remove it first")
    data = jsonio.dumps_indent(spec, "\t").encode()
    fd = os.open("config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return 0
