"""Container names and ID resolution, as Docker does them.

Lookup order: full ID, exact name, then a unique ID prefix.
"""

import random
import re
import threading

from ...errors import Conflict, InvalidParameter, no_such_container

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = ("agile", "bold", "brave", "bright", "calm", "clever", "cool", "eager", "fair", "gentle", "happy",
               "jolly", "keen", "kind", "lively", "lucid", "merry", "modest", "nimble", "noble", "patient",
               "quiet", "quirky", "sharp", "silly", "steady", "sunny", "swift", "tender", "vivid", "wise", "witty")
_SURNAMES = ("babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday", "fermi", "gauss",
             "hopper", "hypatia", "kepler", "knuth", "lamport", "lovelace", "maxwell", "meitner", "newton",
             "noether", "pascal", "planck", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing",
             "wozniak", "yalow")


class NameRegistry:
    """Maps names and IDs to container IDs; reservations are atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, str] = {}  # "/name" -> id
        self._ids: set[str] = set()

    def reserve(self, name: str, container_id: str) -> None:
        with self._lock:
            owner = self._by_name.get(name)
            if owner is not None and owner != container_id:
                raise Conflict(f'Conflict. The container name "{name}" is already in use by container "{owner}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
            self._by_name[name] = container_id
            self._ids.add(container_id)

    def release(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._ids.discard(container_id)
            for name in [n for n, i in self._by_name.items() if i == container_id]:
                del self._by_name[name]

    def reserve_alias(self, name: str, container_id: str) -> bool:
        """A further name of a container (a legacy link's ``/parent/alias``); False if taken."""
        with self._lock:
            if self._by_name.get(name, container_id) != container_id:
                return False
            self._by_name[name] = container_id
            return True

    def owner(self, name: str) -> str | None:
        """The container id of an exact name ("/x" or "/parent/alias"), if any."""
        with self._lock:
            return self._by_name.get(name)

    def aliases_of(self, container_id: str) -> list[str]:
        """A container's link names (``/parent/alias``), sorted."""
        with self._lock:
            return sorted(n for n, i in self._by_name.items() if i == container_id and n.count("/") > 1)

    def generate(self, container_id: str) -> str:
        for attempt in range(50):
            name = f"/{random.choice(_ADJECTIVES)}_{random.choice(_SURNAMES)}"
            if attempt > 10:
                name += str(random.randint(0, 99))
            try:
                self.reserve(name, container_id)
                return name
            except Conflict:
                continue
        raise Conflict("could not generate a unique container name")

    def resolve(self, ref: str) -> str:
        with self._lock:
            if ref in self._ids:
                return ref
            by_name = self._by_name.get(ref if ref.startswith("/") else "/" + ref)
            if by_name is not None:
                return by_name
            if ref and re.fullmatch(r"[0-9a-f]+", ref):
                matches = [i for i in self._ids if i.startswith(ref)]
                if len(matches) == 1:
                    return matches[0]
                if len(matches) > 1:
                    raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise no_such_container(ref)


def normalize(name: str) -> str:
    """'/x' or 'x' → '/x', validating Docker's name rule (its error says the name as given)."""
    if not VALID_NAME.match(name):
        raise InvalidParameter(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name if name.startswith("/") else "/" + name
