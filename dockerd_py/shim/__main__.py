"""Entry point: `dockerd-py-shim DIR`."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Start a shim for the state directory given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: dockerd-py-shim STATE_DIR\n")
        return 2
    from .server import launch

    return launch(args[0])


if __name__ == "__main__":
    sys.exit(main())
