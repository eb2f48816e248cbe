"""config.json: loading, validation and the ``features`` document.

The spec stays a plain dict (no dataclasses: importing them costs milliseconds
on every container start); ``Spec`` adds validated, typed accessors.
"""

from __future__ import annotations

import os
import posixpath

from . import jsonio
from . import OCI_VERSION
from .errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
CAP_INDEX = {name: i for i, name in enumerate(CAPABILITIES)}

# namespace type -> (clone flag, /proc/self/ns name)
NAMESPACES = {
    "pid": (0x20000000, "pid"), "network": (0x40000000, "net"), "mount": (0x00020000, "mnt"),
    "ipc": (0x08000000, "ipc"), "uts": (0x04000000, "uts"), "user": (0x10000000, "user"),
    "cgroup": (0x02000000, "cgroup"), "time": (0x00000080, "time"),
}
SUPPORTED_NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "cgroup", "user", "time")

RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
           "RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE",
           "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING",
           "RLIMIT_STACK")

SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                   "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                   "SCMP_ACT_LOG")
SECCOMP_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
               "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")


class Spec:
    """A validated config.json with the bundle it came from."""

    def __init__(self, raw: dict[str, Any], bundle: str) -> None:
        self.raw = raw
        self.bundle = bundle
        root = raw["root"]["path"]
        self.rootfs = os.path.normpath(root if os.path.isabs(root) else os.path.join(bundle, root))

    @property
    def process(self) -> dict[str, Any]:
        return self.raw.get("process") or {}

    @property
    def linux(self) -> dict[str, Any]:
        return self.raw.get("linux") or {}

    @property
    def annotations(self) -> dict[str, str]:
        return self.raw.get("annotations") or {}

    @property
    def hooks(self) -> dict[str, list[dict[str, Any]]]:
        return self.raw.get("hooks") or {}

    def namespaces(self) -> list[dict[str, str]]:
        return self.linux.get("namespaces") or []

    def has_new_namespace(self, ns_type: str) -> bool:
        """True when the container gets a namespace of this type (new or joined by path)."""
        return any(ns.get("type") == ns_type for ns in self.namespaces())

    def cgroups_path(self, container_id: str) -> str:
        """linux.cgroupsPath cleaned as runc does; relative (its default is the
        container id) means below the runtime's own cgroup in each hierarchy."""
        path = self.linux.get("cgroupsPath") or container_id
        clean = posixpath.normpath("/" + path)
        return clean if path.startswith("/") else clean.lstrip("/")


def enter_bundle(bundle: str, pid_file: str | None) -> str | None:
    """create/run work from the bundle directory, as runc (hooks start there);
    --pid-file is made absolute first. Returns the pid file's path."""
    pid_file = os.path.abspath(pid_file) if pid_file else pid_file
    os.chdir(bundle)
    return pid_file


def load(bundle: str, *, need_process: bool = True) -> Spec:
    """Read and validate ``<bundle>/config.json``; raise ConfigError with runc-like text."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError("JSON specification file config.json not found") from None
    except OSError as e:
        raise ConfigError(f"open {path}: {e.strerror}") from None
    try:
        raw = jsonio.loads(data)
    except ValueError as e:
        raise ConfigError(f"invalid config.json: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError("invalid config.json: not a JSON object")
    validate(raw, bundle, need_process=need_process)
    return Spec(raw, bundle)


def validate(raw: dict[str, Any], bundle: str, *, need_process: bool = True) -> None:
    """Reject what we cannot run faithfully, before anything is created."""
    version = raw.get("ociVersion")
    if not isinstance(version, str) or not version:
        raise ConfigError("ociVersion must be a non-empty string")
    if version.split(".")[0] != "1":
        raise ConfigError(f"unsupported ociVersion {version!r}: only 1.x specs are supported")
    root = raw.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise ConfigError("root must be specified")
    rootfs = root["path"] if os.path.isabs(root["path"]) else os.path.join(bundle, root["path"])
    if not os.path.isdir(rootfs):
        what = "not a directory" if os.path.exists(rootfs) else "no such file or directory"
        raise ConfigError(f"invalid rootfs: stat {rootfs}: {what}")
    _validate_process(raw.get("process"), need_process)
    linux = raw.get("linux") or {}
    if not isinstance(linux, dict):
        raise ConfigError("linux must be an object")
    seen: set[str] = set()
    for ns in linux.get("namespaces") or []:
        kind = ns.get("type") if isinstance(ns, dict) else None
        if kind not in NAMESPACES:
            raise ConfigError(f'namespace {{"{kind}" "{ns.get("path", "") if isinstance(ns, dict) else ""}"}} '
                              "does not exist")
        if kind not in SUPPORTED_NAMESPACES:
            raise ConfigError(f"namespace {kind!r} is not supported by dockerd-py-runc")
        if kind == "time" and not os.path.exists("/proc/self/ns/time"):
            raise ConfigError('namespace {"time" ""} does not exist: this kernel has no time namespaces')
        if kind in seen:
            raise ConfigError(f'malformed spec file: duplicated ns {{"{kind}" "{ns.get("path") or ""}"}}')
        seen.add(kind)
        if ns.get("path") and not os.path.exists(ns["path"]):
            raise ConfigError(f"namespace {kind!r} path {ns['path']}: no such file or directory")
    user_ns = next((ns for ns in linux.get("namespaces") or [] if ns.get("type") == "user"), None)
    if user_ns is not None:  # runc wants the maps even when joining by path
        for kind in ("uid", "gid"):
            maps = linux.get(f"{kind}Mappings")
            if not maps:
                raise ConfigError(f"User namespaces enabled, but no {kind} mappings found.")
            if not isinstance(maps, list) or not all(
                    isinstance(m, dict) and all(isinstance(m.get(k), int) and m[k] >= 0
                                                for k in ("containerID", "hostID", "size")) for m in maps):
                raise ConfigError(f"invalid {kind}Mappings: want containerID, hostID and size (integers)")
    if linux.get("timeOffsets") and "time" not in seen:
        raise ConfigError("time offsets specified without a time namespace")
    for clock in linux.get("timeOffsets") or {}:
        if clock not in ("monotonic", "boottime"):
            raise ConfigError(f"time offsets: unknown clock {clock!r} (monotonic or boottime)")
    personality = linux.get("personality")
    if personality is not None:
        if not isinstance(personality, dict) or personality.get("domain") not in ("LINUX", "LINUX32"):
            raise ConfigError(f"invalid personality domain {personality!r}: want LINUX or LINUX32")
        if personality.get("flags"):
            raise ConfigError("personality flags are not supported")
    _validate_intel_rdt(linux.get("intelRdt"))
    if "mount" not in seen:
        raise ConfigError("a private mount namespace is required (no mount namespace in config.json)")
    if raw.get("hostname") and "uts" not in seen:
        raise ConfigError("unable to set hostname without a private UTS namespace")
    if linux.get("rootfsPropagation") not in (None, "", *ROOTFS_PROPAGATION):
        raise ConfigError(f"rootfsPropagation={linux['rootfsPropagation']} is not supported")
    _validate_sysctl(linux)
    for dev in linux.get("devices") or []:
        if isinstance(dev, dict) and dev.get("type") not in ("c", "u", "b", "p"):
            raise ConfigError(f'invalid device type "{dev.get("type", "")}"')
    for m in raw.get("mounts") or []:
        if not isinstance(m, dict) or not isinstance(m.get("destination"), str) or not m["destination"]:
            raise ConfigError(f"mount destination {m.get('destination') if isinstance(m, dict) else m!r} "
                              "is not absolute")
        if not m["destination"].startswith("/"):  # runc 1.1 still takes it, below the root
            from .logs import log
            log.warning(f"mount destination {m['destination']} is not absolute. Support for non-absolute "
                        "mount destinations will be removed in a future release.")
            m["destination"] = "/" + m["destination"]
        _validate_idmapped(m, linux)
    _validate_seccomp(linux.get("seccomp"))
    hooks = raw.get("hooks") or {}
    for name, entries in hooks.items():
        if name not in HOOK_NAMES:
            continue
        for h in entries or []:  # (a relative path is runc's too: it starts from the bundle directory)
            if not isinstance(h, dict) or not isinstance(h.get("path", ""), str):
                raise ConfigError(f"hook {name}: each hook must be an object with a path")


def _validate_process(proc: Any, need: bool) -> None:
    if proc is None:
        if need:
            raise ConfigError("process property must not be empty")
        return
    if not isinstance(proc, dict):
        raise ConfigError("process must be an object")
    args = proc.get("args")
    if not args or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError("args must not be empty")
    cwd = proc.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ConfigError("cwd property must not be empty and must be an absolute path")
    unknown = sorted({name for names in (proc.get("capabilities") or {}).values() for name in names or []
                      if name not in CAP_INDEX})
    if unknown:
        # runc warns and goes on (a newer engine may name caps this kernel lacks).
        from .logs import log
        log.warning(f"ignoring unknown or unavailable capabilities: [{' '.join(unknown)}]")
    for rl in proc.get("rlimits") or []:
        if rl.get("type") not in RLIMITS:
            raise ConfigError(f"wrong rlimit value: {rl.get('type')}")


# runc's validator: IPC sysctls need a private IPC namespace, net.* a network
# namespace other than the current one, kernel.domainname a UTS one; nothing else.
IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
ROOTFS_PROPAGATION = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


def _validate_sysctl(linux: dict[str, Any]) -> None:
    spaces = {ns.get("type"): ns.get("path") or "" for ns in linux.get("namespaces") or []}
    for key in linux.get("sysctl") or {}:
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" in spaces:
                continue
            raise ConfigError(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        if key.startswith("net."):
            if "network" in spaces and not _is_current_netns(spaces["network"]):
                continue
            raise ConfigError(f'sysctl "{key}" not allowed in host network namespace')
        if "uts" in spaces and key == "kernel.domainname":
            continue
        if "uts" in spaces and key == "kernel.hostname":
            raise ConfigError(f'sysctl "{key}" is not allowed as it conflicts with the OCI "hostname" field')
        raise ConfigError(f'sysctl "{key}" is not in a separate kernel namespace')


def _is_current_netns(path: str) -> bool:
    """True when the namespace at path is the runtime's own (an empty path means a new one)."""
    if not path:
        return False
    try:
        st, own = os.stat(path), os.stat("/proc/self/ns/net")
    except OSError as e:
        raise ConfigError(f"unable to check network namespace {path}: {e.strerror}") from None
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _validate_idmapped(m: dict[str, Any], linux: dict[str, Any]) -> None:
    """runc 1.2's rules for id-mapped mounts."""
    from .linux import idmap
    if not idmap.is_idmapped(m):
        return
    if not idmap.is_bind(m):
        raise ConfigError("id-mapped mounts are only supported for bind-mounts")
    uids, gids = idmap.mappings(m, linux)
    if not uids or not gids:
        raise ConfigError("id-mapped mounts must have both uid and gid mappings specified")
    if os.geteuid() != 0:
        raise ConfigError("id-mapped mounts are not supported for rootless containers")


def _validate_intel_rdt(rdt: Any) -> None:
    """runc's checks on a host without resctrl (a closID alone is accepted); with
    resctrl there, anything but that is refused: we do not drive it."""
    if not rdt:
        return
    enabled = False
    try:
        with open("/proc/self/mountinfo") as f:
            enabled = any(" - resctrl " in line for line in f)
    except OSError:
        pass
    if not enabled:
        if rdt.get("l3CacheSchema"):
            raise ConfigError("intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled")
        if rdt.get("memBwSchema"):
            raise ConfigError("intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled")
        return
    if rdt.get("l3CacheSchema") or rdt.get("memBwSchema"):
        raise ConfigError("intelRdt is not supported by dockerd-py-runc")


def _validate_seccomp(sec: Any) -> None:
    if not sec:
        return
    if sec.get("defaultAction") not in SECCOMP_ACTIONS:
        raise ConfigError(f"seccomp: unknown defaultAction {sec.get('defaultAction')!r}")
    for call in sec.get("syscalls") or []:
        if call.get("action") not in SECCOMP_ACTIONS:
            raise ConfigError(f"seccomp: unknown action {call.get('action')!r}")
        for arg in call.get("args") or []:
            if arg.get("op") not in SECCOMP_OPS:
                raise ConfigError(f"seccomp: unknown operator {arg.get('op')!r}")


def features() -> dict[str, Any]:
    """The ``features`` document (runtime-spec features.md)."""
    from .linux.mounts import FLAGS, PROPAGATION, RECURSIVE
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_NAMES),
        "mountOptions": sorted(set(FLAGS) | set(PROPAGATION) | set(RECURSIVE) | {"tmpcopyup"}),
        "linux": {
            "namespaces": [ns for ns in SUPPORTED_NAMESPACES
                           if ns != "time" or os.path.exists("/proc/self/ns/time")],
            "capabilities": CAPABILITIES,
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": list(SECCOMP_ACTIONS),
                "operators": list(SECCOMP_OPS),
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "dockerd-py-runc"},
    }
