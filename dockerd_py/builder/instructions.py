"""The instructions that only change the image config (ENV, LABEL, CMD, ...).

A mixin of `Builder`: each `_do_<instruction>` updates `state.run_config` and
commits the step with the legacy builder's `#(nop)` comment (`_commit_config`).
"""

from __future__ import annotations

import json
from typing import Iterator

from ..images.changes import parse_healthcheck, port_keys, set_env, valid_stop_signal
from . import goformat, parse
from .state import DEFAULT_SHELL, BuildError, Message, State


class ConfigInstructions:
    """Needs from the builder: `_word(state, word)`, `_commit_config(state, comment)`, `meta`, `used_args`."""

    meta: dict[str, str | None]     # the values of the ARGs before the first FROM
    used_args: set[str]             # ARG names declared anywhere (for the unused build-args warning)

    def _pairs(self, state: State, ins: parse.Instruction) -> list[tuple[str, str]]:
        args = ins.args
        if len(args) % 2:
            raise BuildError(f"{ins.cmd} must have two arguments")
        if ins.literal:
            return list(zip(args[::2], args[1::2]))
        out = []
        for k, v in zip(args[::2], args[1::2]):
            key = self._word(state, k)
            if not key:
                raise BuildError(f"{ins.cmd} names can not be blank")
            out.append((key, self._word(state, v)))
        return out

    def _do_env(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        pairs = self._pairs(state, ins)
        env = list(state.run_config.get("Env") or [])
        for name, value in pairs:
            set_env(env, name, value)
        state.run_config["Env"] = env
        yield from self._commit_config(state, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))

    def _do_label(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        pairs = self._pairs(state, ins)
        labels = dict(state.run_config.get("Labels") or {})
        labels.update(pairs)
        state.run_config["Labels"] = labels
        yield from self._commit_config(state, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))

    def _do_maintainer(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        state.maintainer = " ".join(ins.args)
        yield from self._commit_config(state, "MAINTAINER " + state.maintainer)

    def _do_expose(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        words = [self._word(state, w) for w in ins.args]
        ports = dict(state.run_config.get("ExposedPorts") or {})
        for port in port_keys(words):
            ports[port] = {}
        state.run_config["ExposedPorts"] = ports
        yield from self._commit_config(state, "EXPOSE " + " ".join(words))

    def _do_user(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        state.run_config["User"] = self._word(state, " ".join(ins.args))
        yield from self._commit_config(state, "USER " + state.run_config["User"])

    def _do_volume(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        vols = [self._word(state, w) if not ins.json else w for w in ins.args]
        volumes = dict(state.run_config.get("Volumes") or {})
        for v in vols:
            if not v.strip():
                raise BuildError("VOLUME specified can not be an empty string")
            volumes[v.strip()] = {}
        state.run_config["Volumes"] = volumes
        yield from self._commit_config(state, f"VOLUME [{' '.join(vols)}]")

    def _do_stopsignal(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        sig = self._word(state, ins.args[0])
        if not valid_stop_signal(sig):
            raise BuildError(f"Invalid signal: {sig}")
        state.run_config["StopSignal"] = sig
        yield from self._commit_config(state, "STOPSIGNAL " + sig)

    def _do_healthcheck(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        flags = " ".join(f"--{k}={v}" for k, v in ins.flags.items())
        kind, rest = ins.args[0], ins.args[1:]
        body = " ".join(a for a in [flags, kind] if a)
        if rest:
            body += " " + (json.dumps(rest) if ins.json else rest[0])
        hc = parse_healthcheck(body)
        state.run_config["Healthcheck"] = hc
        yield from self._commit_config(state, "HEALTHCHECK " + goformat.healthcheck(hc))

    def _command(self, state: State, ins: parse.Instruction) -> list[str]:
        if ins.json:
            return list(ins.args)
        shell = list(state.run_config.get("Shell") or DEFAULT_SHELL)
        return shell + ([" ".join(ins.args)] if ins.args else [])   # a bare RUN runs `sh -c` (exit 2)

    def _do_cmd(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        state.run_config["Cmd"] = self._command(state, ins)
        state.cmd_set = True
        yield from self._commit_config(state, "CMD " + goformat.quote_list(state.run_config["Cmd"]))

    def _do_entrypoint(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        state.run_config["Entrypoint"] = self._command(state, ins) if ins.args != [""] else None
        if not state.cmd_set:
            state.run_config["Cmd"] = None
        yield from self._commit_config(state, "ENTRYPOINT " + goformat.quote_list(state.run_config["Entrypoint"]))

    def _do_shell(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        state.run_config["Shell"] = list(ins.args)
        yield from self._commit_config(state, f"SHELL [{' '.join(ins.args)}]")

    def _do_onbuild(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        expression = ins.original.split(None, 1)[1].strip() if len(ins.original.split(None, 1)) > 1 else ""
        state.run_config["OnBuild"] = list(state.run_config.get("OnBuild") or []) + [expression]
        yield from self._commit_config(state, "ONBUILD " + expression)

    def _do_arg(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        shown = []
        for word in ins.args:
            name, sep, default = word.partition("=")
            value: str | None = self._word(state, default) if sep else None
            if not sep and name in self.meta:
                value = self.meta[name]
            state.args[name] = value
            self.used_args.add(name)
            shown.append(f"{name}={value}" if sep else name)
        yield from self._commit_config(state, "ARG " + " ".join(shown))
