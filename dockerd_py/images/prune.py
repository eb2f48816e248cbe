"""`docker image prune`: remove images no container uses (by default only dangling ones)."""

from collections.abc import Callable

from ..errors import DockerError
from ..filters import bool_or_default, labels_match, prune_until
from .delete import InUse

ALLOWED = {"dangling", "until", "label", "label!"}


def prune(store, filters: dict[str, list[str]], in_use: InUse, parse_time: Callable[[str], int]) -> dict:
    dangling_only = _dangling_only(filters)
    until_text = prune_until(filters)
    until = parse_time(until_text) // 10**9 if until_text else None
    before = store.layers_size()
    deleted: list[dict[str, str]] = []
    for image in store.list():
        if in_use(image.id) is not None or (dangling_only and store.references(image)):
            continue
        if until is not None and image.created_unix >= until:
            continue
        if not labels_match(image.labels, filters.get("label", []), filters.get("label!", [])):
            continue
        try:
            deleted += store.remove(image.id, force=True, in_use=in_use)
        except DockerError:  # a child image keeps it, or it went meanwhile: Docker skips it too
            continue
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": before - store.layers_size()}


def _dangling_only(filters: dict[str, list[str]]) -> bool:
    return bool_or_default(filters, "dangling", True)
