"""Config.User -> uid, gid and supplementary groups, as libcontainer/user resolves it.

Docker resolves names against the container's own /etc/passwd and /etc/group
(never the host's). Rules: a numeric user is a uid even without a passwd entry;
a named user must exist; supplementary groups come from /etc/group only when
no group was given explicitly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import InvalidParameter

MAX_ID = 2**31 - 1
_RANGE = "uids and gids must be in range 0-2147483647"


@dataclass
class _Passwd:
    name: str
    uid: int
    gid: int


@dataclass
class _Group:
    name: str
    gid: int
    members: list[str]


def resolve_in_root(rootfs: str, path: str) -> str:
    """`path` inside `rootfs`, following symlinks without ever leaving rootfs."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = ""
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = os.path.dirname(current) if current else ""
            continue
        candidate = current + "/" + part
        host_path = rootfs + candidate
        if os.path.islink(host_path):
            hops += 1
            if hops > 40:
                raise InvalidParameter(f"too many symlinks resolving {path}")
            target = os.readlink(host_path)
            if target.startswith("/"):
                current = ""
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        current = candidate
    return rootfs + (current or "/")


def _read_lines(rootfs: str, path: str) -> list[list[str]] | None:
    try:
        with open(resolve_in_root(rootfs, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return [line.strip().split(":") for line in text.splitlines() if line.strip()]


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _passwd(rootfs: str) -> list[_Passwd] | None:
    lines = _read_lines(rootfs, "/etc/passwd")
    if lines is None:
        return None
    return [_Passwd(f[0], _int(f[2]) if len(f) > 2 else 0, _int(f[3]) if len(f) > 3 else 0) for f in lines]


def _groups(rootfs: str) -> list[_Group] | None:
    lines = _read_lines(rootfs, "/etc/group")
    if lines is None:
        return None
    return [_Group(f[0], _int(f[2]) if len(f) > 2 else 0,
                   [m for m in (f[3].split(",") if len(f) > 3 else []) if m]) for f in lines]


def _numeric(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign, decimal digits only."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _in_range(value: int) -> int:
    if value < 0 or value > MAX_ID:
        raise InvalidParameter(_RANGE)
    return value


def resolve_user(rootfs: str, user_spec: str, group_add: list[str] | None = None) -> dict:
    """OCI process.user for Config.User ("", name, uid, name:group, uid:gid) and HostConfig.GroupAdd.

    additionalGids starts with the primary gid (Docker does that since the
    fix for CVE-2022-36109), then the user's groups, then GroupAdd.
    """
    user_arg, _, group_arg = (user_spec or "").partition(":")
    uid_num, gid_num = _numeric(user_arg), _numeric(group_arg)
    passwd, groups = _passwd(rootfs), _groups(rootfs)

    uid, gid, matched = 0, 0, ""
    if user_arg == "":
        entry = next((u for u in passwd or [] if u.uid == 0), None)
    elif uid_num is not None:
        entry = next((u for u in passwd or [] if u.uid == uid_num), None)
    else:
        entry = next((u for u in passwd or [] if u.name == user_arg), None)
    if entry is not None:
        uid, gid, matched = entry.uid, entry.gid, entry.name
    elif user_arg:
        if uid_num is None:
            raise InvalidParameter(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = _in_range(uid_num)

    sgids: list[int] = []
    if group_arg:
        if gid_num is not None:
            match = next((g for g in groups or [] if g.gid == gid_num), None)
        else:
            match = next((g for g in groups or [] if g.name == group_arg), None)
        if match is not None:
            gid = match.gid
        elif gid_num is None:
            raise InvalidParameter(f"unable to find group {group_arg}: no matching entries in group file")
        else:
            gid = _in_range(gid_num)
    elif matched:
        sgids = [g.gid for g in groups or [] if matched in g.members]

    extra = additional_groups(groups, group_add or [])
    return {"uid": uid, "gid": gid, "additionalGids": [gid] + sgids + extra}


def additional_groups(groups: list[_Group] | None, wanted: list[str]) -> list[int]:
    """HostConfig.GroupAdd: names or gids; a name must exist in the container's /etc/group."""
    out: list[int] = []
    for ag in wanted:
        ag = str(ag)
        match = next((g for g in groups or [] if g.name == ag or str(g.gid) == ag), None)
        if match is not None:
            gid = match.gid
        else:
            num = _numeric(ag)
            if num is None:
                raise InvalidParameter(f"Unable to find group {ag}: no matching entries in group file")
            gid = _in_range(num)
        if gid not in out:
            out.append(gid)
    return out
