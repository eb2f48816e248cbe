"""The child process: enter the container's filesystem, do one operation, report on the status fd.

Started by `client` as `python -S -c "...child import main; main()" REQUEST_FD STATUS_FD`
ahead of need: every module is imported first (none can be after the chroot), then
one request line is read. Request: {"op": "stat"|"get"|"put"|"export", "root": merged
rootfs, "mounts": [{"source", "destination", "rw"}], and per op
"path", "no_overwrite_dir_non_dir", "chown": [uid, gid] | null, "readonly_rootfs"}.
Status lines (JSON) on the status fd: first {"stat": {...}} or {"ok": true}, or
{"error": text, "kind": "notfound"|"system"}; after a get/put/export's data, a
final {"done": true} or an error. Tar data goes out on stdout (get, export)
and comes in on stdin (put).
"""

from __future__ import annotations

import json
import os
import stat
import sys

from . import kernel, paths
from .paths import FileNotFound, PathError
from .tarout import TarWriter
from .untar import ExtractError, untar

ROOTFS_READONLY = "container rootfs is marked read-only"
VOLUME_READONLY = "mounted volume is marked read-only"
NOT_A_DIRECTORY = "extraction point is not a directory"


class Refused(Exception):
    """An error Docker reports with its own text (a 500, as Docker's errdefs.System)."""


def _depth(m: dict) -> int:
    return len([p for p in m["destination"].split("/") if p])


def enter(root: str, mounts: list[dict]) -> None:
    """Private mount namespace, the container's mounts attached, chroot into its root."""
    kernel.private_mount_namespace()
    ordered = sorted(mounts, key=_depth)
    trees = [(kernel.clone_tree(m["source"], readonly=not m["rw"]), os.path.isdir(m["source"]), m) for m in ordered]
    os.chroot(root)
    os.chdir("/")
    os.umask(0)
    for fd, is_dir, m in trees:
        dest = m["destination"]
        if is_dir:
            os.makedirs(dest, 0o755, exist_ok=True)
        elif not os.path.lexists(dest):
            os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
            os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755))
        kernel.attach_tree(fd, dest)
        os.close(fd)


def _owning_mount(path: str, mounts: list[dict]) -> dict | None:
    found = None
    for m in mounts:
        if paths.within(path, m["destination"]) and (found is None or _depth(m) > _depth(found)):
            found = m
    return found


def _get(req: dict, report) -> None:
    resolved, abs_path = paths.resolve(req["path"])
    info = paths.stat_path(resolved, abs_path)
    report({"stat": info})
    resolved = os.path.normpath(resolved)
    if info["mode"] & (1 << 31):
        source_dir, source_base = resolved, "."
    else:
        source_dir, source_base = os.path.split(resolved)
    writer = TarWriter(1)
    writer.add_tree(source_dir, source_base, paths.go_base(abs_path), include_source_dir=True)
    writer.close()


def _put(req: dict, report) -> None:
    abs_path = paths.absolute(req["path"])
    resolved = os.path.realpath(abs_path)
    if not stat.S_ISDIR(paths.lstat(resolved).st_mode):
        raise Refused(NOT_A_DIRECTORY)
    mount = _owning_mount(resolved, req["mounts"])
    if mount is not None and not mount["rw"]:
        raise Refused(VOLUME_READONLY)
    if mount is None and req.get("readonly_rootfs"):
        raise Refused(ROOTFS_READONLY)
    report({"ok": True})
    chown = tuple(req["chown"]) if req.get("chown") else None
    try:
        untar(sys.stdin.buffer, resolved, bool(req.get("no_overwrite_dir_non_dir")), chown)  # type: ignore[arg-type]
    except ExtractError as e:
        raise Refused(str(e)) from None


def _export(req: dict, report) -> None:
    report({"ok": True})
    writer = TarWriter(1)
    writer.add_tree("/", ".", None, include_source_dir=False)
    writer.close()


def _go_error(e: OSError) -> str:
    text = paths.go_errno_text(e)
    return f"{e.filename}: {text}" if e.filename else text


def main() -> None:
    with os.fdopen(int(sys.argv[1]), "r") as requests:
        line = requests.readline()
    status = os.fdopen(int(sys.argv[2]), "w", buffering=1)
    if not line:
        return  # a spare that was not needed
    req = json.loads(line)

    def report(msg: dict) -> None:
        status.write(json.dumps(msg) + "\n")

    try:
        enter(req["root"], req["mounts"])
        if req["op"] == "stat":
            resolved, abs_path = paths.resolve(req["path"])
            report({"stat": paths.stat_path(resolved, abs_path)})
            return
        {"get": _get, "put": _put, "export": _export}[req["op"]](req, report)
        report({"done": True})
    except FileNotFound:
        report({"error": "", "kind": "notfound"})
    except (Refused, PathError) as e:
        report({"error": str(e), "kind": "system"})
    except BrokenPipeError:
        report({"error": "the reader went away", "kind": "system"})
    except OSError as e:
        report({"error": _go_error(e), "kind": "system"})
    except Exception as e:  # reported, so that the client gets a 500 with a reason rather than a cut stream
        report({"error": f"{type(e).__name__}: {e}", "kind": "system"})


if __name__ == "__main__":
    main()
