"""Command line: runc's global options, one module per verb, errors -> exit 1.

Verb modules are imported lazily: ``state`` should not pay for what ``create``
needs (this binary runs several times per container).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import OCI_VERSION, __version__
from .errors import RuntimeErr
from .logs import log

DEFAULT_ROOT = "/run/dockerd-py-runc"

# verb -> (module, function, help)
VERBS = {
    "create": ("create", "run", "create a container"),
    "start": ("start", "run", "start a created container"),
    "state": ("state", "run", "output the state of a container"),
    "kill": ("kill", "run", "send a signal to the container's init process"),
    "delete": ("delete", "run", "delete a container"),
    "run": ("run", "run", "create and start a container"),
    "list": ("list", "run", "list containers"),
    "pause": ("pause", "run_pause", "suspend all processes of a container"),
    "resume": ("pause", "run_resume", "resume all processes of a paused container"),
    "ps": ("ps", "run", "processes running inside a container"),
    "features": ("features", "run", "show the enabled features"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # runc-like usage error: exit 1, not 2
        raise RuntimeErr(message)


def build_parser(verb: str | None) -> argparse.ArgumentParser:
    p = _Parser(prog="dockerd-py-runc", description="runc-compatible OCI runtime in Python")
    p.add_argument("--version", "-v", action="store_true")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--log", default="")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--rootless", default="auto")
    p.add_argument("--criu", default="")
    sub = p.add_subparsers(dest="verb", parser_class=_Parser)
    for name, (module, _, help_text) in VERBS.items():
        sp = sub.add_parser(name, help=help_text)
        if name == verb:  # only the verb in use pays for importing its module
            _module(module).add_args(sp)
    return p


def _module(name: str):  # noqa: ANN202 - a module
    return importlib.import_module(f".commands.{name}", __package__)


def _guess_verb(argv: list[str]) -> str | None:
    for arg in argv:
        if arg in VERBS:
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_guess_verb(argv)).parse_args(argv)
        log.configure(args.log or None, args.log_format, args.debug)
        if args.version:
            sys.stdout.write(f"dockerd-py-runc version {__version__}\nspec: {OCI_VERSION}\n")
            return 0
        if args.verb is None:
            raise RuntimeErr("no command given (see --help)")
        if args.systemd_cgroup:
            raise RuntimeErr("--systemd-cgroup is not supported by dockerd-py-runc (use cgroupfs paths)")
        if not os.path.isabs(args.root):
            raise RuntimeErr(f"--root must be an absolute path, got {args.root!r}")
        module, func, _ = VERBS[args.verb]
        return getattr(_module(module), func)(args)
    except RuntimeErr as e:
        return _fail(argv, str(e))
    except OSError as e:
        return _fail(argv, e.strerror if not e.args[1:] else str(e.args[1]) if e.filename is None
                     else f"{e.strerror}: {e.filename}")
    except KeyboardInterrupt:
        return 130


def _fail(argv: list[str], msg: str) -> int:
    verb = _guess_verb(argv)
    if verb in ("create", "run") and not msg.startswith(("container with id exists", "cannot")):
        msg = f"runc {verb} failed: {msg}"
    log.fatal(msg)
    return 1


if __name__ == "__main__":
    sys.exit(main())
