"""`docker cp` (archive), `docker export` and `docker diff` (changes)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

from flask import Blueprint, Response, request

from ...services.containers.files import ContainerFiles, archive_path
from .. import params
from ..responses import json_response

STAT_HEADER = "X-Docker-Container-Path-Stat"
TAR = "application/x-tar"
_CHUNK = 1 << 20


def _stat_header(info: dict) -> str:
    return base64.b64encode(json.dumps(info, separators=(",", ":")).encode()).decode()


def _request_body() -> Iterator[bytes]:
    while True:
        chunk = request.stream.read(_CHUNK)
        if not chunk:
            return
        yield chunk


def blueprint(engine) -> Blueprint:
    bp = Blueprint("archive", __name__)
    files = ContainerFiles(engine.containers, engine.images, engine.volumes)

    @bp.route("/containers/<ref>/archive", methods=["GET", "HEAD"])
    def archive_get(ref):
        path = archive_path(params.string("path"))
        if request.method == "HEAD":
            resp = Response(status=200)
            resp.headers[STAT_HEADER] = _stat_header(files.stat(ref, path))
            del resp.headers["Content-Type"]
            return resp
        info, stream = files.get(ref, path)
        resp = Response(stream, content_type=TAR, direct_passthrough=True)
        resp.headers[STAT_HEADER] = _stat_header(info)
        return resp

    @bp.put("/containers/<ref>/archive")
    def archive_put(ref):
        path = archive_path(params.string("path"))
        files.put(ref, path, _request_body(), params.boolean("copyUIDGID"), params.boolean("noOverwriteDirNonDir"))
        resp = Response(status=200)
        del resp.headers["Content-Type"]
        return resp

    @bp.get("/containers/<ref>/export")
    def export(ref):
        return Response(files.export(ref), content_type="application/octet-stream", direct_passthrough=True)

    @bp.get("/containers/<ref>/changes")
    def changes(ref):
        return json_response(files.changes(ref) or None)

    return bp
