"""Registry routes: push, login (/auth), distribution inspect and search. Pull is /images/create."""

import json

from flask import Blueprint, request

from ...distribution.auth import AuthConfig, decode_header
from ...errors import InvalidParameter
from .. import params
from ..responses import json_response, progress_stream


def request_auth() -> AuthConfig:
    """X-Registry-Auth, or (older clients) the AuthConfig as the JSON body; invalid content counts as none."""
    header = request.headers.get("X-Registry-Auth")
    if header:
        return decode_header(header)
    try:
        return AuthConfig.from_dict(json.loads(request.get_data(cache=True) or b"null"))
    except ValueError:
        return AuthConfig()


def blueprint(engine) -> Blueprint:
    bp = Blueprint("distribution", __name__)
    service = engine.distribution

    @bp.post("/images/<path:name>/push")
    def push(name):
        return progress_stream(service.push(name, params.string("tag"), request_auth()))

    @bp.post("/auth")
    def auth():
        return json_response(service.login(AuthConfig.from_dict(params.json_object(required=True))))

    @bp.get("/distribution/<path:name>/json")
    def distribution_inspect(name):
        return json_response(service.inspect(name, decode_header(request.headers.get("X-Registry-Auth"))))

    @bp.get("/images/search")
    def search():
        params.filters({"is-automated", "is-official", "stars"})
        limit = params.integer("limit")
        if limit is not None and not 1 <= limit <= 100:
            raise InvalidParameter(f"limit {limit} is outside the range of [1, 100]")
        return json_response(service.search(params.string("term"), limit))

    return bp
