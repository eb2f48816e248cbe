"""dockerd's option syntax, with dockerd's error texts: Go flag values and daemon.json's types.

- Flags: `flag_type(flag, parse)` makes an argparse type of a parser that raises ValueError
  with Go's text (`parse_bool`, `parse_int`, `parse_ip`, or a module's own), so a bad value
  ends the start with pflag's 'invalid argument "X" for "--flag" flag: <Go's text>'.
  `add_bool_flag` adds a Go boolean flag (``--icc``, ``--icc=false``). `DockerdArgumentParser`
  ends the start on a bad flag as dockerd does (exit status 125).
- daemon.json: `check_json_types` refuses a value of the wrong JSON type with encoding/json's
  text (a string is no bool, a number no string).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from .errors import json_kind

T = TypeVar("T")

_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
          **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}
_INT64 = (-(1 << 63), (1 << 63) - 1)
# daemon.json's accepted JSON types of an option and its Go type (for the error text)
JsonTypes = Mapping[str, tuple[tuple[type, ...], str]]


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text not in _BOOLS:
        raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
    return _BOOLS[text]


def parse_int(text: str) -> int:
    """Go's strconv.ParseInt(text, 10, 64): no spaces, no underscores."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def parse_ip(text: str) -> str:
    """An IP address, canonical."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text} is not an ip address") from None


def flag_error(flag: str, text: str, why: object) -> str:
    return f'invalid argument "{text}" for "{flag}" flag: {why}'


def flag_type(flag: str, parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type: `parse`'s ValueError becomes pflag's text."""
    def typed(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(flag_error(flag, text, e)) from None
    return typed


class DockerdArgumentParser(argparse.ArgumentParser):
    """A bad flag ends the start as dockerd's: its text (pflag's, without argparse's
    "argument --x:" prefix), a pointer to --help, exit status 125."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r'^argument [^:]+: (?=invalid argument ")', "", message)
        message = re.sub(r"^unrecognized arguments: (\S+).*", r"unknown flag: \1", message)
        self.exit(125, f"{message}\nSee '{self.prog} --help'.\n")


def add_bool_flag(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    parser.add_argument(flag, dest=flag[2:].replace("-", "_"), nargs="?", const=True, metavar="BOOL",
                        type=flag_type(flag, parse_bool), help=help)


def check_json_types(from_file: Mapping[str, Any], types: JsonTypes, keys: Mapping[str, str],
                     config_file: str) -> None:
    """The daemon.json values (by attribute) that `types` names: ValueError with dockerd's text
    where one's JSON type is not one Go takes there (`keys`: attribute -> daemon.json key)."""
    def bad(value: Any, attr: str, go_type: str) -> ValueError:
        return ValueError(f"unable to configure the Docker daemon with file {config_file}: json: cannot unmarshal "
                          f"{json_kind(value)} into Go struct field Config.{keys[attr]} "
                          f"of type {go_type}")

    for attr, (kinds, go_type) in types.items():
        if attr not in from_file:
            continue
        value = from_file[attr]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise bad(value, attr, go_type)
        if go_type == "[]string":
            for item in value:
                if not isinstance(item, str):
                    raise bad(item, attr, "string")
