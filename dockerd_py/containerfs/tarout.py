"""Writing a tar of container paths, as Docker's archive.TarWithOptions does.

Entries come in filepath.Walk order (depth first, names sorted), hard links
are stored once, sockets are skipped, times are whole seconds, owner names
come from the container's own /etc/passwd and /etc/group (read as plain
files: never NSS, which could load the container's libraries into us).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile

_CHUNK = 1 << 20
_BLOCK = 512
_NAME_FILE_LIMIT = 1 << 20


def _id_names(path: str) -> dict[int, str]:
    """id -> name from a passwd/group file; empty if it is missing, odd or huge."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        text = os.read(fd, _NAME_FILE_LIMIT).decode("utf-8", "replace")
    finally:
        os.close(fd)
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


class TarWriter:
    """Streams tar entries to a file descriptor (a pipe: file data is spliced, not copied)."""

    def __init__(self, out: int) -> None:
        self.out = out
        self._buf = bytearray()
        self._links: dict[tuple[int, int], str] = {}
        self._users = _id_names("/etc/passwd")
        self._groups = _id_names("/etc/group")
        self._splice = stat.S_ISFIFO(os.fstat(out).st_mode)

    # -- entries --------------------------------------------------------------
    def add_tree(self, source_dir: str, include: str, rebase: str | None, include_source_dir: bool) -> None:
        """TarWithOptions(source_dir, IncludeFiles=[include], RebaseNames={include: rebase})."""
        top = source_dir if include == "." else os.path.join(source_dir, include)
        for path, st in _walk(top):
            rel = "." if path == top and include == "." else os.path.relpath(path, source_dir)
            if rel == "." and not include_source_dir:
                continue
            if include == "." and include_source_dir and rel != ".":
                rel = "./" + rel
            if rebase is not None:
                rel = rel.replace(include, "" if rebase == "/" else rebase, 1)
            self._add(rel, path, st)

    def _add(self, name: str, path: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return
        info = tarfile.TarInfo(name + "/" if stat.S_ISDIR(mode) and not name.endswith("/") else name)
        info.mode = mode & 0o7777
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname, info.gname = self._users.get(st.st_uid, ""), self._groups.get(st.st_gid, "")
        info.mtime = int(st.st_mtime)
        data_fd = None
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
            else:
                if st.st_nlink > 1:
                    self._links[key] = name
                data_fd = _open_regular(path)
                if data_fd is None:
                    return  # vanished or swapped meanwhile
                info.type, info.size = tarfile.REGTYPE, st.st_size
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            try:
                info.linkname = os.readlink(path)
            except OSError:
                return
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            return
        capability = _capability(path) if data_fd is not None else None
        if capability is not None:
            info.pax_headers = {"SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape")}
        self._buf += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if data_fd is not None:
            try:
                self._copy(data_fd, info.size)
            finally:
                os.close(data_fd)

    # -- output ---------------------------------------------------------------
    def _flush(self) -> None:
        data, done = bytes(self._buf), 0
        self._buf.clear()
        while done < len(data):
            done += os.write(self.out, data[done:])

    def _copy(self, fd: int, size: int) -> None:
        """Exactly `size` bytes of the file (zeros if it shrank meanwhile), then the block padding."""
        self._flush()
        left = size
        while left > 0:
            if self._splice:
                try:
                    n = os.splice(fd, self.out, min(left, _CHUNK))
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.ENOSYS):
                        raise
                    self._splice = False
                    continue
            else:
                data = os.read(fd, min(left, _CHUNK))
                n = len(data)
                self._buf += data
                self._flush()
            if n == 0:
                break
            left -= n
        self._buf += bytes(left + (-size % _BLOCK))
        if len(self._buf) >= _CHUNK:
            self._flush()

    def close(self) -> None:
        self._buf += bytes(2 * _BLOCK)
        self._flush()


def _walk(top: str):
    """filepath.Walk: (path, lstat) depth first, each directory's names sorted."""
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            try:
                names = sorted(os.listdir(path))
            except OSError:
                continue
            stack.extend(os.path.join(path, n) for n in reversed(names))


def _open_regular(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None
