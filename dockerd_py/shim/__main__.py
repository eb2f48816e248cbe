"""Entry point: `dockerd-py-shim DIR`."""

import sys


def run(state_dir: str) -> int:
    """Be the shim process for DIR: fork the daemonised shim (setsid, subreaper, runtime
    create), write its one-line JSON report on stdout, return this process's exit status.

    The one code path of both entry points: the command line (`main`) and every child
    of the shim fork server (forkserver.py), whose stdout is then the daemon's connection.
    """
    from .launch import launch

    return launch(state_dir)


def main(argv: list[str] | None = None) -> int:
    """Start a shim for the state directory given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: dockerd-py-shim STATE_DIR\n")
        return 2
    return run(args[0])


if __name__ == "__main__":
    sys.exit(main())
