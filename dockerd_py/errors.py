"""The one error taxonomy of the daemon.

Services raise these; the API layer maps them to HTTP status codes in one
place (`dockerd_py.api.errors`). The message is what the client prints after
"Error response from daemon: ", so use Docker's wording where clients show it.
"""


class DockerError(Exception):
    """Base class: an error with a Docker-compatible HTTP status."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(DockerError):
    status = 400


class Unauthorized(DockerError):
    status = 401


class Forbidden(DockerError):
    status = 403


class NotFound(DockerError):
    status = 404


class Conflict(DockerError):
    status = 409


class NotModified(DockerError):
    """304 with an empty body (start of a running container, stop of a stopped one)."""

    status = 304

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


class NotImplementedErr(DockerError):
    status = 501


class Unavailable(DockerError):
    status = 503


class SystemErr(DockerError):
    status = 500


def no_such_container(name: str) -> NotFound:
    return NotFound(f"No such container: {name}")


def no_such_image(name: str) -> NotFound:
    return NotFound(f"No such image: {name}")


def json_kind(value: object) -> str:
    """How Go's decoder names a JSON value's kind in "json: cannot unmarshal <kind> into ..."."""
    if isinstance(value, bool):
        return "bool"
    return {str: "string", int: "number", float: "number", list: "array", dict: "object"}.get(type(value), "value")


def wrapped(err: DockerError, context: str) -> DockerError:
    """`err` with Docker's errors.Wrap prefix ("context: message"), keeping its status."""
    out = type(err)(f"{context}: {err.message}")
    out.__cause__ = err
    return out
