"""The event bus: a ring of recent events for since/until, and live subscribers.

Snapshot and subscription happen under one lock, so no event falls into the
gap between replay and live delivery.
"""

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

RING_SIZE = 256


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    scope: str = "local"
    time_nano: int = field(default_factory=time.time_ns)

    def to_json(self) -> dict:
        msg = {"Type": self.type, "Action": self.action,
               "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
               "scope": self.scope, "time": self.time_nano // 10**9, "timeNano": self.time_nano}
        if self.type in ("container", "image"):
            # the deprecated top-level fields docker-py and older clients still read
            msg["status"] = self.action
            msg["id"] = self.actor_id
            if self.type == "container" and "image" in self.attributes:
                msg["from"] = self.attributes["image"]
        return msg


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: collections.deque[Event] = collections.deque(maxlen=RING_SIZE)
        self._subscribers: list[queue.SimpleQueue] = []

    def publish(self, type: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> Event:
        event = Event(type, action, actor_id, dict(attributes or {}))
        with self._lock:
            self._ring.append(event)
            subscribers = list(self._subscribers)
        for q in subscribers:
            q.put(event)
        return event

    @property
    def listeners(self) -> int:
        """How many clients follow the live stream now (`docker info`'s NEventsListener)."""
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, since_nano: int | None, until_nano: int | None) -> Iterator[Event | None]:
        """Past events from `since`, then live ones until `until` (or forever).

        Yields None about once a second while idle, so the caller can check
        whether its client is still there.
        """
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            # Docker replays its ring when either bound is given (since defaults to the epoch)
            replay = since_nano is not None or until_nano is not None
            past = [e for e in self._ring if e.time_nano >= (since_nano or 0)] if replay else []
            live = until_nano is None or until_nano > time.time_ns()
            if live:
                self._subscribers.append(q)
        try:
            for event in past:
                if until_nano is not None and event.time_nano > until_nano:
                    return
                yield event
            while live:
                timeout = 1.0 if until_nano is None else min(1.0, max(0.0, (until_nano - time.time_ns()) / 1e9))
                try:
                    event = q.get(timeout=timeout)
                except queue.Empty:
                    if until_nano is not None and time.time_ns() >= until_nano:
                        return
                    yield None  # a heartbeat lets the stream notice a closed client
                    continue
                if until_nano is not None and event.time_nano > until_nano:
                    return
                yield event
        finally:
            with self._lock:
                if q in self._subscribers:
                    self._subscribers.remove(q)
