"""GET /containers/{id}/stats and POST /containers/{id}/update: a container's resources."""

from flask import Blueprint

from ...errors import InvalidParameter
from .. import hijack, params
from ..responses import json_response, json_stream


def blueprint(engine) -> Blueprint:
    bp = Blueprint("stats", __name__)
    svc = engine.containers

    @bp.get("/containers/<ref>/stats")
    def stats(ref):
        follow, one_shot = params.boolean("stream", True), params.boolean("one-shot")
        if follow and one_shot:
            raise InvalidParameter("cannot have stream=true and one-shot=true")
        samples = svc.stats(ref, follow=follow, one_shot=one_shot)
        if not follow:
            return json_response(next(samples))
        gone = hijack.client_gone_check(hijack.client_socket())

        def until_gone():
            for s in samples:
                if gone():
                    return
                yield s

        return json_stream(until_gone())

    @bp.post("/containers/<ref>/update")
    def update(ref):
        body = params.json_object(required=False) or {}
        return json_response({"Warnings": svc.update(ref, body) or None})

    return bp
