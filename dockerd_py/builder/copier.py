"""COPY and ADD: sources in the context (or another stage's rootfs) copied into a rootfs.

Sources are context-relative, may hold Go-style wildcards (`*`, `?`, `[...]`
within one path element) and never leave their root. A directory source
copies its contents; a file goes to `dest` or, when `dest` ends with `/` or
is a directory, into it. ADD unpacks a local tar (plain, gzip, bzip2, xz).
Each source has Docker's hash string (tarsum.py: `file:<hex>`, `dir:<hex>`,
several: `multi:<hex>`), shown in the history and keying the build cache.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass

from ..errors import InvalidParameter
from ..images import archive, scope
from . import tarsum


@dataclass
class Source:
    path: str        # absolute, inside root (symbolic links followed)
    name: str        # the name it is copied under (a link keeps its own name)
    is_dir: bool
    checksum: str    # file:<hex> | dir:<hex>


def _glob(root: str, pattern: str) -> list[str]:
    """The paths matching `pattern`, found as Docker's walk of the root finds them:
    never through a symbolic link (a match itself may be one)."""
    parts = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
    found = [""]
    for part in parts:
        nxt = []
        for base in found:
            directory = os.path.join(root, base)
            if base and not stat.S_ISDIR(os.lstat(directory).st_mode):
                continue
            if not any(c in part for c in "*?["):
                if os.path.lexists(os.path.join(directory, part)):
                    nxt.append(os.path.join(base, part))
                continue
            try:
                names = sorted(os.listdir(directory))
            except (NotADirectoryError, FileNotFoundError):
                continue
            nxt.extend(os.path.join(base, n) for n in names if fnmatch.fnmatchcase(n, part))
        found = nxt
    return found


def resolve(hasher: tarsum.Hasher, patterns: list[str], what: str, from_stage: bool = False) -> list[Source]:
    """The sources named by `patterns` under `hasher.root`; Docker's errors when one is outside or missing."""
    root = hasher.root
    out: list[Source] = []
    for orig in patterns:
        if orig.startswith(("http://", "https://")):
            if what == "COPY":
                raise InvalidParameter(f"{what} failed: source can't be a URL for COPY")
            raise InvalidParameter(f"{what} failed: downloading {orig} is not possible: "
                                   "this daemon has no internet access")
        norm = os.path.normpath("/" + orig) if from_stage else os.path.normpath(orig)
        if not from_stage and (norm == ".." or norm.startswith("../")):
            raise InvalidParameter(f"{what} failed: forbidden path outside the build context: {orig} ()")
        if any(c in orig for c in "*?["):
            matches = _glob(root, norm)
            if not matches:
                continue
            rels = matches
        else:
            rels = [norm]
        for rel in rels:
            try:
                path = scope.join(root, rel)   # a link is followed inside the root, never out of it
            except OSError:   # a loop, or a file in the middle: Docker's words for any such error
                raise InvalidParameter(f"{what} failed: forbidden path outside the build context: "
                                       f"{rel.lstrip('/')} ()") from None
            if not os.path.exists(path):
                where = "file not found in build context or excluded by .dockerignore: " if not from_stage else ""
                raise InvalidParameter(f"{what} failed: {where}stat {rel.lstrip('/')}: file does not exist")
            name = os.path.basename(rel.rstrip("/")) or os.path.basename(path)
            out.append(Source(path, name, os.path.isdir(path), tarsum.source_hash(hasher, rel.lstrip("/"))))
    if not out:
        raise InvalidParameter(f"{what} failed: no source files were specified")
    return out


@dataclass
class Owner:
    uid: int
    gid: int


def _lookup(rootfs: str, db: str, name: str) -> int | None:
    try:
        with open(scope.join(rootfs, f"etc/{db}"), encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                    return int(fields[2])
    except OSError:
        return None
    return None


def parse_chown(spec: str, rootfs: str) -> Owner:
    """`--chown=user[:group]` with names looked up in the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    if not user:
        raise InvalidParameter(f"unable to convert uid/gid chown string to host mapping: invalid chown string: {spec}")

    def resolve_id(name: str, db: str, kind: str) -> int:
        if name.isdigit():
            return int(name)
        found = _lookup(rootfs, db, name)
        if found is None:
            raise InvalidParameter(f"unable to convert uid/gid chown string to host mapping: "
                                   f"can't find {kind} for user {name}: no such {'user' if kind == 'uid' else 'group'}: {name}")
        return found

    uid = resolve_id(user, "passwd", "uid")
    gid = resolve_id(group, "group", "gid") if group else uid
    return Owner(uid, gid)


def parse_chmod(spec: str) -> int | None:
    if not spec:
        return None
    try:
        mode = int(spec, 8)
    except ValueError:
        raise InvalidParameter(f"invalid chmod parameter: {spec!r}, only octal modes are supported") from None
    if mode > 0o7777:
        raise InvalidParameter(f"invalid chmod parameter: {spec!r}")
    return mode


def _mkdirs(rootfs: str, rel_dir: str, owner: Owner) -> str:
    """MkdirAllAndChownNew of `rel_dir` resolved inside `rootfs` chroot-style (a link to a missing
    directory makes it, as Docker's COPY does); the directories made are owned by `owner`."""
    path = rootfs
    for part in scope.follow(rootfs, rel_dir.split("/")):
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            continue
        except NotADirectoryError:
            raise InvalidParameter(f"mkdir {path}: not a directory") from None
        os.lchown(path, owner.uid, owner.gid)
    if not os.path.isdir(path):
        raise InvalidParameter(f"mkdir {path}: not a directory")
    return path


def _copy_entry(src: str, dst: str, owner: Owner, mode: int | None) -> None:
    st = os.lstat(src)
    if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and os.path.isdir(dst) and not os.path.islink(dst)):
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        else:
            os.unlink(dst)
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(dst):
            os.mkdir(dst)
        for name in sorted(os.listdir(src)):
            _copy_entry(os.path.join(src, name), os.path.join(dst, name), owner, mode)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    else:
        os.mknod(dst, st.st_mode, st.st_rdev)
    os.lchown(dst, owner.uid, owner.gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, mode if mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _is_archive(path: str) -> bool:
    """Whether ADD unpacks `path`: a tar, maybe compressed (a first header that parses), as Docker checks."""
    try:
        with open(path, "rb") as raw:
            head = archive.decompress(raw).read(512)
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except Exception:   # not compressed-and-tar, not tar: copied as a file
        return False
    return True


def copy_into(rootfs: str, sources: list[Source], dest: str, workdir: str, owner: Owner, mode: int | None,
              unpack: bool, what: str) -> None:
    """Copy `sources` to `dest` (relative to `workdir`) inside the mounted `rootfs`."""
    dest_is_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    if not dest.startswith("/"):
        dest = os.path.join(workdir or "/", dest)
    dest = os.path.normpath(dest)
    if len(sources) > 1 and not dest_is_dir:
        raise InvalidParameter(f"When using {what} with more than one source file, "
                               "the destination must be a directory and end with a /")
    try:
        resolved = scope.join(rootfs, dest)   # links followed inside the rootfs, the last one too
    except OSError as e:
        raise InvalidParameter(f"failed to copy files: lstat {e.filename}: {os.strerror(e.errno or 0).lower()}") from None
    for src in sources:
        if src.is_dir:
            target = _mkdirs(rootfs, dest, owner)
            for name in sorted(os.listdir(src.path)):
                _copy_entry(os.path.join(src.path, name), os.path.join(target, name), owner, mode)
            continue
        if unpack and _is_archive(src.path):
            target = _mkdirs(rootfs, dest, owner)
            with open(src.path, "rb") as raw:
                archive.apply_layer(archive.decompress(raw), target)
            continue
        if dest_is_dir or os.path.isdir(resolved):
            target = os.path.join(_mkdirs(rootfs, dest, owner), src.name)
        else:
            target = resolved
            _mkdirs(rootfs, os.path.dirname(os.path.relpath(resolved, rootfs)), owner)
        _copy_entry(src.path, target, owner, mode)
