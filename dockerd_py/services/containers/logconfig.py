"""HostConfig.LogConfig: its checks, with moby's texts (daemon/logger's ValidateLogOpts at create,
the json-file and local drivers' New at start).

Containers log in the json-file format whatever the driver is called (syslog, gelf... are not
implemented); `none` writes nothing. max-size/max-file are checked, not yet applied (no rotation).
"""

from __future__ import annotations

import re

from ...errors import InvalidParameter

# The log drivers a Linux dockerd has built in; any other name is looked up as a plugin.
BUILTIN = ("none", "json-file", "local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "gcplogs",
           "logentries")
_KEYS = {  # the option names the drivers this daemon writes accept (mode, max-buffer-size: every driver's)
    "json-file": ("max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"),
    "local": ("max-file", "max-size", "compress"),
}
_UNKNOWN_KEY = {"json-file": "unknown log opt '{}' for json-file log driver",
                "local": "unknown log opt '{}' for log driver local"}
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")  # go-units' size syntax


def driver(log_config: dict | None) -> str:
    return (log_config or {}).get("Type") or "json-file"


def _options(log_config: dict | None) -> dict[str, str]:
    return dict((log_config or {}).get("Config") or {})


def _check_size(text: str) -> None:
    if not _SIZE.match(text):
        raise ValueError(f"invalid size: '{text}'")


def validate(log_config: dict | None) -> None:
    """At create: logger.ValidateLogOpts."""
    name, opts = driver(log_config), _options(log_config)
    if name == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            raise InvalidParameter("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            _check_size(opts["max-buffer-size"])
        except ValueError as e:
            raise InvalidParameter(f"error parsing option max-buffer-size: {e}") from None
    if name not in BUILTIN:
        raise InvalidParameter(f'error looking up logging plugin {name}: plugin "{name}" not found')
    for key in opts:
        if key not in ("mode", "max-buffer-size") and name in _KEYS and key not in _KEYS[name]:
            raise InvalidParameter(_UNKNOWN_KEY[name].format(key))


def check_start(log_config: dict | None) -> None:
    """At start: the values the json-file (or local) driver reads when it is made."""
    name, opts = driver(log_config), _options(log_config)
    if name not in _KEYS:
        return
    try:
        _check_values(name, opts)
    except ValueError as e:
        raise InvalidParameter(f"failed to initialize logging driver: {e}") from None


def _check_values(name: str, opts: dict[str, str]) -> None:
    size = opts.get("max-size")
    if size is not None:
        try:
            _check_size(size)
        except ValueError as e:
            raise ValueError(f"invalid value for max-size: {size}: {e}" if name == "local" else str(e)) from None
        if name == "json-file" and float(_SIZE.match(size).group(1)) == 0:
            raise ValueError("max-size must be a positive number")
    max_file = 1
    if "max-file" in opts:
        text = opts["max-file"]
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            atoi = f'strconv.Atoi: parsing "{text}": invalid syntax'
            raise ValueError(f"invalid value for max-file: {text}: {atoi}" if name == "local" else atoi)
        max_file = int(text)
        if max_file < 1:
            raise ValueError("max-file cannot be less than 1")
    if name == "json-file" and "compress" in opts:
        word = opts["compress"]
        if word not in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
            raise ValueError(f'strconv.ParseBool: parsing "{word}": invalid syntax')
        if word in ("1", "t", "T", "TRUE", "true", "True") and (max_file == 1 or size is None):
            raise ValueError("compress cannot be true when max-file is less than 2 or max-size is not set")
