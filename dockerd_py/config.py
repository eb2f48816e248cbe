"""Daemon configuration: command-line flags merged with daemon.json.

Keys follow Docker's daemon.json where Docker has one. A key given both as a
flag and in the file is an error, as in dockerd.
"""

import argparse
import ipaddress
import json
import os
from dataclasses import dataclass, field

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
from .launchers import RUNTIME_NAME as BUILTIN_RUNTIME, runtime_launcher_path
from .images.graphdriver import SUPPORTED as STORAGE_DRIVERS
from . import bridgeconfig, goflags
from .bridgeconfig import BridgeSettings


class ConfigError(Exception):
    """The configuration cannot be used; the message is shown to the operator."""


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=lambda: [DEFAULT_SOCKET])
    data_root: str = "/var/lib/dockerd-py"
    exec_root: str = "/run/dockerd-py"
    pidfile: str = "/var/run/dockerd-py.pid"
    log_level: str = "info"
    debug: bool = False
    default_runtime: str = BUILTIN_RUNTIME
    runtimes: dict[str, str] = field(default_factory=dict)  # name -> path
    bridge: str = "docker0"
    bip: str = "172.17.0.1/16"
    storage_driver: str = "overlay2"  # images/graphdriver.py SUPPORTED
    ipv6: bool = False        # IPv6 on the default bridge, in --fixed-cidr-v6
    fixed_cidr_v6: str = ""
    cgroup_parent: str = "/docker"
    default_address_pools: list = field(default_factory=list)  # [{"base": CIDR, "size": N}]; [] = Docker's
    group: str = ""  # group owning the unix socket; "" keeps root's
    cleanup: bool = False  # --cleanup: tidy the host instead of serving
    init: bool = False  # run docker-init in every container whose HostConfig.Init is null
    init_path: str = ""  # the docker-init binary; "" looks it up as Docker does
    insecure_registries: list[str] = field(default_factory=list)  # host[:port] or CIDR (127.0.0.0/8 always)
    registry_mirrors: list[str] = field(default_factory=list)     # Docker Hub mirrors, http(s) URLs
    dns: list[str] = field(default_factory=list)          # containers' defaults for --dns, --dns-search,
    dns_search: list[str] = field(default_factory=list)   # --dns-option (each used when a container has none)
    dns_opts: list[str] = field(default_factory=list)
    icc: bool = True          # the default bridge and the bridge driver: see bridgeconfig
    ip: str = "0.0.0.0"
    mtu: int = 1500
    fixed_cidr: str = ""
    ip_masq: bool = True
    iptables: bool = True
    ip_forward: bool = True
    default_gateway: str = ""
    default_bridge: BridgeSettings | None = None  # what those mean, set by load()
    # containers' defaults and the daemon's own options of container_defaults.py (dockerd's names)
    default_ulimits: dict = field(default_factory=dict)  # name -> {"Name", "Hard", "Soft"}
    default_shm_size: int = 0        # bytes (daemon.json may say "64M"); 0: Docker's 64 MiB
    default_ipc_mode: str = "private"
    default_cgroupns_mode: str = ""  # "": private on cgroup v2, host on v1
    no_new_privileges: bool = False
    seccomp_profile: str = ""        # "" / "builtin", "unconfined" or a profile's path
    seccomp_json: str = ""           # that profile's text, read by load() (not for --cleanup)
    labels: list[str] = field(default_factory=list)
    shutdown_timeout: int = 15       # seconds the daemon gives its containers to stop at shutdown
    live_restore: bool = True        # containers keep running while the daemon is down (Docker's default: false)
    log_driver: str = "json-file"    # containers' default LogConfig (--log-driver / --log-opt, log-driver / log-opts)
    log_opts: dict = field(default_factory=dict)

    @property
    def level_name(self) -> str:
        """The log level in Python's (and gunicorn's) words: dockerd says warn and fatal."""
        level = "debug" if self.debug else self.log_level
        return {"warn": "warning", "fatal": "critical"}.get(level, level)


# flag dest -> daemon.json key (Docker's names)
_FILE_KEYS = {
    "hosts": "hosts",
    "data_root": "data-root",
    "exec_root": "exec-root",
    "pidfile": "pidfile",
    "log_level": "log-level",
    "debug": "debug",
    "default_runtime": "default-runtime",
    "bridge": "bridge",
    "bip": "bip",
    "storage_driver": "storage-driver",
    "ipv6": "ipv6",
    "fixed_cidr_v6": "fixed-cidr-v6",
    "cgroup_parent": "cgroup-parent",
    "group": "group",
    "init": "init",
    "init_path": "init-path",
    "default_address_pools": "default-address-pools",
    "insecure_registries": "insecure-registries",
    "registry_mirrors": "registry-mirrors",
    "dns": "dns",
    "dns_search": "dns-search",
    "dns_opts": "dns-opts",
    "icc": "icc",
    "ip": "ip",
    "mtu": "mtu",
    "fixed_cidr": "fixed-cidr",
    "default_gateway": "default-gateway",
    "ip_masq": "ip-masq",
    "iptables": "iptables",
    "ip_forward": "ip-forward",
    "default_ulimits": "default-ulimits",
    "default_shm_size": "default-shm-size",
    "default_ipc_mode": "default-ipc-mode",
    "default_cgroupns_mode": "default-cgroupns-mode",
    "no_new_privileges": "no-new-privileges",
    "seccomp_profile": "seccomp-profile",
    "labels": "labels",
    "shutdown_timeout": "shutdown-timeout",
    "live_restore": "live-restore",
    "log_driver": "log-driver",
    "log_opts": "log-opts",
}


def build_parser() -> argparse.ArgumentParser:
    from .container_defaults import parse_label, parse_size, parse_ulimit

    p = goflags.DockerdArgumentParser(prog="dockerd-py", description="A Docker Engine daemon written in Python")
    p.add_argument("-H", "--host", dest="hosts", action="append", help="daemon socket(s) to listen on (unix://, tcp://, fd://)")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--exec-root", dest="exec_root")
    p.add_argument("-p", "--pidfile", dest="pidfile")
    p.add_argument("--config-file", dest="config_file", default="/etc/dockerd-py/daemon.json")
    p.add_argument("-l", "--log-level", dest="log_level", choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("-D", "--debug", dest="debug", action="store_const", const=True)
    p.add_argument("--default-runtime", dest="default_runtime")
    p.add_argument("--add-runtime", dest="add_runtime", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("-b", "--bridge", dest="bridge")
    p.add_argument("--bip", dest="bip")
    p.add_argument("-s", "--storage-driver", dest="storage_driver")
    p.add_argument("--ipv6", dest="ipv6", action="store_const", const=True, help="IPv6 on the default bridge")
    p.add_argument("--fixed-cidr-v6", dest="fixed_cidr_v6", metavar="CIDR", help="the default bridge's IPv6 subnet")
    p.add_argument("--cgroup-parent", dest="cgroup_parent")
    p.add_argument("--default-address-pool", dest="default_address_pools", action="append",
                   metavar="base=CIDR,size=N", help="where networks without --subnet get one (repeatable)")
    p.add_argument("-G", "--group", dest="group")
    p.add_argument("--init", dest="init", action="store_const", const=True)
    p.add_argument("--init-path", dest="init_path")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append", metavar="HOST[:PORT]|CIDR")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append", metavar="URL")
    p.add_argument("--dns", dest="dns", action="append", metavar="IP", help="DNS server for containers")
    p.add_argument("--dns-search", dest="dns_search", action="append", metavar="DOMAIN")
    p.add_argument("--dns-opt", dest="dns_opts", action="append", metavar="OPTION")
    for flag, what in (("--icc", "inter-container communication on the default bridge"),
                       ("--ip-masq", "masquerading of the default bridge"), ("--iptables", "netfilter rules"),
                       ("--ip-forward", "net.ipv4.ip_forward=1")):
        goflags.add_bool_flag(p, flag, help=f"{what} (default true; {flag}=false)")
    p.add_argument("--ip", dest="ip", type=goflags.flag_type("--ip", goflags.parse_ip),
                   help="host IP of -p without one (default bridge)")
    p.add_argument("--mtu", dest="mtu", type=goflags.flag_type("--mtu", goflags.parse_int), help="the default bridge's MTU")
    p.add_argument("--fixed-cidr", dest="fixed_cidr", metavar="CIDR", help="the default bridge's addresses, in --bip")
    p.add_argument("--default-gateway", dest="default_gateway", metavar="IP",
                   type=goflags.flag_type("--default-gateway", goflags.parse_ip),
                   help="the default bridge's containers' default route")
    p.add_argument("--default-ulimit", dest="default_ulimits", action="append", metavar="NAME=SOFT[:HARD]",
                   type=goflags.flag_type("--default-ulimit", parse_ulimit),
                   help="ulimit for containers that set none of that name (repeatable)")
    p.add_argument("--default-shm-size", dest="default_shm_size", metavar="SIZE",
                   type=goflags.flag_type("--default-shm-size", parse_size), help="containers' default /dev/shm size")
    p.add_argument("--default-ipc-mode", dest="default_ipc_mode", metavar="private|shareable")
    p.add_argument("--default-cgroupns-mode", dest="default_cgroupns_mode", metavar="host|private")
    goflags.add_bool_flag(p, "--no-new-privileges", help="no-new-privileges for containers unless they say otherwise")
    p.add_argument("--seccomp-profile", dest="seccomp_profile", metavar="PATH|unconfined",
                   help="containers' default seccomp profile")
    p.add_argument("--label", dest="labels", action="append", metavar="KEY=VALUE",
                   type=goflags.flag_type("--label", parse_label), help="daemon label (repeatable)")
    p.add_argument("--shutdown-timeout", dest="shutdown_timeout", metavar="SECONDS",
                   type=goflags.flag_type("--shutdown-timeout", goflags.parse_int),
                   help="how long containers get to stop when the daemon shuts down (default 15)")
    goflags.add_bool_flag(p, "--live-restore", help="keep containers running while the daemon is down "
                                                    "(default true; --live-restore=false: stop them at shutdown)")
    p.add_argument("--log-driver", dest="log_driver", metavar="DRIVER", help="containers' default log driver")
    p.add_argument("--log-opt", dest="log_opts", action="append", metavar="KEY=VALUE",
                   help="the default log driver's options (repeatable)")
    p.add_argument("-v", "--version", action="store_true")
    p.add_argument("--cleanup", action="store_true",
                   help="remove what a stopped daemon with these settings left on the host, then exit")
    return p


def load(argv: list[str] | None = None) -> DaemonConfig:
    args = build_parser().parse_args(argv)
    if args.version:
        from . import __version__
        print(f"dockerd-py version {__version__}")
        raise SystemExit(0)
    cfg = DaemonConfig()
    file_values = _read_file(args.config_file)
    both = [key for dest, key in _FILE_KEYS.items() if getattr(args, dest) is not None and key in file_values]
    if both:
        raise ConfigError("the following directives are specified both as a flag and in the configuration file: "
                          + ", ".join(f"{k}: (from flag: {getattr(args, _dest(k))}, from file: {file_values[k]})" for k in both))
    from_file = {dest: file_values[key] for dest, key in _FILE_KEYS.items()
                 if getattr(args, dest) is None and key in file_values}
    _check_file_types(from_file, args.config_file)
    for dest in _FILE_KEYS:
        value = getattr(args, dest)
        if value is None:
            value = from_file.get(dest)
        if value is not None:
            setattr(cfg, dest, value)
    if cfg.debug:
        cfg.log_level = "debug"
    _check_pools(cfg.default_address_pools)
    _check_exec_root(cfg.exec_root)
    if cfg.storage_driver not in STORAGE_DRIVERS:
        raise ConfigError(f"error initializing graphdriver: driver not supported: {cfg.storage_driver}")
    _check_registries(cfg)
    _check_dns(cfg)
    try:
        cfg.default_bridge = bridgeconfig.resolve(cfg, bip_given=args.bip is not None or "bip" in file_values,
                                                  bridge_given=bool(args.bridge or file_values.get("bridge")))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    cfg.cleanup = args.cleanup
    _check_container_defaults(cfg, args)
    cfg.runtimes = _runtimes(file_values.get("runtimes", {}), args.add_runtime, runtime_launcher_path(cfg.exec_root))
    if cfg.default_runtime not in cfg.runtimes:
        raise ConfigError(f"default runtime {cfg.default_runtime} is not a configured runtime")
    return cfg


# the longest unix socket below the exec-root: containers/<64-hex id>/console.sock
_LONGEST_SOCKET_SUFFIX = len("/containers/") + 64 + len("/console.sock")
_SUN_PATH_MAX = 107


def _check_exec_root(exec_root: str) -> None:
    longest = len(os.path.abspath(exec_root)) + _LONGEST_SOCKET_SUFFIX
    if longest > _SUN_PATH_MAX:
        raise ConfigError(f"exec-root {exec_root} is too long: the unix sockets below it would need {longest} bytes "
                          f"(at most {_SUN_PATH_MAX}); use a path of at most {_SUN_PATH_MAX - _LONGEST_SOCKET_SUFFIX} characters")


def _check_pools(pools: list) -> None:
    from .services.ipam import parse_pool

    if not isinstance(pools, list):
        raise ConfigError("default-address-pools: a list of {\"base\": CIDR, \"size\": N} is expected")
    for pool in pools:
        try:
            parse_pool(pool)
        except (ValueError, AttributeError) as e:
            raise ConfigError(str(e)) from None


def _check_string_lists(cfg: DaemonConfig, *keys: str) -> None:
    for key in keys:
        value = getattr(cfg, key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{_FILE_KEYS[key]} must be a list of strings")


def _check_dns(cfg: DaemonConfig) -> None:
    _check_string_lists(cfg, "dns", "dns_search", "dns_opts")
    for server in cfg.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ConfigError(f"{server} is not an ip address") from None


def _check_file_types(from_file: dict, config_file: str) -> None:
    """daemon.json values of a JSON type dockerd's Config does not take there (the options whose
    types matter beyond a string: those of the default bridge and of the containers' defaults)."""
    from . import container_defaults

    try:
        goflags.check_json_types(from_file, {**bridgeconfig.FILE_TYPES, **container_defaults.FILE_TYPES},
                                 _FILE_KEYS, config_file)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_container_defaults(cfg: DaemonConfig, args: argparse.Namespace) -> None:
    from . import container_defaults

    container_defaults.check(cfg, {dest for dest in _FILE_KEYS if getattr(args, dest) is not None},
                             args.config_file if os.path.exists(args.config_file) else None)


def _check_registries(cfg: DaemonConfig) -> None:
    from .distribution.registries import RegistryConfig

    _check_string_lists(cfg, "insecure_registries", "registry_mirrors")
    try:
        RegistryConfig(cfg.insecure_registries, cfg.registry_mirrors)
    except Exception as e:  # an invalid CIDR or mirror URL
        raise ConfigError(str(getattr(e, "message", e))) from e


def _dest(key: str) -> str:
    return next(d for d, k in _FILE_KEYS.items() if k == key)


def _read_file(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            values = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"unable to configure the Docker daemon with file {path}: {e}") from e
    if not isinstance(values, dict):
        raise ConfigError(f"unable to configure the Docker daemon with file {path}: not a JSON object")
    unknown = set(values) - set(_FILE_KEYS.values()) - {"runtimes"}
    if unknown:
        raise ConfigError(f"the following directives don't match any configuration option: {', '.join(sorted(unknown))}")
    return values


def _runtimes(from_file: dict, from_flags: list[str], builtin_path: str) -> dict[str, str]:
    runtimes: dict[str, str] = {BUILTIN_RUNTIME: builtin_path}
    for name, spec in from_file.items():
        path = spec.get("path") if isinstance(spec, dict) else None
        if not path:
            raise ConfigError(f"runtime {name}: a path is required")
        runtimes[name] = path
    for item in from_flags:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"invalid runtime {item!r}: expected NAME=PATH")
        if name in runtimes and name != BUILTIN_RUNTIME:
            raise ConfigError(f"runtime name '{name}' is already in use")
        runtimes[name] = path
    return runtimes
