"""Exec routes (swagger tag Exec): create, start (hijacked), resize, inspect."""

from flask import Blueprint, Response

from ...errors import DockerError, InvalidParameter
from ...services.containers.exec import EXIT_WAIT, canonical_keys, console_size
from ...streams import STDOUT, DetachWatcher, frame, parse_detach_keys
from .. import hijack, params
from ..responses import json_response
from ..versioning import at_least, request_version

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def blueprint(engine) -> Blueprint:
    bp = Blueprint("exec", __name__)
    svc = engine.execs

    @bp.post("/containers/<ref>/exec")
    def create(ref):
        options = params.json_object(required=True)
        if not at_least(request_version(), "1.42"):
            options = {k: v for k, v in options.items() if k.lower() != "consolesize"}
        return json_response({"Id": svc.create(ref, options)}, 201)

    @bp.post("/exec/<exec_id>/start")
    def start(exec_id):
        body = canonical_keys(params.json_object(), ("Detach", "Tty", "ConsoleSize"))
        detach, tty = bool(body.get("Detach")), bool(body.get("Tty"))
        size = console_size(body.get("ConsoleSize"), "ExecStartOptions")
        if not tty or not at_least(request_version(), "1.42"):
            size = None
        rec, _ = svc.startable(exec_id)  # 404/409 as JSON, before the connection is hijacked
        if detach:
            svc.start(exec_id, attach=False, console_size=size)
            return Response(status=200)
        multiplexed = not tty and at_least(request_version(), "1.42")
        client = hijack.upgrade(hijack.MULTIPLEXED if multiplexed else hijack.RAW, with_common_headers=True)
        try:
            stream = svc.start(exec_id, attach=True, console_size=size)
        except DockerError as e:  # moby writes the error on the stream
            text = (e.message + "\r\n").encode()
            try:
                client.sendall(text if tty else frame(STDOUT, text))
            except OSError:
                pass
            stream = None
        if stream is not None:
            watcher = None
            if rec.tty and rec.open_stdin:
                watcher = DetachWatcher(parse_detach_keys(rec.detach_keys or DEFAULT_DETACH_KEYS))


            def before_eof() -> None:  # the client reads the exit code (exec inspect) at EOF
                if watcher is None or not watcher.detached:
                    rec.wait_exit(EXIT_WAIT)

            try:
                hijack.pump(client, stream.sock, watcher.feed if watcher else None, before_eof)
            finally:
                stream.sock.close()
            if watcher is not None and watcher.detached:
                svc.detached(rec)
        try:
            client.shutdown(2)
        except OSError:
            pass
        return hijack.finish()

    @bp.post("/exec/<exec_id>/resize")
    def resize(exec_id):
        height, width = params.string("h"), params.string("w")
        for raw in (height, width):
            if not raw.isdigit():
                raise InvalidParameter(f'strconv.Atoi: parsing "{raw}": invalid syntax')
        svc.resize(exec_id, int(height), int(width))
        return Response(status=200, content_type="text/plain")

    @bp.get("/exec/<exec_id>/json")
    def inspect(exec_id):
        return json_response(svc.inspect(exec_id))

    return bp
