"""Joining (``path``) and creating namespaces.

The PID namespace is handled by the parent before fork (``pid_for_children``),
so the forked init is pid 1 without an intermediate process. Everything else is
done by init on itself: setns for paths, then one unshare for the new ones.

With a user namespace the PID (and every other) namespace must be owned by it,
so it has to exist first: then a first child joins/unshares everything itself
(the parent writes its id maps in between) and forks init (process/init.py).
"""

from __future__ import annotations

import os

from ..spec import NAMESPACES
from .syscalls import CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, Syscalls


def join(sys: Syscalls, namespaces: list[dict[str, str]], *, with_pid: bool = False) -> None:
    """setns every namespace given by ``path``: all fds opened first (joining mnt
    changes paths), the user namespace first (it owns the others)."""
    joins: list[tuple[int, int]] = []
    try:
        for ns in namespaces:
            flag = NAMESPACES[ns["type"]][0]
            if ns.get("path") and (with_pid or flag != CLONE_NEWPID):
                fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
                joins.insert(0 if flag == CLONE_NEWUSER else len(joins), (fd, flag))
        for fd, flag in joins:
            sys.setns(fd, flag)
    finally:
        for fd, _ in joins:
            os.close(fd)


def new_flags(namespaces: list[dict[str, str]], *, with_pid: bool = False) -> int:
    """clone flags of the namespaces to create (no ``path``). PID and time apply
    to children only: without ``with_pid`` they are left to the parent."""
    flags = 0
    for ns in namespaces:
        flag = NAMESPACES[ns["type"]][0]
        if not ns.get("path") and (with_pid or flag not in (CLONE_NEWPID, CLONE_NEWTIME)):
            flags |= flag
    return flags


def write_time_offsets(offsets: dict[str, dict[str, int]] | None) -> None:
    """linux.timeOffsets into the new (still empty) time namespace for children."""
    lines = "".join(f"{clock} {int(v.get('secs', 0))} {int(v.get('nanosecs', 0))}\n"
                    for clock, v in (offsets or {}).items())
    if not lines:
        return
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, lines.encode())
    except OSError as e:
        raise OSError(e.errno, f"failed to write time offsets: {e.strerror}") from None
    finally:
        os.close(fd)


class TimeNamespace:
    """A new time namespace with its offsets for the next fork, then ours again."""

    def __init__(self, sys: Syscalls, spec_ns: dict[str, str] | None,
                 offsets: dict[str, dict[str, int]] | None) -> None:
        self.sys = sys
        self.wanted = spec_ns is not None and not spec_ns.get("path")
        self.offsets = offsets
        self.saved: int | None = None

    def __enter__(self) -> "TimeNamespace":
        if self.wanted:
            self.saved = os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
            self.sys.unshare(CLONE_NEWTIME)
            write_time_offsets(self.offsets)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            self.sys.setns(self.saved, CLONE_NEWTIME)
            os.close(self.saved)


def enter(sys: Syscalls, namespaces: list[dict[str, str]]) -> None:
    """Join the ``path`` ones, then unshare the rest in one call. PID is the parent's job."""
    join(sys, namespaces)
    flags = new_flags(namespaces)
    if flags:
        sys.unshare(flags)


class PidNamespace:
    """Switch the caller's pid_for_children around a fork, then restore it."""

    def __init__(self, sys: Syscalls, spec_ns: dict[str, str] | None) -> None:
        self.sys = sys
        self.spec_ns = spec_ns
        self.saved: int | None = None

    def __enter__(self) -> "PidNamespace":
        if self.spec_ns is None:
            return self
        self.saved = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if self.spec_ns.get("path"):
            fd = os.open(self.spec_ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                self.sys.setns(fd, CLONE_NEWPID)
            finally:
                os.close(fd)
        else:
            self.sys.unshare(CLONE_NEWPID)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            self.sys.setns(self.saved, CLONE_NEWPID)
            os.close(self.saved)
