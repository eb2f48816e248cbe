"""The Dockerfile as stages of instructions, parsed with BuildKit's own parser.

The `dockerfile` package wraps moby/buildkit's Go parser (directives, line
continuations, heredocs, JSON and shell forms); this module checks what the
legacy builder checks at parse time and splits the result into the meta ARGs
before the first FROM and one `Stage` per FROM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile

from ..errors import InvalidParameter
from ..images.changes import parse_duration
from .goformat import quote

INSTRUCTIONS = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
_FLAGS = {"ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
          "COPY": {"chown", "chmod", "from", "link", "parents", "exclude"}, "FROM": {"platform"},
          "RUN": {"mount", "network", "security"},
          "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"}}
_ESCAPE_RE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


BUILDKIT_ONLY = {"mount", "network", "security", "link", "parents", "exclude", "checksum", "keep-git-dir"}


@dataclass
class Instruction:
    cmd: str                          # upper case
    original: str                     # the source text (continuations joined), shown in "Step N/M : ..."
    line: int
    flags: dict[str, str]
    args: list[str]                   # the words (JSON form: the list)
    json: bool = False
    heredocs: list[tuple[str, str]] = field(default_factory=list)   # (name, content)
    sub_cmd: str | None = None
    literal: bool = False             # words taken as they are (the LABELs of `--label`)

    def __str__(self) -> str:
        return self.original


@dataclass
class Stage:
    from_: Instruction
    base: str                         # unexpanded image word
    name: str                         # lower-cased `AS` name, or ""
    commands: list[Instruction] = field(default_factory=list)


@dataclass
class Parsed:
    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str


def _error(line: int, message: str) -> InvalidParameter:
    return InvalidParameter(f"dockerfile parse error line {line}: {message}")


def escape_token(text: str) -> str:
    """The `# escape=` directive (only in the leading comment block)."""
    for line in text.splitlines():
        m = _DIRECTIVE_RE.match(line.strip())
        if not m:
            break
        e = _ESCAPE_RE.match(line.strip())
        if e:
            if e.group(1) not in ("\\", "`"):
                raise InvalidParameter(f"invalid ESCAPE '{e.group(1)}'. Must be ` or \\")
            return e.group(1)
    return "\\"


def _flags(cmd: str, raw: tuple[str, ...], line: int) -> dict[str, str]:
    out: dict[str, str] = {}
    allowed = _FLAGS.get(cmd, set())
    for item in raw:
        name, sep, value = item[2:].partition("=")
        if name not in allowed:
            raise _error(line, f"Unknown flag: {name}")
        if not sep and name not in ("platform", "link", "parents", "keep-git-dir"):
            raise _error(line, f"Missing a value on flag: {name}")
        out[name] = value
    return out


def _instruction(c, line_offset: int = 0) -> Instruction:
    cmd = c.cmd.upper()
    line = c.start_line + line_offset
    if cmd not in INSTRUCTIONS:
        raise _error(line, f"unknown instruction: {c.cmd}")
    return Instruction(cmd=cmd, original=c.original.rstrip("\n") if not c.heredocs else c.original,
                       line=line, flags=_flags(cmd, c.flags, line), args=list(c.value), json=c.json,
                       heredocs=[(h.name, h.content) for h in c.heredocs], sub_cmd=c.sub_cmd)


def parse_one(text: str) -> Instruction:
    """One instruction (an ONBUILD trigger)."""
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as e:
        raise InvalidParameter(str(e)) from e
    if len(commands) != 1:
        raise InvalidParameter("onbuild trigger should be a single expression")
    return _instruction(commands[0])


def parse(text: str) -> Parsed:
    escape = escape_token(text)
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as e:
        raise InvalidParameter(f"failed to parse Dockerfile: {e}") from e
    if not commands:
        raise InvalidParameter("the Dockerfile (Dockerfile) cannot be empty")
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for c in commands:
        ins = _instruction(c)
        _check_args(ins)
        if ins.cmd == "FROM":
            words = ins.args
            if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
                raise _error(ins.line, "FROM requires either one or three arguments")
            name = words[2].lower() if len(words) == 3 else ""
            if name and not re.match(r"^[a-z][a-z0-9-_.]*$", name):
                raise _error(ins.line, f"invalid name for build stage: {quote(words[2])}, "
                                       "name can't start with a number or contain symbols")
            stages.append(Stage(from_=ins, base=words[0], name=name))
        elif not stages:
            if ins.cmd != "ARG":
                raise InvalidParameter("no build stage in current context")
            meta.append(ins)
        else:
            stages[-1].commands.append(ins)
    if not stages:
        raise InvalidParameter("no build stage in current context")
    return Parsed(meta, stages, escape)


_AT_LEAST_ONE = {"ADD": 2, "COPY": 2, "ENV": 1, "LABEL": 1, "EXPOSE": 1, "VOLUME": 1, "ARG": 1,
                 "ONBUILD": 1, "HEALTHCHECK": 1, "SHELL": 1}
_EXACTLY_ONE = {"USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"}
_WORDING = {"ADD": "ADD requires at least two arguments, but only one was provided. Destination could not be determined",
            "COPY": "COPY requires at least two arguments, but only one was provided. Destination could not be determined"}


def _check_args(ins: Instruction) -> None:
    if ins.cmd == "ONBUILD" and ins.sub_cmd:
        trigger = ins.sub_cmd.upper()
        if trigger == "ONBUILD":
            raise _error(ins.line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise _error(ins.line, f"{trigger} isn't allowed as an ONBUILD trigger")
    if ins.cmd in _EXACTLY_ONE and not [a for a in ins.args if a != ""]:
        raise _error(ins.line, f"{ins.cmd} requires exactly one argument")
    need = _AT_LEAST_ONE.get(ins.cmd, 0)
    if len([a for a in ins.args if a != ""]) < need and not (ins.heredocs and ins.args):
        if ins.cmd in _WORDING and ins.args:
            raise _error(ins.line, _WORDING[ins.cmd])
        raise _error(ins.line, f"{ins.cmd} requires at least one argument" if need == 1
                     else f"{ins.cmd} requires at least two arguments")
    if ins.cmd == "HEALTHCHECK":
        try:
            for name, value in ins.flags.items():
                if name == "retries":
                    if not re.fullmatch(r"[+-]?\d+", value):
                        raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
                else:
                    parse_duration(value)
        except (ValueError, InvalidParameter) as e:
            raise _error(ins.line, e.message if isinstance(e, InvalidParameter) else str(e)) from None
    if ins.cmd == "SHELL" and not ins.json:
        raise _error(ins.line, "SHELL requires the arguments to be in JSON form")
