"""Command line: runc's global options, one module per verb, errors -> exit 1.

A small hand-written parser instead of argparse: argparse (with re, gettext and
enum behind it) costs several milliseconds of import on every call, and this
binary runs three to five times per container. Verb modules are imported
lazily, so ``state`` does not pay for what ``create`` needs.
"""

from __future__ import annotations

import posix as os  # os's C half: importing os itself costs ~1 ms (its ABCs) on every call
import sys

from . import OCI_VERSION, __version__
from .errors import RuntimeErr, UnknownCommand, UsageError
from .logs import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/dockerd-py-runc"

# A flag: (names, dest, kind) with kind "bool", "str", "int" or "list" (repeatable).
Flag = tuple[tuple[str, ...], str, str]

GLOBAL_FLAGS: list[Flag] = [
    (("--root",), "root", "str"), (("--log",), "log", "str"), (("--log-format",), "log_format", "str"),
    (("--debug",), "debug", "bool"), (("--systemd-cgroup",), "systemd_cgroup", "bool"),
    (("--rootless",), "rootless", "str"), (("--criu",), "criu", "str"),
    (("--version", "-v"), "version", "bool"), (("--help", "-h"), "help", "bool"),
]
_CREATE_FLAGS: list[Flag] = [
    (("--bundle", "-b"), "bundle", "str"), (("--pid-file",), "pid_file", "str"),
    (("--console-socket",), "console_socket", "str"), (("--no-pivot",), "no_pivot", "bool"),
    (("--no-new-keyring",), "no_new_keyring", "bool"), (("--preserve-fds",), "preserve_fds", "int"),
]
_FORMAT: list[Flag] = [(("--format", "-f"), "format", "str")]

# verb -> (module, function, flags, positionals (name, required), help)
VERBS: dict[str, tuple[str, str, list[Flag], list[tuple[str, bool]], str]] = {
    "create": ("create", "run", _CREATE_FLAGS, [("id", True)], "create a container"),
    "start": ("start", "run", [], [("id", True)], "start a created container"),
    "state": ("state", "run", [], [("id", True)], "output the state of a container"),
    "kill": ("kill", "run", [(("--all", "-a"), "all", "bool")], [("id", True), ("signal", False)],
             "send a signal (default SIGTERM) to the container's init, or --all processes"),
    "delete": ("delete", "run", [(("--force", "-f"), "force", "bool")], [("id", True)], "delete a container"),
    "run": ("run", "run", [*_CREATE_FLAGS, (("--detach", "-d"), "detach", "bool"), (("--keep",), "keep", "bool"),
                           (("--no-subreaper",), "no_subreaper", "bool")], [("id", True)],
            "create and start a container"),
    "list": ("list", "run", [*_FORMAT, (("--quiet", "-q"), "quiet", "bool")], [], "list containers"),
    "pause": ("pause", "run_pause", [], [("id", True)], "suspend all processes of a container"),
    "resume": ("pause", "run_resume", [], [("id", True)], "resume a paused container"),
    "ps": ("ps", "run", _FORMAT, [("id", True), ("ps_args", False)], "processes of a container"),
    "spec": ("spec", "run", [(("--bundle", "-b"), "bundle", "str"), (("--rootless",), "spec_rootless", "bool")],
             [], "create a new specification file"),
    "events": ("events", "run", [(("--interval",), "interval", "str"), (("--stats",), "stats", "bool")],
               [("id", True)], "display container events such as OOM notifications, cpu, memory, and IO usage"),
    "exec": ("exec", "run", [
        (("--process", "-p"), "process", "str"), (("--detach", "-d"), "detach", "bool"),
        (("--pid-file",), "pid_file", "str"), (("--console-socket",), "console_socket", "str"),
        (("--tty", "-t"), "tty", "bool"), (("--cwd",), "cwd", "str"), (("--env", "-e"), "env", "list"),
        (("--user", "-u"), "user", "str"), (("--no-new-privs",), "no_new_privs", "bool"),
        (("--preserve-fds",), "preserve_fds", "int"),
        (("--additional-gids", "-g"), "additional_gids", "list"), (("--cap", "-c"), "cap", "list"),
        (("--apparmor",), "apparmor", "str"), (("--process-label",), "process_label", "str"),
        (("--cgroup",), "cgroup", "list"), (("--ignore-paused",), "ignore_paused", "bool"),
    ], [("id", True), ("command", False)], "run a new process inside a running container"),
    "features": ("features", "run", [], [], "show the enabled features (JSON)"),
    "update": ("update", "run", [(("--resources", "-r"), "resources", "str"), *[
        ((f"--{dest.replace('_', '-')}",), dest, "str") for dest in (
            "blkio_weight", "cpu_period", "cpu_quota", "cpu_share", "cpu_rt_period", "cpu_rt_runtime",
            "cpuset_cpus", "cpuset_mems", "memory", "memory_reservation", "memory_swap", "pids_limit",
            "l3_cache_schema", "mem_bw_schema")]], [("id", True)], "update container resource constraints"),
}
_DEFAULTS: dict[str, Any] = {
    "root": DEFAULT_ROOT, "log": "", "log_format": "text", "rootless": "auto", "criu": "", "bundle": "",
    "pid_file": None, "console_socket": None, "preserve_fds": 0, "format": "table", "signal": "SIGTERM",
    "ps_args": [], "command": [], "env": [], "process": None, "cwd": None, "user": None,
    "resources": None,
}


class Args:
    """Parsed options as attributes (what argparse's Namespace would give)."""

    def __init__(self) -> None:
        self.verb: str | None = None

    def __getattr__(self, name: str) -> Any:
        return _DEFAULTS.get(name, False)


def _parse_flags(argv: list[str], i: int, flags: list[Flag], args: Args, stop_at_positional: bool,
                 positionals: list[str]) -> int:
    table = {name: (dest, kind) for names, dest, kind in flags for name in names}
    used: dict[str, str] = {}  # dest -> the form given first
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            return len(argv)
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name not in table:
                raise UsageError(f"flag provided but not defined: -{name.lstrip('-')}")
            dest, kind = table[name]
            if used.setdefault(dest, name) != name:  # urfave/cli refuses "-c X --cap Y"
                short, long = sorted((used[dest].lstrip("-"), name.lstrip("-")), key=len)
                raise UsageError(f"Cannot use two forms of the same flag: {short} {long}")
            if kind == "bool":
                setattr(args, dest, value.lower() not in ("false", "0") if eq else True)
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: -{name.lstrip('-')}")
                    value = argv[i]
                if kind == "list":
                    value = [*(getattr(args, dest) or []), value]
                elif kind == "int":
                    try:
                        value = int(value)
                    except ValueError:
                        raise UsageError(f'invalid value "{value}" for flag -{name.lstrip("-")}: '
                                         "parse error") from None
                setattr(args, dest, value)
            i += 1
            continue
        if stop_at_positional:
            return i
        positionals.append(arg)
        i += 1
    return i


def parse(argv: list[str]) -> Args:
    args = Args()
    rest: list[str] = []
    i = _parse_flags(argv, 0, GLOBAL_FLAGS, args, True, rest)
    if i >= len(argv):
        return args
    verb = argv[i]
    if verb not in VERBS:
        raise UnknownCommand(f"No help topic for '{verb}'\n")  # (runc's message ends so)
    args.verb = verb
    _, _, flags, wanted, _ = VERBS[verb]
    positionals: list[str] = []
    flags = [*flags, (("--help", "-h"), "help", "bool")]
    if verb in ("ps", "exec"):  # everything after the id goes to ps(1) / is the command
        i = _parse_flags(argv, i + 1, flags, args, True, positionals)
        positionals = argv[i:]
    else:
        _parse_flags(argv, i + 1, flags, args, False, positionals)
    if args.help:
        return args
    for n, (name, required) in enumerate(wanted):
        if name in ("ps_args", "command"):
            setattr(args, name, positionals[n:])
            break
        if n < len(positionals):
            setattr(args, name, positionals[n])
        elif required:
            exact = "a minimum of" if verb in ("kill", "exec", "ps") else "exactly"
            raise UsageError(f'{_prog()}: "{verb}" requires {exact} 1 argument(s)')
    else:
        if len(positionals) > len(wanted):
            most = "a maximum of" if len(wanted) > 1 else "exactly"
            raise UsageError(f'{_prog()}: "{verb}" requires {most} {len(wanted)} argument(s)')
    return args


def _prog() -> str:
    """argv[0], as runc names itself in usage errors."""
    return sys.argv[0] if sys.argv and sys.argv[0] else "dockerd-py-runc"


def usage() -> str:
    lines = ["usage: dockerd-py-runc [global options] command [command options] [arguments...]", "",
             "runc-compatible OCI runtime in Python", "", "commands:"]
    lines += [f"   {verb:10} {spec[4]}" for verb, spec in VERBS.items()]
    lines += ["", "global options:",
              f"   --root value        state directory (default: {DEFAULT_ROOT})",
              "   --log value         log file (default: stderr)",
              "   --log-format value  text or json (default: text)",
              "   --debug             debug logging",
              "   --systemd-cgroup    not supported (refused)",
              "   --version, -v       print the version"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
        if args.log_format not in ("text", "json"):
            raise RuntimeErr(f"invalid log-format: {args.log_format}")
        log.configure(args.log or None, args.log_format, args.debug)
        if args.version:
            sys.stdout.write(f"dockerd-py-runc version {__version__}\nspec: {OCI_VERSION}\n")
            return 0
        if args.help or args.verb is None:
            sys.stdout.write(usage())
            return 0 if args.help else 1
        if args.systemd_cgroup:
            raise RuntimeErr("--systemd-cgroup is not supported by dockerd-py-runc (use cgroupfs paths)")
        if not args.root.startswith("/"):
            raise RuntimeErr(f"--root must be an absolute path, got {args.root!r}")
        module, func, _, _, _ = VERBS[args.verb]
        if args.verb in ("create", "run", "exec"):  # before their imports: see cgroups/warm.py
            from .cgroups import warm
            warm.start()
        mod = __import__(f"{__package__}.commands.{module}", fromlist=["_"])
        return getattr(mod, func)(args)
    except UsageError as e:  # runc: usage on stdout, the error logged, exit 1 whatever the verb
        if e.exit_code == 1:
            sys.stdout.write(f"Incorrect Usage: {e}\n\n{usage()}")
        log.fatal(str(e))
        return e.exit_code
    except RuntimeErr as e:
        return _fail(argv, str(e))
    except OSError as e:
        return _fail(argv, _os_message(e))
    except KeyboardInterrupt:
        return 130


def run(argv: list[str] | None = None) -> None:
    """The executable's entry point: main(), then exit without the interpreter's
    teardown (final GC, module and code-object deallocation: ~1.5 ms of CPU on
    every call, and this runs three times per container). Everything the
    runtime writes goes through os.write or closed files, so flushing stdio is all."""
    code = main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _os_message(e: OSError) -> str:
    if e.filename is not None:
        return f"{e.strerror}: {e.filename}"
    if len(e.args) > 1:
        return str(e.args[1])
    return str(e)


def _fail(argv: list[str], msg: str) -> int:
    verb = next((a for a in argv if a in VERBS), None)
    if verb in ("create", "run") and not msg.startswith("cannot"):
        msg = f"runc {verb} failed: {msg}"
    if verb == "exec":  # runc: exec failures exit 255, so they differ from the process's own 1
        log.fatal(f"exec failed: {msg}")
        return 255
    log.fatal(msg)
    return 1


if __name__ == "__main__":
    run()
