"""The built-in runtime's executable: a launcher written into the exec-root.

The runtime runs three times per container (create, start, delete), so its
start-up is on every `docker run`. A console script pays for `site` (every .pth
file in site-packages) and, behind pyenv, a shell wrapper. This launcher runs
the daemon's own interpreter with `-S` and imports the `dockerd_runtime`
package through a symlink next to it, pointing wherever the package is
installed: an editable checkout's `runtime/` or site-packages alike. The
package is byte-compiled here: with PYTHONDONTWRITEBYTECODE set (or a
read-only install) every call would otherwise compile it again (~40 ms).
"""

import compileall
import importlib.util
import os
import sys

from .state import atomic

RUNTIME_NAME = "dockerd-py-runc"

# `-I` too (a shebang passes one argument: `-IS`): the caller's PYTHON* variables
# stay out of a process that becomes a container (PYTHONDONTWRITEBYTECODE made
# every call recompile the package, PYTHONPATH could steer it). The package's
# path goes last, so stdlib imports do not search it first. cli.run exits
# without the interpreter's teardown.
_TEMPLATE = """#!{python} -IS
# Written by dockerd-py at start-up: runs dockerd_runtime without site's start-up cost.
import sys
sys.path.append({path_entry!r})
from dockerd_runtime.cli import run
run()
"""


def runtime_launcher_path(exec_root: str) -> str:
    return os.path.join(exec_root, "bin", RUNTIME_NAME)


def install_runtime_launcher(exec_root: str) -> str:
    spec = importlib.util.find_spec("dockerd_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dockerd_runtime package is not installed")
    package = list(spec.submodule_search_locations)[0]
    compileall.compile_dir(package, quiet=1)  # writes .pyc files whatever PYTHONDONTWRITEBYTECODE says
    path = runtime_launcher_path(exec_root)
    path_entry = os.path.join(os.path.dirname(path), "lib")
    os.makedirs(path_entry, mode=0o755, exist_ok=True)
    link = os.path.join(path_entry, "dockerd_runtime")
    tmp_link = f"{link}.tmp{os.getpid()}"
    os.symlink(package, tmp_link)
    os.replace(tmp_link, link)
    script = _TEMPLATE.format(python=sys.executable, path_entry=path_entry)
    atomic.write_bytes(path, script.encode(), mode=0o755)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m dockerd_py.launchers DIR``: write the launcher under DIR (as
    the daemon does under its exec-root) and print its path. contrib/setup.sh
    links it as ``dockerd-py-runc`` on PATH: whoever calls that name (a person,
    a conformance suite, containerd's BinaryName) gets this launcher, not the
    console script, which pays for `site` and the editable install's finder
    (~10 ms on every call)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python -m dockerd_py.launchers DIR\n")
        return 2
    print(install_runtime_launcher(os.path.abspath(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
