"""Cgroup manager protocol and the choice between v1 and v2.

A manager knows the container's cgroup directory in every hierarchy it uses.
``paths`` (controller -> directory) is persisted in state.json, so later verbs
(pause, ps, kill --all, delete) rebuild the same manager without re-reading
config.json. The key ``""`` marks the unified (v2) hierarchy.
"""

from __future__ import annotations

import errno
import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CGROUP_ROOT = "/sys/fs/cgroup"


class Manager:
    """The interface both versions implement (a plain class: typing.Protocol
    would import typing on every call)."""

    paths: dict[str, str]

    def apply(self, resources: dict[str, Any]) -> None:
        """Create the directories and write the resource limits."""
        raise NotImplementedError

    def update(self, resources: dict[str, Any]) -> None:
        """Write new limits into the existing cgroup (`runtime update`): never the device rules."""
        self.apply({k: v for k, v in resources.items() if k != "devices"})

    def procs_files(self) -> list[str]:
        """cgroup.procs files the init writes "0" into to join itself."""
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError


def is_v2() -> bool:
    """Pure v2 host: /sys/fs/cgroup is itself a cgroup2 mount."""
    return os.access(f"{CGROUP_ROOT}/cgroup.controllers", os.F_OK)


def new(cgroups_path: str) -> Manager:
    """A manager for a new container, for this host's cgroup layout. A relative
    path is below this process's own cgroup in each hierarchy (runc's rule)."""
    own = own_cgroups() if not cgroups_path.startswith("/") else {}
    if is_v2():
        from .v2 import V2Manager
        return V2Manager({"": CGROUP_ROOT + _below(own.get("", "/"), cgroups_path)})
    from .v1 import V1Manager, hierarchies
    return V1Manager({name: mnt + _below(own.get("" if name == "unified" else name, "/"), cgroups_path)
                      for name, mnt in hierarchies().items()})


def own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller (``name=x`` as such; ``""`` for the unified one)."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _below(parent: str, path: str) -> str:
    return path if path.startswith("/") else parent.rstrip("/") + "/" + path


def from_paths(paths: dict[str, str]) -> Manager:
    """The manager of an existing container, from state.json."""
    if "" in paths:
        from .v2 import V2Manager
        return V2Manager(paths)
    from .v1 import V1Manager
    return V1Manager(paths)


def rdma_max_lines(rdma: dict[str, Any]) -> list[str]:
    """linux.resources.rdma as rdma.max lines (v1 and v2 alike): one per device, the limits given."""
    return [dev + "".join(f" {name}={limits[key]}" for key, name in
                          (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")) if limits.get(key) is not None)
            for dev, limits in rdma.items()]


def write(path: str, value: str | int) -> None:
    """Write one cgroup file (no O_TRUNC/O_CREAT: these are kernel files)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OSError(e.errno, f"failed to write {value!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def read_pids(path: str) -> list[int]:
    try:
        with open(path) as f:
            return [int(line) for line in f.read().split()]
    except FileNotFoundError:
        return []


def rmdir_retry(path: str) -> None:
    """rmdir a cgroup, its sub-cgroups first (exec --cgroup's, or made inside);
    tasks that just died may keep it busy for a moment. The usual case, an
    empty leaf, is one rmdir without listing it first."""
    try:
        os.rmdir(path)
        return
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
    try:
        subs = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return
    for sub in subs:
        rmdir_retry(sub)
    for delay in (0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4):
        if delay:
            time.sleep(delay)
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
    os.rmdir(path)
