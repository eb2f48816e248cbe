"""HostConfig.LogConfig: its checks, with moby's texts (daemon/logger's ValidateLogOpts at create,
the json-file and local drivers' New at start).

Containers log in the json-file format whatever the driver is called (syslog, gelf... are not
implemented); `none` writes nothing. max-size/max-file/compress are applied by the shim
(shim/logfile.py), for `local` with that driver's defaults (20 MiB, 5 files, compressed).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ...errors import InvalidParameter
from ...goflags import parse_bool

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


class Rotation(NamedTuple):
    """The json-file log's rotation: max_size in bytes (0: none), max_file files in all."""
    max_size: int = 0
    max_file: int = 1
    compress: bool = False

    def shim_fields(self) -> dict:
        """As TaskConfig's (shim.json's) log_max_size, log_max_file, log_compress."""
        return {"log_max_size": self.max_size, "log_max_file": self.max_file, "log_compress": self.compress}


_LOCAL_DEFAULTS = Rotation(20 * 1024 * 1024, 5, True)  # moby's local driver


def driver(log_config: dict | None) -> str:
    return (log_config or {}).get("Type") or "json-file"


def _options(log_config: dict | None) -> dict[str, str]:
    return dict((log_config or {}).get("Config") or {})


def _check_size(text: str) -> None:
    match = _SIZE.match(text)
    if not match or match.group(1).count(".") > 1:  # go-units parses the number as a float
        raise ValueError(f"invalid size: '{text}'")


def rotation(log_config: dict | None) -> Rotation:
    """The rotation the shim applies (and the files `docker logs` reads)."""
    name, opts = driver(log_config), _options(log_config)
    base = _LOCAL_DEFAULTS if name == "local" else Rotation()
    try:
        _check_values(name, opts)
    except ValueError:  # check_start refuses these: a container never started with them has no log
        return base
    if name not in _KEYS:
        return base
    size = _ram_in_bytes(opts["max-size"]) if "max-size" in opts else base.max_size
    return Rotation(size, int(opts.get("max-file", base.max_file)),
                    parse_bool(opts["compress"]) if "compress" in opts else base.compress)


def _ram_in_bytes(text: str) -> int:
    """go-units' RAMInBytes: binary multiples (1k = 1024)."""
    number, unit = _SIZE.match(text).groups()
    return int(float(number) * 1024 ** (" kmgtp".index(unit.lower()) if unit else 0))


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
        if parse_bool(opts["compress"]) and (max_file == 1 or size is None):  # ValueError: Go's text
            raise ValueError("compress cannot be true when max-file is less than 2 or max-size is not set")
