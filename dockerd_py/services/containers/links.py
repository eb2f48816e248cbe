"""Legacy links of the default bridge (``--link name:alias``), kept as Docker keeps them.

Docker holds a graph beside the containers: the link name ``/parent/alias`` is a
name of the child (it resolves to the child, `docker rm --link` removes it), the
parent's HostConfig.Links shows ``/child:/parent/alias``, and a rename of either
side keeps the link. Here the graph is the parent's stored HostConfig.Links in that
form (rewritten when the graph changes) plus the link names in the name registry
(``/parent/alias`` → child id). Containers on user-defined networks register no
links: their ``--link`` is an alias of the embedded DNS (the endpoint's Links), and
inspect shows no HostConfig.Links for them, as Docker's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import DockerError, InvalidParameter, NotFound, SystemErr

log = logging.getLogger("dockerd_py.containers")

HOST_LINKS = "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
CONTAINER_LINKS = ("conflicting options: container type network can't be used with links. "
                   "This would result in undefined behavior")
DEFAULT_NAME = "Conflict, cannot remove the default link name of the container"


def parse(link: str) -> tuple[str, str]:
    """Docker's ParseLink: ``name[:alias]`` (or the stored ``/name:/parent/alias``) → (name, alias)."""
    if not link:
        raise InvalidParameter("empty string specified for links")
    parts = link.split(":")
    if len(parts) > 2:
        raise InvalidParameter(f"bad format for links: {link}")
    if len(parts) == 1:
        return link.lstrip("/"), link.lstrip("/")
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


def registers(network_mode: str) -> bool:
    """Whether a container in `network_mode` has legacy links (Docker: not on user-defined networks)."""
    return network_mode in ("", "default", "bridge", "host", "none") or network_mode.startswith("container:")


def children(containers, host_config: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """The containers a new container links to, as [(child, alias)]; Docker's 400s for a
    child that does not exist or uses the host's network (one in ``container:`` mode
    stands for the container whose network it shares)."""
    if not registers(host_config.get("NetworkMode") or ""):
        return []
    out = []
    for link in host_config.get("Links") or ():
        name, alias = parse(link)
        child = _container(containers, name)
        while (child.host_config.get("NetworkMode") or "").startswith("container:"):
            child = _container(containers, child.host_config["NetworkMode"].partition(":")[2])
        if child.host_config.get("NetworkMode") == "host":
            raise InvalidParameter(HOST_LINKS)
        out.append((child, alias))
    return out


def _container(containers, ref: str):
    try:
        return containers.get(ref)
    except NotFound as e:
        raise InvalidParameter(f"could not get container for {ref}: {e.message}") from None


def register(containers, parent, linked: list[tuple[Any, str]]) -> None:
    """Link names ``/parent/alias`` for a new parent; HostConfig.Links in Docker's form.
    A link name already taken is skipped, as Docker's registerLink does."""
    if not registers(parent.host_config.get("NetworkMode") or ""):
        return
    shown = []
    for child, alias in linked:
        full = f"{parent.name}/{alias}"
        if containers.names.reserve_alias(full, child.id):
            shown.append(f"{child.name}:{full}")
        else:
            log.warning("link %s to %s: the name is taken, ignoring it", full, child.short_id)
    parent.host_config["Links"] = shown or None


def restore(containers, parent) -> None:
    """After a daemon restart: the link names of `parent` again. A link whose child is gone is
    dropped (Docker's restore cannot register it: the parent starts without it)."""
    links = parent.host_config.get("Links")
    if not links or not registers(parent.host_config.get("NetworkMode") or ""):
        return
    linked = []
    for link in links:
        try:
            name, alias = parse(link)
            linked.append((containers.get(name), alias))
        except DockerError as e:
            log.warning("container %s: link %s dropped: %s", parent.short_id, link, e.message)
    register(containers, parent, linked)
    if parent.host_config.get("Links") != links:
        parent.save()


def check_start(containers, parent) -> None:
    """Docker's start (and exec) failures of a parent on the default bridge: first a linked
    container that is not on that network, then one that does not run (or is gone)."""
    if not registers(parent.host_config.get("NetworkMode") or "") \
            or "bridge" not in ((parent.network_settings or {}).get("Networks") or {}):
        return
    linked = []
    for link in parent.host_config.get("Links") or ():
        child_name, _, full = link.partition(":")
        child_id = containers.names.owner(full)
        try:
            linked.append((child_name, full, containers.get(child_id) if child_id else None))
        except NotFound:
            linked.append((child_name, full, None))
    for child_name, _, child in linked:  # a removed child counts as it was: on the default bridge
        if child is not None and "bridge" not in ((child.network_settings or {}).get("Networks") or {}):
            raise DockerError(f"Cannot link to {child_name}, as it does not belong to the default network")
    for child_name, full, child in linked:
        if child is None or not child.state.running:
            raise DockerError(f"Cannot link to a non running container: {child_name} AS {full}")


def unlink(containers, name: str) -> tuple[Any, str] | None:
    """DELETE /containers/{parent/alias}?link=1: the link leaves the graph, the child stays.
    Returns (parent, alias) when the parent still exists, for its running /etc/hosts."""
    full = name if name.startswith("/") else "/" + name
    parent_name, _, alias = full.rpartition("/")
    if not parent_name:
        raise SystemErr(DEFAULT_NAME)
    parent_id = containers.names.owner(parent_name)
    if parent_id is None:
        raise SystemErr(f"Cannot get parent {parent_name} for link name {full}")
    containers.names.release(full)
    try:
        parent = containers.get(parent_id)
    except NotFound:
        return None
    with parent.lock:
        kept = [ln for ln in parent.host_config.get("Links") or () if ln.partition(":")[2] != full]
        parent.host_config["Links"] = kept or None
        parent.save()
    return parent, alias


def forget_parent(containers, parent) -> None:
    """A removed parent: its link names go (the children stay)."""
    for link in parent.host_config.get("Links") or ():
        full = link.partition(":")[2]
        if full.startswith(parent.name + "/"):
            containers.names.release(full)


def renamed(containers, c, old: str) -> None:
    """After `c` was renamed from `old`: its link names move under the new name, and the
    parents linking to it show its new name (the link stays, as Docker's)."""
    if registers(c.host_config.get("NetworkMode") or "") and c.host_config.get("Links"):
        with c.lock:
            shown = []
            for link in c.host_config["Links"]:
                child_name, _, full = link.partition(":")
                new_full = c.name + full[len(old):] if full.startswith(old + "/") else full
                child_id = containers.names.owner(full)
                if new_full != full and child_id is not None:
                    containers.names.release(full)
                    containers.names.reserve_alias(new_full, child_id)
                shown.append(f"{child_name}:{new_full}")
            c.host_config["Links"] = shown
            c.save()
    for full in containers.names.aliases_of(c.id):
        parent_id = containers.names.owner(full.rpartition("/")[0])
        try:
            parent = containers.get(parent_id) if parent_id else None
        except NotFound:
            continue
        if parent is None:
            continue
        with parent.lock:
            parent.host_config["Links"] = [f"{c.name}:{f}" if f == full else f"{n}:{f}" for n, _, f in
                                           (ln.partition(":") for ln in parent.host_config.get("Links") or ())]
            parent.save()
