"""Docker's response shapes: JSON bodies, errors, JSON-lines streams."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response

JSON = "application/json"


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_response(obj: Any, status: int = 200) -> Response:
    """A JSON body exactly as Go's encoder writes it: compact, newline-terminated."""
    return Response(dumps(obj) + "\n", status=status, content_type=JSON)


def error_response(message: str, status: int) -> Response:
    if status == 304:
        return Response(status=304)
    return json_response({"message": message}, status)


def no_content() -> Response:
    return Response(status=204)


def json_stream(objects: Iterable[Any]) -> Response:
    """One JSON object per line, flushed as produced (chunked, no Content-Length)."""

    def generate() -> Iterator[bytes]:
        for obj in objects:
            yield (dumps(obj) + "\n").encode()

    return Response(generate(), content_type=JSON, direct_passthrough=True)


STREAM_NEWLINE = "\r\n"  # moby's streamformatter ends each JSON progress message so (json.Encoder streams: "\n")


def progress_stream(messages: Iterator[Any], errors_in_band: bool = False) -> Response:
    """A JSON message stream whose first step runs before the status is sent.

    An error before the first message is an ordinary HTTP error (or, with
    `errors_in_band`, as for `docker load`, a 200 carrying it); a later one
    can only travel in-band, as Docker's `errorDetail` message.
    """
    from ..errors import DockerError
    from ..progress import error

    try:
        first = next(messages, None)
    except DockerError as e:
        if not errors_in_band:
            raise
        first, messages = error(e.message), iter(())

    def generate() -> Iterator[bytes]:
        if first is not None:
            yield (dumps(first) + STREAM_NEWLINE).encode()
        try:
            for message in messages:
                yield (dumps(message) + STREAM_NEWLINE).encode()
        except DockerError as e:
            yield (dumps(error(e.message)) + STREAM_NEWLINE).encode()
        finally:  # a client that went away ends the producer now (its cleanup runs), not at garbage collection
            close = getattr(messages, "close", None)
            if close is not None:
                close()

    return Response(generate(), content_type=JSON, direct_passthrough=True)
