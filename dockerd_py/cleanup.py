"""`dockerd-py --cleanup`: remove what a stopped daemon left on the host.

Containers (through their runtime), mounts under the data-root and
exec-root, the bridge and netfilter state of the network drivers, and the
daemon's cgroup parent. Used by the test suite and by operators uninstalling.
"""

import ctypes
import logging
import os
import subprocess

from .config import DaemonConfig

log = logging.getLogger("dockerd_py.cleanup")
MNT_DETACH = 2


def run(cfg: DaemonConfig) -> None:
    _delete_containers(cfg)
    _unmount_below([cfg.exec_root, cfg.data_root])
    _network_cleanup(cfg)
    _remove_cgroup_parent(cfg.cgroup_parent)


def _delete_containers(cfg: DaemonConfig) -> None:
    for name, path in cfg.runtimes.items():
        root = os.path.join(cfg.exec_root, f"runtime-{name}")
        if not os.path.isdir(root):
            continue
        for container_id in os.listdir(root):
            subprocess.run([path, "--root", root, "delete", "--force", container_id], capture_output=True)


def _unmount_below(roots: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    prefixes = tuple(os.path.realpath(r).rstrip("/") + "/" for r in roots)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    for point in sorted((p for p in points if p.startswith(prefixes)), key=len, reverse=True):
        if libc.umount2(point.encode(), MNT_DETACH) != 0:
            log.warning("umount %s: %s", point, os.strerror(ctypes.get_errno()))


def _network_cleanup(cfg: DaemonConfig) -> None:
    from .pluginhost import PluginHost
    from .services.networks import NetworkService

    service = NetworkService(data_root=cfg.data_root, exec_root=cfg.exec_root, bridge_name=cfg.bridge, bip=cfg.bip,
                             pluginhost=PluginHost(), on_event=lambda *a, **k: None,
                             ipv6=cfg.ipv6, fixed_cidr_v6=cfg.fixed_cidr_v6)
    service.cleanup()


def _remove_cgroup_parent(parent: str) -> None:
    parent = parent.strip("/")
    if not parent:
        return
    base = "/sys/fs/cgroup"
    candidates = [os.path.join(base, parent)] + [os.path.join(base, c, parent) for c in os.listdir(base)]
    for path in candidates:
        if not os.path.isdir(path):
            continue
        for dirpath, _, _ in sorted(os.walk(path), key=lambda w: len(w[0]), reverse=True):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
