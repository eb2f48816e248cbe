"""Blob downloads shared by concurrent pulls (what Docker's transfer manager does for layers).

Two pulls that need the same blob (the same base layers of two images, say)
fetch it once: the first to ask downloads it, the others watch its progress
and use its file. The file is removed when the last pull using it lets go;
the download stops early only when every pull that wanted it has gone.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Callable

Watcher = Callable[[dict[str, Any]], None]


class Blob:
    def __init__(self, digest: str, path: str) -> None:
        self.digest = digest
        self.path = path
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.users = 0
        self.watchers: dict[int, Watcher] = {}

    @property
    def wanted(self) -> bool:
        """False once every pull that asked for it has gone: the download can stop."""
        return bool(self.watchers)


class BlobDownloads:
    def __init__(self, temp_path: Callable[[], str]) -> None:
        self._temp_path = temp_path
        self._lock = threading.Lock()
        self._blobs: dict[str, Blob] = {}
        self._tokens = itertools.count()

    def acquire(self, digest: str, watcher: Watcher) -> tuple[Blob, bool, int]:
        """(the blob, whether the caller downloads it, a token to stop watching with)."""
        with self._lock:
            blob = self._blobs.get(digest)
            owner = blob is None or (blob.done.is_set() and blob.error is not None)
            if owner:
                blob = self._blobs[digest] = Blob(digest, self._temp_path())
            assert blob is not None
            blob.users += 1
            token = next(self._tokens)
            blob.watchers[token] = watcher
            return blob, owner, token

    def publish(self, blob: Blob, message: dict[str, Any]) -> None:
        with self._lock:
            watchers = list(blob.watchers.values())
        for watch in watchers:
            watch(message)

    def unwatch(self, blob: Blob, token: int) -> None:
        with self._lock:
            blob.watchers.pop(token, None)

    def release(self, blob: Blob, token: int) -> None:
        """This pull is done with the blob (registered it, or gave up); the last one removes the file."""
        with self._lock:
            blob.watchers.pop(token, None)
            blob.users -= 1
            if blob.users > 0:
                return
            if self._blobs.get(blob.digest) is blob:
                del self._blobs[blob.digest]
        try:
            os.unlink(blob.path)
        except FileNotFoundError:
            pass
