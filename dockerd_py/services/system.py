"""`/info` and `/version`: real figures read from the host."""

import os
import platform
import socket
import time

from .. import __version__
from ..api.versioning import ENGINE_VERSION, MAX_API_VERSION, MIN_API_VERSION
from ..distribution.registries import RegistryConfig

_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _kernel() -> str:
    return platform.release()


def _os_name() -> tuple[str, str]:
    values = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        pass
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _sysctl_on(name: str) -> bool:
    """Whether sysctl `name` (``net/ipv4/ip_forward``) is 1; False when it is missing
    (``net/bridge/...`` without the br_netfilter module)."""
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _engine_id(data_root: str) -> str:
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        import uuid
        from ..state import atomic

        value = str(uuid.uuid4())
        atomic.write_bytes(path, value.encode(), mode=0o644)
        return value


class SystemService:
    def __init__(self, config, containers, images, events, plugins) -> None:
        self.config = config
        self.plugins = plugins
        self.containers = containers
        self.images = images
        self.events = events
        self.id = _engine_id(config.data_root)

    def version(self) -> dict:
        os_name, _ = _os_name()
        return {
            "Platform": {"Name": f"dockerd-py {__version__}"},
            "Components": [
                {"Name": "Engine", "Version": ENGINE_VERSION,
                 "Details": {"ApiVersion": MAX_API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                             "Arch": _ARCH.get(platform.machine(), platform.machine()), "Os": "linux",
                             "KernelVersion": _kernel(), "Implementation": f"dockerd-py {__version__}",
                             "PythonVersion": platform.python_version()}},
            ],
            "Version": ENGINE_VERSION, "ApiVersion": MAX_API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "dockerd-py", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
            "Arch": _ARCH.get(platform.machine(), platform.machine()), "KernelVersion": _kernel(),
        }  # BuildTime and Experimental: omitempty in moby's types.Version, and ours are empty and false

    def info(self) -> dict:
        cfg = self.config
        os_name, os_version = _os_name()
        counts = self.containers.counts()
        v1 = cgroup_version() == "1"
        return {
            "ID": self.id, **counts, "Images": len(self.images.list()),
            "Driver": self.images.driver.name, "DriverStatus": [
                ["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"],
                ["Native Overlay Diff", "true"], ["userxattr", "false"]] if self.images.driver.name == "overlay2" else None,
            "Plugins": {"Volume": self.plugins.drivers("volume"), "Network": self.plugins.drivers("network"),
                        "Authorization": None,
                        "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") or not v1,
            "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
            "IPv4Forwarding": _sysctl_on("net/ipv4/ip_forward"),
            "BridgeNfIptables": _sysctl_on("net/bridge/bridge-nf-call-iptables"),
            "BridgeNfIp6tables": _sysctl_on("net/bridge/bridge-nf-call-ip6tables"),
            "Debug": cfg.debug, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": v1,
            "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z",
            "LoggingDriver": cfg.log_driver, "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version(),
            "NEventsListener": self.events.listeners, "KernelVersion": _kernel(), "OperatingSystem": os_name, "OSVersion": os_version,
            "OSType": "linux", "Architecture": platform.machine(), "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": RegistryConfig(cfg.insecure_registries, cfg.registry_mirrors).info(),
            "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "GenericResources": None,
            "DockerRootDir": cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": socket.gethostname(), "Labels": list(cfg.labels), "ExperimentalBuild": False, "ServerVersion": ENGINE_VERSION,
            "Runtimes": {name: {"path": path} for name, path in cfg.runtimes.items()},
            "DefaultRuntime": cfg.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": cfg.live_restore, "Isolation": "", "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": self.containers.defaults.info_security_options(cgroup_v2=not v1),
            # dockerd's order: the platform's (fillPlatformInfo) before the security options'
            "Warnings": [*([] if _sysctl_on("net/ipv4/ip_forward") else ["WARNING: IPv4 forwarding is disabled"]),
                         *self.containers.defaults.info_warnings()],
        }

    def disk_usage(self) -> tuple[dict, list[tuple[object, tuple[int, int]]]]:
        """`docker system df`: (the image part of the reply, [(container, its sizes)]).

        The route adds the volumes; the build cache does not exist in this daemon yet.
        """
        containers = self.containers.all()
        users: dict[str, int] = {}
        for c in containers:
            users[c.image_id] = users.get(c.image_id, 0) + 1
        images = []
        for image in self.images.list():
            summary = self.images.summary(image)
            summary["Containers"] = users.get(image.id, 0)
            summary["SharedSize"] = 0
            images.append(summary)
        usage = {"LayersSize": self.images.layers_size(), "Images": images, "BuildCache": []}
        return usage, [(c, self.containers.sizes(c)) for c in containers]
