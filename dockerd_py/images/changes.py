"""`docker import --change` / commit changes: Dockerfile instructions applied to a Config.

The config is Docker's container.Config as Go serialises it (field order,
`null` for unset lists and maps, omitempty fields left out when empty).
"""

from __future__ import annotations

import json
import os
import re
import signal
from typing import Any

from .. import errors
from .words import process_word, process_words, split_words

VALID = ("cmd", "entrypoint", "healthcheck", "env", "expose", "label",
         "onbuild", "stopsignal", "user", "volume", "workdir")

_FIELDS: tuple[tuple[str, bool], ...] = (   # (name, omitempty) in Go's order
    ("Hostname", False), ("Domainname", False), ("User", False),
    ("AttachStdin", False), ("AttachStdout", False), ("AttachStderr", False),
    ("ExposedPorts", True), ("Tty", False), ("OpenStdin", False), ("StdinOnce", False),
    ("Env", False), ("Cmd", False), ("Healthcheck", True), ("ArgsEscaped", True),
    ("Image", False), ("Volumes", False), ("WorkingDir", False), ("Entrypoint", False),
    ("NetworkDisabled", True), ("MacAddress", True), ("OnBuild", False), ("Labels", False),
    ("StopSignal", True), ("StopTimeout", True), ("Shell", True),
)
_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


def go_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Order and trim a Config dict the way Go's encoding/json writes container.Config."""
    out: dict[str, Any] = {}
    for name, omitempty in _FIELDS:
        value = cfg.get(name, _DEFAULTS.get(name))
        if omitempty and not value:
            continue
        if name in ("ExposedPorts", "Volumes", "Labels") and isinstance(value, dict):
            value = dict(sorted(value.items()))
        out[name] = value
    return out


def _lines(changes: list[str]) -> list[str]:
    """Join continuation lines, drop comments and blanks."""
    out: list[str] = []
    pending = ""
    for raw in "\n".join(changes).split("\n"):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        out.append(pending + raw)
        pending = ""
    if pending.strip():
        out.append(pending)
    return out


def _json_list(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, tail = rest.partition(" ")
        name, sep, value = word[2:].partition("=")
        if not sep:
            raise errors.InvalidParameter(f"missing a value on flag: {word}")
        flags[name] = value
        rest = tail.lstrip()
    return flags, rest


def _name_values(rest: str, key: str, env: list[str]) -> list[tuple[str, str]]:
    words = split_words(rest)
    if not words:
        raise errors.InvalidParameter(f"{key} requires at least one argument")
    if "=" not in words[0]:
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise errors.InvalidParameter(f"{key} must have two arguments")
        return [(process_word(parts[0], env), process_word(parts[1], env))]
    pairs = []
    for word in words:
        if "=" not in word:
            raise errors.InvalidParameter(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        name, _, value = word.partition("=")
        name = process_word(name, env)
        if not name:
            raise errors.InvalidParameter(f"{key} names can not be blank")
        pairs.append((name, process_word(value, env)))
    return pairs


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_RE.match(text, pos)
        if not m:
            raise errors.InvalidParameter(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return int(total)


def set_env(env: list[str], name: str, value: str) -> None:
    """ENV: replace every `name=` entry in place, or append one (Docker's order)."""
    entry = f"{name}={value}"
    hits = [i for i, e in enumerate(env) if e.partition("=")[0] == name]
    for i in hits:
        env[i] = entry
    if not hits:
        env.append(entry)


def valid_stop_signal(sig: str) -> bool:
    if sig.isdigit():
        return 0 < int(sig) < 65
    name = sig.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    return hasattr(signal.Signals, name) or re.match(r"^SIGRTM(IN|AX)([+-]\d+)?$", name) is not None


def port_keys(specs: list[str]) -> list[str]:
    out = []
    for spec in specs:
        port, _, proto = spec.rpartition(":")[2].partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise errors.InvalidParameter(f"invalid proto: {proto}")
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or int(lo) > 65535 or (hi and int(hi) > 65535):
            raise errors.InvalidParameter(f"invalid containerPort: {port}")
        if hi and int(hi) < int(lo):
            raise errors.InvalidParameter(f"invalid range specified for container port: {port}")
        for p in range(int(lo), int(hi or lo) + 1):
            out.append(f"{p}/{proto}")
    return out


class _State:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.cmd_set = False

    @property
    def env(self) -> list[str]:
        return list(self.cfg.get("Env") or [])


def _command(rest: str) -> list[str]:
    exec_form = _json_list(rest)
    return exec_form if exec_form is not None else ["/bin/sh", "-c", rest]


def parse_healthcheck(rest: str) -> dict[str, Any]:
    flags, rest = _flags(rest)
    kind, _, args = rest.partition(" ")
    kind = kind.upper()
    if kind == "NONE":
        if args.strip() or flags:
            raise errors.InvalidParameter("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise errors.InvalidParameter(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    args = args.strip()
    exec_form = _json_list(args)
    if not (exec_form if exec_form is not None else args):
        raise errors.InvalidParameter("Missing command after HEALTHCHECK CMD")
    test = ["CMD"] + exec_form if exec_form is not None else ["CMD-SHELL", args]
    hc: dict[str, Any] = {"Test": test}
    for flag, field in (("interval", "Interval"), ("timeout", "Timeout"),
                        ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        if flag in flags:
            value = parse_duration(flags.pop(flag))
            if value:
                hc[field] = value
    if "retries" in flags:
        try:
            retries = int(flags.pop("retries"))
        except ValueError as e:
            raise errors.InvalidParameter(str(e)) from e
        if retries < 0:
            raise errors.InvalidParameter("--retries cannot be negative")
        if retries:
            hc["Retries"] = retries
    if flags:
        raise errors.InvalidParameter(f"Unknown flag: {next(iter(flags))}")
    return hc


def _dispatch(state: _State, instr: str, original: str, rest: str) -> None:
    cfg = state.cfg
    if instr == "cmd":
        cfg["Cmd"] = _command(rest)
        state.cmd_set = True
    elif instr == "entrypoint":
        cfg["Entrypoint"] = _command(rest)
        if not state.cmd_set:
            cfg["Cmd"] = None
    elif instr == "env":
        env = state.env
        for name, value in _name_values(rest, "ENV", state.env):
            set_env(env, name, value)
        cfg["Env"] = env
    elif instr == "label":
        labels = dict(cfg.get("Labels") or {})
        for name, value in _name_values(rest, "LABEL", state.env):
            labels[name] = value
        cfg["Labels"] = labels
    elif instr == "expose":
        words = process_words(rest, state.env)
        if not words:
            raise errors.InvalidParameter("EXPOSE requires at least one argument")
        ports = dict(cfg.get("ExposedPorts") or {})
        for port in port_keys(words):
            ports[port] = {}
        cfg["ExposedPorts"] = ports
    elif instr == "user":
        if not rest:
            raise errors.InvalidParameter("USER requires exactly one argument")
        cfg["User"] = process_word(rest, state.env)
    elif instr == "workdir":
        if not rest:
            raise errors.InvalidParameter("WORKDIR requires exactly one argument")
        path = process_word(rest, state.env)
        if not path.startswith("/"):
            path = os.path.join("/", cfg.get("WorkingDir") or "", path)
        cfg["WorkingDir"] = os.path.normpath(path).replace("//", "/")
    elif instr == "volume":
        vols = _json_list(rest)
        if vols is None:
            vols = process_words(rest, state.env)
        if not vols:
            raise errors.InvalidParameter("VOLUME requires at least one argument")
        volumes = dict(cfg.get("Volumes") or {})
        for v in vols:
            v = v.strip()
            if not v:
                raise errors.InvalidParameter("VOLUME specified can not be an empty string")
            volumes[v] = {}
        cfg["Volumes"] = volumes
    elif instr == "stopsignal":
        sig = process_word(rest, state.env)
        if not valid_stop_signal(sig):
            raise errors.InvalidParameter(f"Invalid signal: {sig}")
        cfg["StopSignal"] = sig
    elif instr == "onbuild":
        trigger = rest.split(None, 1)[0].upper() if rest.split() else ""
        if not trigger:
            raise errors.InvalidParameter("ONBUILD requires at least one argument")
        if trigger == "ONBUILD":
            raise errors.InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise errors.InvalidParameter(f"{trigger} isn't allowed as an ONBUILD trigger")
        expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", original)
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [expression]
    elif instr == "healthcheck":
        if not rest.strip():
            raise errors.InvalidParameter("HEALTHCHECK requires at least one argument")
        cfg["Healthcheck"] = parse_healthcheck(rest)


def apply_changes(config: dict[str, Any] | None, changes: list[str]) -> dict[str, Any]:
    """BuildFromConfig: apply Dockerfile-style `changes` to a copy of `config`."""
    cfg: dict[str, Any] = json.loads(json.dumps(config or {}))
    parsed = []
    for line in _lines(changes):
        stripped = line.strip()
        instr, _, rest = stripped.partition(" ")
        if "\t" in instr:
            instr, _, more = instr.partition("\t")
            rest = more + " " + rest
        parsed.append((instr.lower(), stripped, rest.strip()))
    for instr, _, _ in parsed:
        if instr not in VALID:
            raise errors.InvalidParameter(f"{instr} is not a valid change command")
    state = _State(cfg)
    for instr, original, rest in parsed:
        try:
            _dispatch(state, instr, original, rest)
        except ValueError as e:
            raise errors.InvalidParameter(str(e)) from e
    return go_config(cfg)
