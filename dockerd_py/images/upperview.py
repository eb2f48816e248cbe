"""A copying driver's container changes laid out as an overlay upper dir.

Commit writes a layer tar from an overlay upper dir (whiteouts as 0:0
character devices). On vfs there is none, so one is made from the naive diff:
added and modified files are hard-linked (same inode: contents and xattrs,
no copy), directories on the way are made with their owner, mode, times and
xattrs, and each deleted path becomes a whiteout.
"""

from __future__ import annotations

import errno
import os
import stat

from .layerdiff import DELETED


def _copy_dir_metadata(src: str, dest: str) -> None:
    st = os.lstat(src)
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))
    for key in os.listxattr(src, follow_symlinks=False):
        try:
            os.setxattr(dest, key, os.getxattr(src, key, follow_symlinks=False), follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def build(root: str, changes: list[dict], dest: str) -> None:
    """Fill the new directory `dest` with `changes` (of the tree `root`) in overlay upper form."""
    os.mkdir(dest, 0o755)
    _copy_dir_metadata(root, dest)
    made: list[str] = []  # directories, whose times are set last

    def ensure_dir(rel: str) -> None:
        target = os.path.join(dest, rel)
        if rel and not os.path.isdir(target):
            ensure_dir(os.path.dirname(rel))
            os.mkdir(target, 0o700)
            _copy_dir_metadata(os.path.join(root, rel), target)
            made.append(rel)

    for change in changes:
        rel = change["Path"].lstrip("/")
        ensure_dir(os.path.dirname(rel))
        target = os.path.join(dest, rel)
        if change["Kind"] == DELETED:
            os.mknod(target, stat.S_IFCHR, 0)
            continue
        src = os.path.join(root, rel)
        if stat.S_ISDIR(os.lstat(src).st_mode):
            ensure_dir(rel)
        else:
            os.link(src, target, follow_symlinks=False)
    for rel in reversed(made):
        st = os.lstat(os.path.join(root, rel))
        os.utime(os.path.join(dest, rel), ns=(st.st_atime_ns, st.st_mtime_ns))
