"""Image routes needed to run containers: import, load, list, inspect, tag, remove."""

from flask import Blueprint, Response, request

from ...distribution.auth import decode_header
from ...errors import InvalidParameter
from ...images import listfilter
from ...images import prune as image_prune
from ...timeutil import parse_timestamp
from .. import params
from ..responses import json_response, progress_stream
from ..versioning import gate_image_inspect, request_version



def blueprint(engine) -> Blueprint:
    bp = Blueprint("images", __name__)
    store = engine.images

    @bp.get("/images/json")
    def list_images():
        filters = params.filters(listfilter.ALLOWED)
        show_all = params.boolean("all")
        return json_response([store.summary(image, listfilter.by_reference(store.references(image),
                                                                           filters.get("reference")))
                              for image in store.list()
                              if (show_all or not listfilter.intermediate(store, image))
                              and listfilter.matches(store, image, filters, parse_timestamp)])

    @bp.post("/images/create")
    def create():
        if params.string("fromImage"):
            auth = decode_header(request.headers.get("X-Registry-Auth"))
            return progress_stream(engine.distribution.pull(params.string("fromImage"), params.string("tag"),
                                                            params.string("platform"), auth))
        source = params.string("fromSrc")
        if not source:
            raise InvalidParameter("fromImage or fromSrc is required")
        repo, tag = params.string("repo"), params.string("tag")
        repo_tag = f"{repo}:{tag}" if repo and tag else (repo or None)
        changes = request.args.getlist("changes")
        if source != "-":
            return progress_stream(store.import_url(source, repo_tag, changes, params.string("message")))
        image_id = store.import_tar(request.stream, repo_tag, changes, params.string("message"))
        return progress_stream(iter([{"status": image_id}]))

    @bp.post("/images/load")
    def load():
        # moby: quiet unless asked otherwise; every error in-band, after a 200
        return progress_stream(store.load(request.stream, params.boolean("quiet", True)), errors_in_band=True)

    @bp.get("/images/<path:name>/json")
    def inspect(name):
        image = store.get(name)
        return json_response(gate_image_inspect(store.inspect(image), image.config, request_version()))

    @bp.post("/images/prune")
    def prune():
        filters = params.filters(image_prune.ALLOWED)
        return json_response(image_prune.prune(store, filters, engine.containers.image_user, parse_timestamp))

    @bp.get("/images/<path:name>/history")
    def history(name):
        return json_response(store.history(store.get(name)))

    @bp.get("/images/get")
    def save_many():
        return _tar_response(store.save(request.args.getlist("names")))

    @bp.get("/images/<path:name>/get")
    def save_one(name):
        return _tar_response(store.save([name]))

    @bp.post("/images/<path:name>/tag")
    def tag(name):
        repo = params.string("repo")
        if not repo:
            raise InvalidParameter("repository name must have at least one component")
        store.tag(name, repo, params.string("tag") or "latest")
        return Response(status=201)

    @bp.delete("/images/<path:name>")
    def remove(name):
        return json_response(store.remove(name, force=params.boolean("force"), noprune=params.boolean("noprune"),
                                          in_use=engine.containers.image_user))

    return bp


def _tar_response(chunks) -> Response:
    return Response(_coalesced(chunks), content_type="application/x-tar", direct_passthrough=True)


def _coalesced(chunks, size: int = 1 << 16):
    """Large HTTP chunks, as Go's io.Copy writes: a client's `chunk_size` reads then get full pieces
    (docker-py's save(chunk_size=N) yields N bytes at a time) instead of each 512-byte tar header."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)
