"""Paths inside a root directory, chroot-style (moby's FollowSymlinkInScope).

The one walker behind layer extraction (which creates the missing directories)
and the builder (context and COPY sources, which keep missing parts as named):
every symbolic link is followed as if `root` were `/`, so an absolute target
starts again at `root` and `..` stops there; nothing leads out of `root`.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_LINKS = 255


def follow(root: str, parts: list[str], make_dirs: bool = False) -> list[str]:
    """The components of `parts` below `root` with every symlink resolved inside it.

    A missing component is kept as named; with `make_dirs` it is created as a
    directory (0755) instead, as Docker's extraction does (MkdirAll): only where
    `parts` name it, not where a link leads (a dangling link raises
    FileNotFoundError), and a component that is not a directory raises
    NotADirectoryError (their filename: the path relative to `root`).
    Any other error of lstat (ENOTDIR below a file) is raised as it is;
    more than 255 links raise OSError(ELOOP).
    """
    stack: list[str] = []
    todo = parts[::-1]   # popped from the end
    from_link = 0        # how many of the last entries of `todo` come from link targets
    hops = 0
    while todo:
        part = todo.pop()
        linked = from_link > 0
        if linked:
            from_link -= 1
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
            continue
        here = os.path.join(root, *stack, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            if not make_dirs:
                stack.append(part)   # kept as named
                continue
            if linked:
                raise FileNotFoundError(errno.ENOENT, "no such file or directory", "/".join(parts)) from None
            os.mkdir(here, 0o755)
            stack.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", "/".join(parts))
            target = os.readlink(here).split("/")
            if target[0] == "":
                stack = []
            todo.extend(reversed(target))
            from_link += len(target)
            continue
        if make_dirs and not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", "/".join([*stack, part]))
        stack.append(part)
    return stack


def in_scope(root: str, path: str) -> str:
    """`path` (relative to `root`, or absolute as if `root` were `/`) resolved inside `root`,
    relative to it ("." for `root` itself)."""
    return "/".join(follow(root, path.split("/"))) or "."


def join(root: str, path: str) -> str:
    """The absolute host path of `path` resolved inside `root` (never outside it)."""
    return os.path.join(root, *follow(root, path.split("/")))
