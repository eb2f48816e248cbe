"""The legacy (non-BuildKit) Dockerfile builder behind `POST /build`.

Each instruction yields Docker's stream messages as it goes. Instructions
that only change the config are committed from a created (never started)
container, RUN runs one, COPY/ADD write into a fresh read-write layer of the
current image; every step is a commit (images/commit.py) whose image config
and history are the legacy builder's (`/bin/sh -c #(nop) ...`, `|N ARG=v`
prefixes, `empty_layer`). Steps are looked up in the image cache first.
"""

from __future__ import annotations

import contextlib
import copy
import os
import select
import shutil
import socket
import struct
import threading
from typing import Any, Callable, ContextManager, Iterator

from ..errors import DockerError, InvalidParameter, NotFound
from ..images.changes import go_config
from ..images.commit import CommitRequest, commit
from ..images.ids import random_hex, short_id
from ..distribution.auth import AuthConfig
from ..distribution.registries import login_host
from ..images.reference import parse_normalized, repo_tag
from ..images.words import process_word
from . import copier, parse, tarsum
from .cache import ImageCache
from .context import BuildContext
from .instructions import ConfigInstructions
from .state import (BUILTIN_ARGS, DEFAULT_PATH, DEFAULT_SHELL, BuildError, BuildOptions, Message, State,
                    comment_cmd, comment_cmd_string, stream)

LAYER_PREFIX = "build-"            # layerdb mounts/<key> of the COPY/ADD scratch layers
_ACTIVE: set[str] = set()          # those in use by a running build
_ACTIVE_LOCK = threading.Lock()


def remove_stale_layers(store) -> None:
    """Drop the COPY/ADD scratch layers a stopped daemon left behind (none is in use)."""
    with _ACTIVE_LOCK:
        stale = [k for k in list(store.layers.mounts) if k.startswith(LAYER_PREFIX) and k not in _ACTIVE]
    for key in stale:
        store.unmount_rw_layer(key)
        store.remove_rw_layer(key)


class Builder(ConfigInstructions):
    """One build: `run()` yields the stream messages; the last aux message carries the image id."""

    def __init__(self, engine, ctx: BuildContext, options: BuildOptions,
                 client_gone: Callable[[], bool] = lambda: False) -> None:
        self.engine = engine
        self.client_gone = client_gone
        self.store = engine.images
        self.containers = engine.containers
        self.ctx = ctx
        self.opts = options
        self.parsed = parse.parse(ctx.dockerfile)
        self.escape = self.parsed.escape
        if any("@" in t for t in options.tags):
            raise InvalidParameter("build tag cannot contain a digest")
        self.tags = [repo_tag(t) for t in options.tags]
        stages = self.parsed.stages
        if options.target:
            names = [s.name for s in stages]
            if options.target.lower() not in names:
                raise InvalidParameter(f"failed to reach build target {options.target} in Dockerfile")
            stages = stages[:names.index(options.target.lower()) + 1]
        self.stages = stages
        self.label_steps = [parse.Instruction("LABEL", f"LABEL {k}={v}", 0, {}, [k, v], literal=True)
                            for k, v in sorted(options.labels.items())]   # NewLabelCommand: no expansion
        self.total = (len(self.parsed.meta_args) + sum(1 + len(s.commands) for s in stages)
                      + len(self.label_steps))
        self.step = 0
        self.cache = ImageCache(self.store, options.cache_from)
        self.cache_busted = options.no_cache
        self.meta: dict[str, str | None] = {}
        self.used_args: set[str] = set()
        self.stage_images: list[str] = []
        self.stage_names: dict[str, int] = {}
        self.live: list[str] = []          # intermediate containers not yet removed
        self.canceled = False
        remove_stale_layers(self.store)

    # -- the run ---------------------------------------------------------
    def run(self) -> Iterator[Message]:
        try:
            state = None
            for ins in self.parsed.meta_args:
                yield from self._print_step(ins.original)
                self._meta_arg(ins)
            for index, stage in enumerate(self.stages):
                if stage.name and stage.name in self.stage_names:
                    raise BuildError(f"duplicate name {stage.name}")
                yield from self._print_step(stage.from_.original)
                state = State()
                yield from self._from(stage, state)
                yield stream(f" ---> {self._short(state.image_id)}\n")
                commands = list(stage.commands)
                if index == len(self.stages) - 1:
                    commands += self.label_steps
                for ins in commands:
                    yield from self._print_step(ins.original)
                    yield from self._dispatch(state, ins)
                    state.run_config["Image"] = state.image_id
                    yield stream(f" ---> {self._short(state.image_id)}\n")
                if state.image_id:
                    yield {"aux": {"ID": state.image_id}}
                self.stage_images.append(state.image_id)
                if stage.name:
                    self.stage_names[stage.name] = index
            unused = sorted(k for k, v in self.opts.build_args.items()
                            if k not in self.used_args and k not in BUILTIN_ARGS)
            if unused:
                yield stream(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
            assert state is not None
            if not state.image_id:
                raise BuildError("No image was generated. Is your Dockerfile empty?")
            yield stream(f"Successfully built {short_id(state.image_id)}\n")
            for ref in self.tags:
                self.store.tag_ref(state.image_id, ref)
                yield stream(f"Successfully tagged {ref.familiar()}\n")
            self.image_id = state.image_id
        except GeneratorExit:        # the response was closed: the client went away
            self.canceled = True
            raise
        finally:
            self._remove_live()

    def _short(self, image_id: str) -> str:
        return short_id(image_id) if image_id else ""

    def _print_step(self, text: str) -> Iterator[Message]:
        self.step += 1
        yield stream(f"Step {self.step}/{self.total} : {text}")
        yield stream("\n")

    # -- args and words --------------------------------------------------
    def _meta_arg(self, ins: parse.Instruction) -> None:
        env = [f"{k}={v}" for k, v in self.meta.items() if v is not None]
        for word in ins.args:
            name, sep, default = word.partition("=")
            value = process_word(default, env, self.escape) if sep else None
            if name in self.opts.build_args and self.opts.build_args[name] is not None:
                value = self.opts.build_args[name]
            self.meta[name] = value
            self.used_args.add(name)

    def _arg_value(self, state: State, name: str) -> str | None:
        given = self.opts.build_args.get(name)
        if given is not None and (name in state.args or name in BUILTIN_ARGS):
            return given
        return state.args.get(name)

    def _allowed_args(self, state: State, env: list[str]) -> list[str]:
        """BuildArgs.FilterAllowed: the args in scope that ENV does not override, as k=v."""
        keys = {e.partition("=")[0] for e in env}
        names = list(state.args) + [n for n in BUILTIN_ARGS if n in self.opts.build_args and n not in state.args]
        out = []
        for name in names:
            value = self._arg_value(state, name)
            if value is not None and name not in keys:
                out.append(f"{name}={value}")
        return out

    def _env(self, state: State) -> list[str]:
        env = list(state.run_config.get("Env") or [])
        return self._allowed_args(state, env) + env

    def _word(self, state: State, word: str) -> str:
        try:
            return process_word(word, self._env(state), self.escape)
        except ValueError as e:
            raise BuildError(str(e)) from e

    # -- FROM -------------------------------------------------------------
    def _from(self, stage: parse.Stage, state: State) -> Iterator[Message]:
        env = [f"{k}={v}" for k, v in self.meta.items() if v is not None]
        name = process_word(stage.base, env, self.escape)
        platform = stage.from_.flags.get("platform", "")
        if platform:
            platform = process_word(platform, env, self.escape)
            if platform.split("/")[0] != "linux":
                raise BuildError(f"invalid platform: {platform}: this daemon builds linux images only")
        if not name:
            raise BuildError("base name (" + stage.base + ") should not be blank")
        image = None
        if name.lower() in self.stage_names:
            image_id = self.stage_images[self.stage_names[name.lower()]]
        elif name == "scratch":
            image_id = ""
        else:
            if self.opts.pull or not self._present(name):
                yield from self._pull(name)
            image = self._base_image(name)
            image_id = image.id
        if image_id:
            image = self.store.get(image_id)
        state.image_id = image_id
        cfg = copy.deepcopy(image.run_config) if image is not None else {}
        env_list = list(cfg.get("Env") or [])
        if not any(e.partition("=")[0] == "PATH" for e in env_list):
            env_list.append("PATH=" + DEFAULT_PATH)
        cfg["Env"] = env_list
        cfg["OpenStdin"] = False
        cfg["StdinOnce"] = False
        cfg["Image"] = image_id
        state.run_config = cfg
        triggers = cfg.get("OnBuild") or []
        if triggers:
            cfg["OnBuild"] = None
            yield stream(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for trigger in triggers:
                cfg["Image"] = state.image_id
                yield from self._dispatch(state, parse.parse_one(trigger))

    def _present(self, name: str) -> bool:
        try:
            self.store.get(name)
            return True
        except NotFound:
            return False
        except DockerError as e:
            raise BuildError(e.message) from e

    def _pull(self, name: str) -> Iterator[Message]:
        """A base image that is not here (or every one, with --pull) is pulled, its progress streamed,
        as Docker's legacy builder does; the credentials are X-Registry-Config's entry for its registry."""
        try:
            ref = parse_normalized(name)
            if ref.tag is None and ref.digest is None:
                ref = ref.with_default_tag()   # FROM x means x:latest, never every tag
            host = ref.name.split("/", 1)[0]
            auth = next((a for address, a in self.opts.registry_auths.items() if login_host(address) == host),
                        AuthConfig())
            yield from self.engine.distribution.pull(ref.familiar(), "", "", auth)
        except DockerError as e:
            raise BuildError(e.message) from e

    def _base_image(self, name: str):
        try:
            return self.store.get(name)
        except DockerError as e:
            raise BuildError(e.message) from e

    # -- dispatch -----------------------------------------------------------
    def _dispatch(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        handler = getattr(self, "_do_" + ins.cmd.lower(), None)
        if ins.cmd == "FROM" or handler is None:
            raise BuildError(f"{ins.cmd} isn't allowed here")
        for flag in ins.flags:
            if flag in parse.BUILDKIT_ONLY:
                raise BuildError(f"the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ "
                                 "to learn how to build images with BuildKit enabled")
        try:
            try:
                yield from handler(state, ins)
            except ValueError as e:
                raise BuildError(str(e)) from e
        except DockerError:
            if self.opts.force_remove:   # Docker's deferred RemoveAll: --force-rm also after a failure
                yield from self._remove_step_containers()
            raise
        yield from self._remove_step_containers()

    def _do_workdir(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        path = self._word(state, " ".join(ins.args))
        if not path.startswith("/"):
            path = os.path.join("/", state.run_config.get("WorkingDir") or "", path)
        state.run_config["WorkingDir"] = os.path.normpath(path)
        comment_cfg = self._with_cmd(state, comment_cmd_string("WORKDIR " + state.run_config["WorkingDir"]))
        yield from self._commit_via_container(state, comment_cfg, mkdir=state.run_config["WorkingDir"])

    # -- RUN ----------------------------------------------------------------
    def _do_run(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        cmd = self._run_command(state, ins)
        build_args = self._allowed_args(state, list(state.run_config.get("Env") or []))
        save_cmd = cmd
        if build_args:
            shown = sorted(a for a in build_args
                           if a.partition("=")[0] in state.args or a.partition("=")[0] not in BUILTIN_ARGS)
            save_cmd = [f"|{len(shown)}", *shown, *cmd]
        probe = self._with_cmd(state, save_cmd)
        probe["Entrypoint"] = None
        hit = self._probe(state, probe)
        if hit:
            yield from hit
            return
        run_cfg = copy.deepcopy(state.run_config)
        run_cfg.update({"Cmd": cmd, "Env": list(run_cfg.get("Env") or []) + build_args, "Entrypoint": [],
                        "Healthcheck": {"Test": ["NONE"]}})
        cid = self._create(run_cfg)
        yield stream(f" ---> Running in {cid[:12]}\n")
        yield from self._run_container(cid)
        code = self.containers.wait(cid, "not-running")()
        if code != 0:
            raise BuildError(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code)
        self._commit(state, cid, probe)

    def _run_command(self, state: State, ins: parse.Instruction) -> list[str]:
        if ins.json or not ins.heredocs:
            return self._command(state, ins)
        shell = list(state.run_config.get("Shell") or DEFAULT_SHELL)
        first = ins.args[0].strip() if ins.args else ""
        if first.lstrip("<-").strip("'\"") == ins.heredocs[0][0] and len(ins.heredocs) == 1:
            return shell + [ins.heredocs[0][1]]          # RUN <<EOT: the heredoc is the script
        return shell + [ins.original.split(None, 1)[1]]   # the shell reads the heredocs itself

    def _run_container(self, cid: str) -> Iterator[Message]:
        """Start the container and relay its output (stdcopy frames) as stream messages."""
        attachment = self.containers.attach(self.containers.get(cid), False, True, True)
        self.containers.start(cid)
        sock = attachment.wait(lambda: False)
        if sock is None:
            return
        with contextlib.closing(sock):
            buf = b""
            while True:
                readable, _, _ = select.select([sock], [], [], 1.0)
                if not readable:
                    if self.client_gone():   # Docker cancels the build with its request
                        self.canceled = True
                        raise BuildError("the client closed the connection: build canceled")
                    continue
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 8:
                    size = struct.unpack(">I", buf[4:8])[0]
                    if len(buf) < 8 + size:
                        break
                    payload, buf = buf[8:8 + size], buf[8 + size:]
                    if payload:
                        yield stream(payload.decode("utf-8", "replace"))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    # -- COPY / ADD -----------------------------------------------------------
    def _do_copy(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        yield from self._copy(state, ins, "COPY")

    def _do_add(self, state: State, ins: parse.Instruction) -> Iterator[Message]:
        yield from self._copy(state, ins, "ADD")

    def _copy(self, state: State, ins: parse.Instruction, what: str) -> Iterator[Message]:
        if ins.heredocs:
            raise BuildError(f"{what} with a heredoc needs BuildKit")
        words = list(ins.args) if ins.json else [self._word(state, w) for w in ins.args]
        *srcs, dest = words
        chown = self._word(state, ins.flags["chown"]) if ins.flags.get("chown") else ""
        chmod = copier.parse_chmod(ins.flags.get("chmod", ""))
        with contextlib.ExitStack() as stack:
            from_ = ins.flags.get("from", "")
            hasher: tarsum.Hasher
            if from_:
                hasher = tarsum.TreeHasher(stack.enter_context(self._mounted(self._from_image(state, from_)))[0])
            else:
                hasher = tarsum.ContextHasher(self.ctx.root, self.ctx.sums)
            sources = copier.resolve(hasher, srcs, what, from_stage=bool(from_))
            checksum = tarsum.sources_hash([s.checksum for s in sources])
            chown_comment = f"--chown={chown}" if chown else ""
            probe = self._with_cmd(state, comment_cmd_string(f"{what} {chown_comment}{checksum} in {dest} "))
            hit = self._probe(state, probe)
            if hit:
                yield from hit
                return
            rootfs, changes = stack.enter_context(self._mounted(state.image_id))
            owner = copier.parse_chown(chown, rootfs) if chown else copier.Owner(0, 0)
            copier.copy_into(rootfs, sources, dest, state.run_config.get("WorkingDir") or "/", owner, chmod,
                             unpack=what == "ADD", what=what)
            with changes() as upper:
                self._commit_upper(state, upper, probe, container_id="")

    def _from_image(self, state: State, ref: str) -> str:
        ref = self._word(state, ref)
        if ref.isdigit() and int(ref) < len(self.stage_images):
            return self.stage_images[int(ref)]
        if ref.lower() in self.stage_names:
            return self.stage_images[self.stage_names[ref.lower()]]
        return self._base_image(ref).id

    @contextlib.contextmanager
    def _mounted(self, image_id: str) -> Iterator[tuple[str, Callable[[], ContextManager[str]]]]:
        """A throwaway read-write layer on `image_id` (or an empty dir for scratch): (rootfs, changes),
        where `with changes() as upper` gives what was written as an overlay upper dir (any driver)."""
        if not image_id:
            path = os.path.realpath(self.store.temp_path("import-scratch-"))
            os.makedirs(path, mode=0o755)
            try:
                yield path, lambda: contextlib.nullcontext(path)
            finally:
                shutil.rmtree(path, ignore_errors=True)
            return
        key = LAYER_PREFIX + random_hex(32)
        with _ACTIVE_LOCK:
            _ACTIVE.add(key)
        self.store.create_rw_layer(key, image_id)
        try:
            rootfs = os.path.realpath(self.store.mount_rw_layer(key))
            yield rootfs, lambda: self.store.rw_layer_upper(key)
        finally:
            self.store.unmount_rw_layer(key)
            self.store.remove_rw_layer(key)
            with _ACTIVE_LOCK:
                _ACTIVE.discard(key)

    # -- commits ------------------------------------------------------------
    def _with_cmd(self, state: State, cmd: list[str]) -> dict[str, Any]:
        cfg = copy.deepcopy(state.run_config)
        cfg["Cmd"] = cmd
        return cfg

    def _probe(self, state: State, probe: dict[str, Any]) -> list[Message] | None:
        if self.cache_busted:
            return None
        hit = self.cache.lookup(state.image_id, probe)
        if hit is None:
            self.cache_busted = True
            return None
        state.image_id = hit
        return [stream(" ---> Using cache\n")]

    def _commit_config(self, state: State, comment: str) -> Iterator[Message]:
        """A config-only step: committed from a created container (an empty layer)."""
        yield from self._commit_via_container(state, self._with_cmd(state, comment_cmd(comment)))

    def _commit_via_container(self, state: State, probe: dict[str, Any], mkdir: str = "") -> Iterator[Message]:
        hit = self._probe(state, probe)
        if hit:
            yield from hit
            return
        if not state.image_id:   # FROM scratch: no image to create a container from
            with self._mounted("") as (rootfs, changes):
                if mkdir:
                    copier._mkdirs(rootfs, mkdir, copier.Owner(0, 0))
                with changes() as upper:
                    self._commit_upper(state, upper, probe, container_id="")
            return
        cid = self._create(probe)
        yield stream(f" ---> Running in {cid[:12]}\n")
        if mkdir:
            rootfs = os.path.realpath(self.store.mount_rw_layer(cid))
            try:
                copier._mkdirs(rootfs, mkdir, copier.Owner(0, 0))
            finally:
                self.store.unmount_rw_layer(cid)
        # the container's create filled these in on the very config Docker then commits
        shown = dict(probe, Hostname=cid[:12], Labels=probe.get("Labels") or {})
        self._commit(state, cid, shown)

    def _create(self, config: dict[str, Any]) -> str:
        body = {k: v for k, v in copy.deepcopy(config).items() if v is not None or k in ("Cmd", "Entrypoint")}
        body["Image"] = config.get("Image") or ""
        host: dict[str, Any] = dict(self.opts.resources)
        if self.opts.network_mode:
            host["NetworkMode"] = self.opts.network_mode
        if self.opts.extra_hosts:
            host["ExtraHosts"] = list(self.opts.extra_hosts)
        body["HostConfig"] = host
        cid, _ = self.containers.create(body, None)
        self.live.append(cid)
        return cid

    def _commit(self, state: State, cid: str, container_config: dict[str, Any]) -> None:
        with self.store.rw_layer_upper(cid) as upper:
            self._commit_upper(state, upper, container_config, container_id=cid)

    def _commit_upper(self, state: State, upper: str, container_config: dict[str, Any], container_id: str) -> None:
        config = copy.deepcopy(state.run_config)
        config["Image"] = state.image_id
        image_id = commit(self.store, CommitRequest(
            parent_id=state.image_id or None, upper_dir=upper, config=go_config(config),
            container_config=go_config(container_config), container_id=container_id, author=state.maintainer))
        self.cache.mark(image_id)
        state.image_id = image_id

    def _remove_step_containers(self) -> Iterator[Message]:
        if self.opts.remove or self.opts.force_remove:
            for cid in list(self.live):
                yield stream(f"Removing intermediate container {cid[:12]}\n")
                self._remove(cid)

    def _remove(self, cid: str) -> None:
        with contextlib.suppress(NotFound):
            self.containers.remove(cid, force=True, volumes=True)
        if cid in self.live:
            self.live.remove(cid)

    def _remove_live(self) -> None:
        """At the end: --force-rm removes what is left; Docker keeps it otherwise (--rm=false, a failed
        step). A canceled build (the client went away) removes its containers, running or not.
        """
        for cid in list(self.live):
            try:
                c = self.containers.get(cid)
            except NotFound:
                self.live.remove(cid)
                continue
            if self.opts.force_remove or self.canceled or c.state.running:
                self._remove(cid)
            else:
                self.live.remove(cid)
