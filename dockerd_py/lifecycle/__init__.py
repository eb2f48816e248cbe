"""The containerd role: start one shim per container and talk to it (contracts.md §2)."""

from .forkserver_client import ForkServerUnavailable, ShimLauncher
from .shim_client import (ExitStatus, ShimClient, ShimError, ShimGone, StartInfo, TaskConfig,
                          default_shim_cmd, runtime_message)

__all__ = ["TaskConfig", "ShimClient", "StartInfo", "ExitStatus", "ShimError", "ShimGone",
           "runtime_message", "default_shim_cmd", "ShimLauncher", "ForkServerUnavailable"]
