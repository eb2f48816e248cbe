"""`GET /images/json` filters: dangling, label, before, since, reference, until."""

from ..errors import InvalidParameter
from ..filters import exact_bool, labels_match
from . import pathmatch
from .imagedb import Image
from .reference import Reference

ALLOWED = {"dangling", "label", "before", "since", "reference", "until"}


def intermediate(store, image: Image) -> bool:
    """An untagged parent of other images (a build step): hidden unless `all`, as Docker does."""
    return not store.references(image) and bool(store.children(image.id))


def matches(store, image: Image, filters: dict[str, list[str]], parse_time) -> bool:
    """Keys are ANDed; values of one key ORed, except labels, which must all match."""
    refs = store.references(image)
    dangling = exact_bool(filters, "dangling")
    if dangling is not None and bool(refs) == dangling:
        return False
    if not labels_match(image.labels, filters.get("label", [])):
        return False
    for key, newer in (("before", False), ("since", True)):
        for ref in filters.get(key, []):
            other = store.get(ref)
            if (image.created_unix <= other.created_unix) if newer else (image.created_unix >= other.created_unix):
                return False
    if "until" in filters:
        limit = parse_time(filters["until"][0]) // 10**9
        if image.created_unix >= limit:
            return False
    return "reference" not in filters or bool(by_reference(refs, filters["reference"]))


def by_reference(refs: list[Reference], patterns: list[str] | None) -> list[Reference]:
    """The references a `reference=` filter lets through (all without one): reference.FamiliarMatch,
    the familiar string or else the familiar name matching Go's path.Match."""
    if patterns is None:
        return refs
    try:
        return [r for r in refs
                if any(pathmatch.match(p, r.familiar()) or pathmatch.match(p, r.familiar_name) for p in patterns)]
    except pathmatch.BadPattern as e:
        raise InvalidParameter(str(e)) from None
