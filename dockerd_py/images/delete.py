"""`docker rmi`: untag or delete, with Docker's conflict rules and messages.

`in_use(image_id)` answers which container uses an image: None, a container
id (taken as a stopped container), or `(container_id, running)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .. import errors
from .ids import short_id
from .imagedb import Image
from .reference import Reference, parse_normalized

if TYPE_CHECKING:
    from .store import ImageStore

InUse = Callable[[str], "str | tuple[str, bool] | None"]

CHILD, RUNNING, ACTIVE_REF, STOPPED = 1, 2, 4, 8
HARD = CHILD | RUNNING
SOFT = ACTIVE_REF | STOPPED


@dataclass
class _Conflict:
    image_id: str
    hard: bool
    used: bool
    message: str

    def error(self) -> errors.Conflict:
        force = "cannot be forced" if self.hard else "must be forced"
        return errors.Conflict(f"conflict: unable to delete {short_id(self.image_id)} ({force}) - {self.message}")


def _user(in_use: InUse | None, image_id: str) -> tuple[str, bool] | None:
    if in_use is None:
        return None
    found = in_use(image_id)
    if not found:
        return None
    if isinstance(found, tuple):
        return found[0], bool(found[1])
    return found, False


def is_id_prefix(image_id: str, candidate: str) -> bool:
    return image_id.startswith(candidate) or image_id.split(":", 1)[-1].startswith(candidate)


def single_reference(refs: list[Reference]) -> bool:
    """At most one tag, and every digest ref in that tag's repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            canonical.add(ref.name)
        elif single is None:
            single = ref
        else:
            return False
    single = single or refs[0]
    return len(canonical) == 1 and single.name in canonical


class Remover:
    """One `remove` call: collects the ImageDeleteResponseItem records."""

    def __init__(self, store: "ImageStore", in_use: InUse | None) -> None:
        self.store = store
        self.in_use = in_use
        self.records: list[dict[str, str]] = []

    def _untag(self, image: Image, ref: Reference) -> None:
        self.store.refs.delete(ref)
        self.records.append({"Untagged": ref.familiar()})
        self.store.emit("untag", image.id, image.id, image.labels)

    def _conflict(self, image: Image, mask: int) -> _Conflict | None:
        if mask & CHILD and self.store.children(image.id):
            return _Conflict(image.id, True, False, "image has dependent child images")
        user = _user(self.in_use, image.id)
        if mask & RUNNING and user and user[1]:
            return _Conflict(image.id, True, True,
                             f"image is being used by running container {short_id(user[0])}")
        if mask & ACTIVE_REF and self.store.refs.references(image.id):
            return _Conflict(image.id, False, False, "image is referenced in multiple repositories")
        if mask & STOPPED and user and not user[1]:
            return _Conflict(image.id, False, True,
                             f"image is being used by stopped container {short_id(user[0])}")
        return None

    def remove(self, ref: str, image: Image, force: bool, prune: bool) -> list[dict[str, str]]:
        refs = self.store.refs.references(image.id)
        removed_repo_ref = False
        if not is_id_prefix(image.id, ref):
            if not force and single_reference(refs):
                user = _user(self.in_use, image.id)
                if user:
                    raise errors.Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) - '
                        f"container {short_id(user[0])} is using its referenced image {image.short_id}")
            parsed = parse_normalized(ref).with_default_tag()
            if self.store.refs.get(parsed) is None:
                raise errors.no_such_image(parsed.familiar())
            self._untag(image, parsed)
            refs = self.store.refs.references(image.id)
            if parsed.digest is None and not any(r.digest is None and r.name == parsed.name for r in refs):
                remaining = []
                for r in refs:
                    if r.digest is not None and r.name == parsed.name:
                        self._untag(image, r)
                    else:
                        remaining.append(r)
                refs = remaining
            if refs:
                return self.records
            removed_repo_ref = True
        elif single_reference(refs):
            mask = HARD | (0 if force else SOFT & ~ACTIVE_REF)
            conflict = self._conflict(image, mask)
            if conflict:
                raise conflict.error()
            for r in refs:
                self._untag(image, r)
        self._delete(image, force, prune, quiet=removed_repo_ref)
        return self.records

    def _dangling(self, image: Image) -> bool:
        return not self.store.refs.references(image.id) and not self.store.children(image.id)

    def _delete(self, image: Image, force: bool, prune: bool, quiet: bool) -> bool:
        conflict = self._conflict(image, HARD | (0 if force else SOFT))
        if conflict:
            if quiet and (not self._dangling(image) or conflict.used):
                return False
            raise conflict.error()
        parent = self.store.parent_of(image.id)
        for r in self.store.refs.references(image.id):
            self._untag(image, r)
        removed_layers = self.store.drop_image(image)
        self.store.emit("delete", image.id, image.id)
        self.records.append({"Deleted": image.id})
        self.records.extend({"Deleted": chain} for chain in removed_layers)
        if prune and parent:
            parent_image = self.store.images.get(parent)
            if parent_image is not None and self._dangling(parent_image):
                self._delete(parent_image, False, prune, quiet=True)
        return True
