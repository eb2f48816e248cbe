"""The built-in runtime's executable: a launcher written into the exec-root.

The runtime runs three times per container (create, start, delete), so its
start-up is on every `docker run`. A console script pays for `site` (every .pth
file in site-packages) and, behind pyenv, a shell wrapper. This launcher runs
the daemon's own interpreter with `-S` and loads the `dockerd_runtime` package
straight from where it is installed — an editable checkout's `runtime/` or
site-packages alike.
"""

import importlib.util
import os
import sys

from .state import atomic

RUNTIME_NAME = "dockerd-py-runc"

_TEMPLATE = """#!{python} -S
# Written by dockerd-py at start-up: runs dockerd_runtime without site's start-up cost.
import importlib.util as u, sys
s = u.spec_from_file_location("dockerd_runtime", {init!r}, submodule_search_locations=[{package!r}])
m = u.module_from_spec(s); sys.modules["dockerd_runtime"] = m; s.loader.exec_module(m)
from dockerd_runtime.cli import main
sys.exit(main())
"""


def runtime_launcher_path(exec_root: str) -> str:
    return os.path.join(exec_root, "bin", RUNTIME_NAME)


def install_runtime_launcher(exec_root: str) -> str:
    spec = importlib.util.find_spec("dockerd_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dockerd_runtime package is not installed")
    package = list(spec.submodule_search_locations)[0]
    path = runtime_launcher_path(exec_root)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    script = _TEMPLATE.format(python=sys.executable, init=os.path.join(package, "__init__.py"), package=package)
    atomic.write_bytes(path, script.encode(), mode=0o755)
    return path
