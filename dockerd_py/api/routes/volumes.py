"""Volume routes (swagger tag Volume): parse → one service call → JSON."""

from flask import Blueprint

from ...errors import InvalidParameter, json_kind
from ...services.volumes import LIST_FILTERS, PRUNE_FILTERS
from .. import params
from ..responses import json_response, no_content


def _unmarshal_error(value: object, key: str, go_type: str) -> InvalidParameter:
    return InvalidParameter(f"invalid JSON: json: cannot unmarshal {json_kind(value)} into Go struct field "
                            f"CreateOptions.{key} of type {go_type}")


def _str_map(body: dict, key: str) -> dict:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise _unmarshal_error(value, key, "map[string]string")
    for v in value.values():
        if not isinstance(v, str):
            raise _unmarshal_error(v, key, "string")
    return value


def blueprint(engine) -> Blueprint:
    bp = Blueprint("volumes", __name__)
    svc = engine.volumes

    @bp.get("/volumes")
    def list_volumes():
        return json_response(svc.list(params.filters(LIST_FILTERS)))

    @bp.post("/volumes/create")
    def create():
        body = params.json_object(required=False) or {}
        for key in ("Name", "Driver"):
            if not isinstance(body.get(key) or "", str):
                raise _unmarshal_error(body[key], key, "string")
        return json_response(svc.create(body.get("Name") or "", body.get("Driver") or "",
                                        _str_map(body, "DriverOpts"), _str_map(body, "Labels")), 201)

    @bp.get("/volumes/<name>")
    def inspect(name):
        return json_response(svc.inspect(name))

    @bp.delete("/volumes/<name>")
    def remove(name):
        svc.remove(name, force=params.boolean("force"))
        return no_content()

    @bp.post("/volumes/prune")
    def prune():
        return json_response(svc.prune(params.filters(PRUNE_FILTERS)))

    return bp
