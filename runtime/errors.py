"""Error classes. Every error ends as exit status 1 plus a runc-like message."""


class RuntimeErr(Exception):
    """Base error of the runtime; ``str(e)`` is the message shown to the user."""

    exit_code = 1


class ConfigError(RuntimeErr):
    """config.json is missing, malformed or asks for something unsupported."""


class NotFound(RuntimeErr):
    """The container does not exist under --root."""


class Exists(RuntimeErr):
    """A container with this id already exists."""


class IncorrectStatus(RuntimeErr):
    """The verb is not allowed in the container's current status."""


class SysError(RuntimeErr):
    """A system call failed."""


class UsageError(RuntimeErr):
    """The command line itself is wrong (runc: "Incorrect Usage", exit 1 for every verb)."""


class UnknownCommand(UsageError):
    """No such verb (runc exits 3 for it)."""

    exit_code = 3
