"""Mount option parsing and mounting one config.json mount entry."""

from __future__ import annotations

import errno
import os
import stat

from . import syscalls as sc
from .syscalls import Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0), "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "suid": (True, sc.MS_NOSUID), "nosuid": (False, sc.MS_NOSUID),
    "dev": (True, sc.MS_NODEV), "nodev": (False, sc.MS_NODEV),
    "exec": (True, sc.MS_NOEXEC), "noexec": (False, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "atime": (True, sc.MS_NOATIME), "noatime": (False, sc.MS_NOATIME),
    "diratime": (True, sc.MS_NODIRATIME), "nodiratime": (False, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "lazytime": (False, sc.MS_LAZYTIME), "nolazytime": (True, sc.MS_LAZYTIME),
    "silent": (False, sc.MS_SILENT), "loud": (True, sc.MS_SILENT),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "acl": (False, sc.MS_POSIXACL), "noacl": (True, sc.MS_POSIXACL),
    "iversion": (False, sc.MS_I_VERSION), "noiversion": (True, sc.MS_I_VERSION),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Recursive attributes (mount_setattr with AT_RECURSIVE, as runc): option -> (set, clear).
RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0), "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0), "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME),
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME),
    "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME),
    "ratime": (0, sc.MOUNT_ATTR_NOATIME), "rnostrictatime": (0, sc.MOUNT_ATTR_STRICTATIME),
    "rnorelatime": (0, sc.MOUNT_ATTR_RELATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
}
# Not mount(2) flags: id-mapping requests, made by linux/idmap.py.
IGNORED = {"idmap", "ridmap"}


def recursive_attrs(options: list[str]) -> tuple[int, int]:
    """The r* options -> (attr_set, attr_clr) for mount_setattr. Accumulated
    apart, as runc does: the kernel applies the clears first, so a set wins."""
    attr_set = attr_clr = 0
    for opt in options:
        if opt in RECURSIVE:
            attr_set |= RECURSIVE[opt][0]
            attr_clr |= RECURSIVE[opt][1]
    return attr_set, attr_clr


def parse_options(options: list[str]) -> tuple[int, list[int], str]:
    """-> (mount flags, propagation flags in order, data string for the fs)."""
    flags, prop, data = 0, [], []
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION:
            prop.append(PROPAGATION[opt])
        elif opt in IGNORED or opt in RECURSIVE or opt == "tmpcopyup":
            continue
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def secure_join(root: str, path: str) -> str:
    """Resolve ``path`` inside ``root``, following symlinks as if root were "/".

    A symlink in the rootfs (absolute or ``..``) can never lead outside root.
    """
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 255:
                raise OSError(40, f"too many levels of symbolic links: {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def mkdir_all(path: str, mode: int = 0o755) -> None:
    """Go's os.MkdirAll, as runc uses it: every missing level gets ``mode``
    (os.makedirs gives the intermediate ones 0o777 under init's zero umask)."""
    if os.path.isdir(path):
        return
    mkdir_all(os.path.dirname(path), mode)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def make_target(dest: str, is_dir: bool) -> None:
    """Create the mount point: a directory, or an empty file for file binds."""
    if is_dir:
        mkdir_all(dest)
        return
    mkdir_all(os.path.dirname(dest))
    if not os.path.exists(dest):
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


def mount_entry(sys: Syscalls, rootfs: str, m: dict[str, Any], cgroup_paths: dict[str, str],
                mount_fd: int | None = None) -> None:
    """Mount one config.json ``mounts[]`` entry under rootfs (before pivot_root);
    ``mount_fd``: the entry's id-mapped bind, made by create, to attach."""
    options = m.get("options") or []
    flags, prop, data = parse_options(options)
    fstype = m.get("type") or ""
    source = m.get("source") or fstype or "none"
    dest = secure_join(rootfs, m["destination"])
    if flags & sc.MS_BIND or fstype == "bind":
        flags |= sc.MS_BIND
        if mount_fd is not None:  # (create checked the source; we may not even see it)
            is_dir = stat.S_ISDIR(os.fstat(mount_fd).st_mode)
        elif not os.path.exists(source):
            raise OSError(2, f"stat {source}: no such file or directory")
        else:
            is_dir = os.path.isdir(source)
        make_target(dest, is_dir)
        if mount_fd is not None:
            sys.move_mount(mount_fd, dest)
        else:
            sys.mount(source, dest, "bind", flags & (sc.MS_BIND | sc.MS_REC))
        # A bind ignores every other flag: apply them with a remount.
        extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if extra:
            sys.mount(None, dest, None, extra | sc.MS_BIND | sc.MS_REMOUNT | _locked_flags(dest))
    elif fstype == "cgroup":
        _mount_cgroup(sys, rootfs, dest, flags, cgroup_paths)
    else:
        if fstype in ("proc", "sysfs") and os.path.islink(dest):
            raise OSError(20, f"{m['destination']} cannot be mounted: it is a symlink")
        existing = os.stat(dest).st_mode & 0o7777 if fstype == "tmpfs" and os.path.isdir(dest) else None
        make_target(dest, True)
        # tmpcopyup: the directory's content, still reachable through an fd once covered
        under = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) \
            if fstype == "tmpfs" and "tmpcopyup" in options else None
        # runc mounts a tmpfs read-write, fills and chmods it, then makes the mount
        # (not the filesystem) read-only
        ro_later = flags & sc.MS_RDONLY if fstype == "tmpfs" else 0
        try:
            sys.mount(source, dest, fstype, flags & ~sc.MS_REMOUNT & ~ro_later, data or None)
            if under is not None:
                copy_tree(f"/proc/self/fd/{under}", dest)
        finally:
            if under is not None:
                os.close(under)
        if existing is not None:
            os.chmod(dest, existing)  # runc keeps the mode of an existing mount point
        if ro_later:
            sys.mount(None, dest, None, (flags & ~sc.MS_REMOUNT) | sc.MS_REMOUNT | sc.MS_BIND)
    for p in prop:
        sys.mount(None, dest, None, p)
    attr_set, attr_clr = recursive_attrs(options)
    if attr_set or attr_clr:
        sys.mount_setattr(dest, attr_set, attr_clr)


def copy_tree(src: str, dst: str) -> None:
    """cp -a of src's content into dst (files, dirs, symlinks; owner, mode, times)."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(target, 0o700)
            copy_tree(entry.path, target)
        elif entry.is_file(follow_symlinks=False):
            rfd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            wfd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                while os.sendfile(wfd, rfd, None, 1 << 20):
                    pass
            finally:
                os.close(rfd)
                os.close(wfd)
        else:
            continue  # device nodes, fifos, sockets are not copied
        os.lchown(target, st.st_uid, st.st_gid)
        if not entry.is_symlink():
            os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _locked_flags(path: str) -> int:
    """Flags of the mount at path that a bind remount must keep (nosuid, nodev, noexec)."""
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    keep = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                             (os.ST_NOEXEC, sc.MS_NOEXEC)):
        if f & st_flag:
            keep |= ms_flag
    return keep


def _mount_cgroup(sys: Syscalls, rootfs: str, dest: str, flags: int,
                  cgroup_paths: dict[str, str]) -> None:
    """/sys/fs/cgroup: v2 -> a cgroup2 mount (rooted at the container's cgroup in a cgroup
    namespace, the whole tree without one), or where that is refused (a user namespace
    without a cgroup namespace) a bind of the container's cgroup; v1 -> a tmpfs with one
    bind per hierarchy (the container's own directory), the tmpfs itself stays writable, as runc leaves it."""
    make_target(dest, True)
    base = flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    if "" in cgroup_paths:
        try:
            sys.mount("cgroup", dest, "cgroup2", flags)
            return
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EBUSY):
                raise
        sys.mount(cgroup_paths[""], dest, "bind", sc.MS_BIND | sc.MS_REC)
        sys.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | base | (flags & sc.MS_RDONLY))
        return
    existing = os.stat(dest).st_mode & 0o7777  # sysfs's own 0555 there, kept as runc does
    sys.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    os.chmod(dest, existing)
    for name, path in cgroup_paths.items():
        if name == "unified":
            continue  # hybrid host: runc does not show the v2 tree inside either
        sub = os.path.join(dest, name[5:] if name.startswith("name=") else name)
        mkdir_all(sub)
        sys.mount(path, sub, "bind", sc.MS_BIND | sc.MS_REC)
        sys.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | base | (flags & sc.MS_RDONLY))
