"""Docker's retry policy for blob transfers: 5 attempts, waiting 5 s times the attempt number."""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any, Callable

from .. import progress
from .client import TransportError

MAX_ATTEMPTS = 5
RETRY_DELAY = 5             # seconds, times the attempt number
RETRYABLE = (TransportError, ConnectionError, socket.timeout, http.client.HTTPException)


def countdown(ident: str, attempt: int, emit: Callable[[dict[str, Any]], None],
              abandoned: Callable[[], bool]) -> bool:
    """`Retrying in N seconds` each second before the next attempt; False if abandoned meanwhile."""
    for left in range(attempt * RETRY_DELAY, 0, -1):
        emit(progress.update(ident, f"Retrying in {left} second{'s' if left > 1 else ''}"))
        time.sleep(1)
        if abandoned():
            return False
    return True
