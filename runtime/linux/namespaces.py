"""Joining (``path``) and creating namespaces.

The PID namespace is handled by the parent before fork (``pid_for_children``),
so the forked init is pid 1 without an intermediate process. Everything else is
done by init on itself: setns for paths, then one unshare for the new ones.
"""

from __future__ import annotations

import os

from ..spec import NAMESPACES
from .syscalls import CLONE_NEWPID, Syscalls


def enter(sys: Syscalls, namespaces: list[dict[str, str]]) -> None:
    """setns the ``path`` ones (all fds opened first: joining mnt changes paths),
    then unshare the rest in one call. PID is the parent's job."""
    joins: list[tuple[int, int]] = []
    flags = 0
    try:
        for ns in namespaces:
            flag = NAMESPACES[ns["type"]][0]
            if flag == CLONE_NEWPID:
                continue
            if ns.get("path"):
                joins.append((os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC), flag))
            else:
                flags |= flag
        for fd, flag in joins:
            sys.setns(fd, flag)
    finally:
        for fd, _ in joins:
            os.close(fd)
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
