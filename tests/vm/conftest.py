"""The `guest` fixture: run a shell command in a fresh KVM guest (see guest.py).

Tests that use it are skipped, with the reason, where no guest can boot (qemu, Debian's
kernel or busybox-static missing).
"""

from __future__ import annotations

import os
from typing import Callable

import pytest

from . import guest as _guest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Runner = Callable[..., _guest.GuestResult]


@pytest.fixture(scope="session")
def guest() -> Runner:
    """guest("cmd", timeout=...) -> GuestResult; the command runs as root in the repository."""
    reason = _guest.unavailable()
    if reason:
        pytest.skip(reason)

    def run(command: str, **kw) -> _guest.GuestResult:
        kw.setdefault("cwd", REPO)
        return _guest.run(command, **kw)

    return run
