"""Container routes (swagger tag Container): parse → one service call → view."""

import re
import signal as signal_mod
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Blueprint, Response

from ...errors import DockerError, InvalidParameter, wrapped
from ...services.containers import logs as logs_mod
from ...services.containers.runner import Attachment
from ...services.containers.service import LIST_FILTERS, PRUNE_FILTERS
from ...timeutil import parse_timestamp
from ...services.containers.signals import parse as parse_signal
from ...streams import STDERR, STDOUT, DetachWatcher, frame, parse_detach_keys
from .. import hijack, params
from ..responses import json_response, no_content
from ..versioning import (at_least, gate_container_create, gate_container_inspect, read_only_non_recursive,
                          request_version)
from ..views import containers as views

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def blueprint(engine) -> Blueprint:
    bp = Blueprint("containers", __name__)
    svc = engine.containers

    @bp.get("/containers/json")
    def list_containers():
        filters = params.filters(LIST_FILTERS)
        found = svc.list(params.boolean("all"), params.integer("limit", -1) or -1, filters)
        with_size = params.boolean("size")
        return json_response([views.summary(c, engine.volumes.container_mounts(c.id), svc.sizes(c) if with_size else None,
                                            names=svc.names_of(c))
                              for c in found])

    @bp.post("/containers/create")
    def create():
        body = params.json_object(required=True)
        platform = params.string("platform")
        if platform and platform.split("/")[0] != "linux":
            raise InvalidParameter(f"invalid platform: {platform}")
        gate_container_create(body, request_version())
        container_id, warnings = svc.create(body, params.string("name") or None,
                                            legacy_read_only=read_only_non_recursive(request_version()),
                                            platform=platform or "")
        return json_response({"Id": container_id, "Warnings": warnings}, 201)

    @bp.get("/containers/<path:ref>/json")
    def inspect(ref):
        c = svc.get(ref)
        graph = {"Name": engine.images.driver.name, "Data": engine.images.rw_layer_metadata(c.id)}
        return json_response(gate_container_inspect(
            views.inspect(c, graph, engine.volumes.container_mounts(c.id),
                          svc.sizes(c) if params.boolean("size") else None,
                          exec_ids=engine.execs.container_exec_ids(c.id), defaults=svc.defaults), request_version()))

    @bp.get("/containers/<ref>/top")
    def top(ref):
        return json_response(svc.top(ref, params.string("ps_args")))

    @bp.get("/containers/<ref>/logs")
    def logs(ref):
        c = svc.get(ref)
        stdout, stderr = params.boolean("stdout"), params.boolean("stderr")
        if not (stdout or stderr):
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        tail = params.string("tail", "all")
        tail_n = int(tail) if re.fullmatch(r"[+-]?[0-9]+", tail) else -1  # Docker: any other word means all
        query = logs_mod.LogQuery(stdout=stdout, stderr=stderr, tail=tail_n, follow=params.boolean("follow"),
                                  since_nano=_timestamp_param("since"), until_nano=_timestamp_param("until"))
        lines = svc.logs(c, query)
        tty = bool(c.config.get("Tty"))
        timestamps = params.boolean("timestamps")
        gone = hijack.client_gone_check(hijack.client_socket())

        def generate():
            yield b""
            for line in lines:
                if line is None:
                    if gone():
                        return
                    continue
                data = (line.time.encode() + b" " + line.data) if timestamps else line.data
                yield data if tty else frame(STDERR if line.stream == "stderr" else STDOUT, data)

        return Response(generate(), content_type=_stream_type(tty), direct_passthrough=True)

    @bp.post("/containers/<ref>/resize")
    def resize(ref):
        height, width = params.integer("h", 0), params.integer("w", 0)
        svc.resize(ref, height, width)
        return Response(status=200, content_type="text/plain")

    @bp.post("/containers/<ref>/start")
    def start(ref):
        if params.json_body() is not None and not at_least(request_version(), "1.24"):
            raise InvalidParameter("starting container with non-empty request body was deprecated")
        svc.start(ref)
        return no_content()

    @bp.post("/containers/<ref>/stop")
    def stop(ref):
        svc.stop(ref, _optional_signal(), params.integer("t"))
        return no_content()

    @bp.post("/containers/<ref>/restart")
    def restart(ref):
        svc.restart(ref, _optional_signal(), params.integer("t"))
        return no_content()

    @bp.post("/containers/<ref>/kill")
    def kill(ref):
        try:
            svc.kill(ref, parse_signal(params.string("signal"), default=signal_mod.SIGKILL))
        except DockerError as e:  # postContainersKill wraps whatever failed, keeping its status
            raise wrapped(e, f"cannot kill container: {ref}") from None
        return no_content()

    @bp.post("/containers/<ref>/rename")
    def rename(ref):
        svc.rename(ref, params.string("name"))
        return no_content()

    @bp.post("/containers/<ref>/pause")
    def pause(ref):
        svc.pause(ref)
        return no_content()

    @bp.post("/containers/<ref>/unpause")
    def unpause(ref):
        svc.unpause(ref)
        return no_content()

    @bp.post("/containers/<ref>/wait")
    def wait(ref):
        waiter = svc.wait(ref, params.string("condition"))

        def generate():
            yield b""  # Docker sends the status and headers before the wait blocks
            code = waiter()
            yield (f'{{"Error":null,"StatusCode":{code}}}\n').encode()

        return Response(generate(), content_type="application/json", direct_passthrough=True)

    @bp.delete("/containers/<path:ref>")  # a legacy link's name has a slash: /containers/parent/alias
    def remove(ref):
        if params.boolean("link"):
            svc.remove_link(ref)
            return no_content()
        svc.remove(ref, force=params.boolean("force"), volumes=params.boolean("v"))
        return no_content()

    @bp.post("/containers/prune")
    def prune():
        return json_response(svc.prune(params.filters(PRUNE_FILTERS)))

    @bp.post("/containers/<ref>/attach")
    def attach(ref):
        return _attach(engine, svc.get(ref))

    return bp


def _optional_signal() -> int | None:
    raw = params.string("signal")
    return parse_signal(raw) if raw else None


def _timestamp_param(name: str) -> int:
    raw = params.string(name)
    return parse_timestamp(raw) if raw and raw != "0" else 0


def _stream_type(tty: bool) -> str:
    if tty or not at_least(request_version(), "1.42"):
        return hijack.RAW
    return hijack.MULTIPLEXED


@dataclass
class AttachRequest:
    """An attach's parameters and its reserved stream (reserved before the client hears it is attached)."""

    stdin: bool
    stdout: bool
    stderr: bool
    with_logs: bool
    tty: bool
    detach_keys: bytes
    attachment: Attachment | None


def attach_request(engine, c) -> AttachRequest:
    stdin, stdout, stderr = params.boolean("stdin"), params.boolean("stdout"), params.boolean("stderr")
    stream, with_logs = params.boolean("stream"), params.boolean("logs")
    if not (stream or with_logs):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    try:
        detach_keys = parse_detach_keys(params.string("detachKeys") or DEFAULT_DETACH_KEYS)
    except ValueError:
        raise InvalidParameter(f"Invalid detach keys ({params.string('detachKeys')}) provided") from None
    attachment = engine.containers.attach(c, stdin, stdout, stderr) if stream else None
    return AttachRequest(stdin, stdout, stderr, with_logs, bool(c.config.get("Tty")), detach_keys, attachment)


def attach_logs(engine, c, req: AttachRequest) -> Iterator[logs_mod.LogLine]:
    """The past output an attach with logs=1 replays first."""
    for line in engine.containers.logs(c, logs_mod.LogQuery(stdout=req.stdout, stderr=req.stderr)):
        if line is not None:
            yield line


def attach_backend(req: AttachRequest, client_gone) -> socket.socket | None:
    """The shim's stream once connected; None when the client or the container went first."""
    if req.attachment is None:
        return None
    try:
        return req.attachment.wait(client_gone)
    except (DockerError, OSError):  # the start failed (the client learns why from it) or the shim went
        return None


def _attach(engine, c):
    svc = engine.containers
    req = attach_request(engine, c)
    tty = req.tty
    client = hijack.upgrade(_stream_type(tty))
    if req.with_logs:
        for line in attach_logs(engine, c, req):
            client.sendall(line.data if tty else frame(STDERR if line.stream == "stderr" else STDOUT, line.data))
    backend = attach_backend(req, hijack.client_gone_check(client))
    if backend is not None:
        watcher = DetachWatcher(req.detach_keys) if tty and req.stdin else None
        try:
            hijack.pump(client, backend, watcher.feed if watcher else None)
        finally:
            backend.close()
        if watcher is not None and watcher.detached:
            svc.publish_detach(c)
    try:
        client.shutdown(2)
    except OSError:
        pass
    return hijack.finish()
