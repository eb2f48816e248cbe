"""Docker's path rules for cp (container.ResolvePath / StatPath), run inside the chroot.

Inside the child's chroot, the kernel and `os.path.realpath` resolve every
symlink against the container's root, which is FollowSymlinkInScope.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time

# Go's os.FileMode type bits
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


class FileNotFound(Exception):
    """The path does not exist in the container (the API's 404)."""


class PathError(Exception):
    """Any other failure to look a path up, in Go's words ("lstat /x: not a directory")."""


def go_errno_text(e: OSError) -> str:
    text = e.strerror or str(e)
    return text[:1].lower() + text[1:]


def go_base(path: str) -> str:
    """filepath.Base: the last element, trailing slashes ignored; "/" for the root."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def go_quote(text: str) -> str:
    """Go's %q for the texts of Docker's extraction errors."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def absolute(path: str) -> str:
    """The path as absolute in the container, keeping a trailing "/." or "/" (PreserveTrailingDotOrSeparator)."""
    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if go_base(cleaned) != "." and go_base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    if not cleaned.endswith("/") and path.endswith("/"):
        cleaned += "/"
    return cleaned


def resolve(path: str) -> tuple[str, str]:
    """(resolved, absolute): the directory part resolved, the last element kept as named."""
    abs_path = absolute(path)
    directory, base = abs_path.rsplit("/", 1)
    resolved_dir = os.path.realpath(directory or "/")
    return (resolved_dir.rstrip("/") + "/" + base), abs_path


def lstat(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise FileNotFound(path) from None
    except OSError as e:
        raise PathError(f"lstat {path}: {go_errno_text(e)}") from None


def go_mode(mode: int) -> int:
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFBLK: _GO_DEVICE,
            stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV, stat.S_IFIFO: _GO_PIPE, stat.S_IFSOCK: _GO_SOCKET}.get(kind, 0)
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def go_time(ns: int) -> str:
    """time.Time's JSON form (RFC3339Nano, trailing zeros of the fraction dropped), in UTC."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return text + (f".{frac}" if frac else "") + "Z"


def stat_path(resolved: str, abs_path: str) -> dict:
    """Docker's ContainerPathStat of a resolved path (a symlink's target fully resolved)."""
    st = lstat(resolved)
    link_target = ""
    if stat.S_ISLNK(st.st_mode):
        link_target = os.path.realpath(abs_path)
    return {"name": go_base(abs_path), "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": go_time(st.st_mtime_ns), "linkTarget": link_target}


def within(path: str, top: str) -> bool:
    """filepath.Rel(top, path) does not climb out of `top`."""
    rel = posixpath.relpath(path, top)
    return rel != ".." and not rel.startswith("../")
