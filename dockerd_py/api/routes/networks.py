"""Network routes: list, inspect, create, remove, prune, connect, disconnect."""

import re

from flask import Blueprint, Response

from ...errors import InvalidParameter
from ...filters import labels_match, prune_until
from ...services.containers import networking
from .. import params
from ..responses import json_response, no_content

LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
PRUNE_FILTERS = {"until", "label", "label!"}
PREDEFINED = {"bridge", "host", "none"}


def blueprint(engine) -> Blueprint:
    bp = Blueprint("networks", __name__)
    svc = engine.networks

    @bp.get("/networks")
    def list_networks():
        filters = params.filters(LIST_FILTERS)
        return json_response([n for n in svc.list() if _matches(n, filters, svc.in_use)])

    @bp.get("/networks/<ref>")
    def inspect(ref):
        return json_response(svc.inspect(ref))

    @bp.post("/networks/create")
    def create():
        body = params.json_object(required=True)
        return json_response(svc.create(body), status=201)

    @bp.delete("/networks/<ref>")
    def remove(ref):
        svc.remove(ref)
        return no_content()

    @bp.post("/networks/prune")
    def prune():
        filters = params.filters(PRUNE_FILTERS)
        prune_until(filters)  # more than one is refused before anything goes
        removed = svc.prune(filters)
        engine.events.publish("network", "prune", "", {"reclaimed": "0"})
        return json_response({"NetworksDeleted": removed or None})

    @bp.post("/networks/<ref>/connect")
    def connect(ref):
        body = params.json_object(required=True)
        networking.connect(engine.containers, svc, body.get("Container") or "", ref,
                           body.get("EndpointConfig") or {})
        return Response(status=200)

    @bp.post("/networks/<ref>/disconnect")
    def disconnect(ref):
        body = params.json_object(required=True)
        networking.disconnect(engine.containers, svc, body.get("Container") or "", ref,
                              bool(body.get("Force")))
        return Response(status=200)

    return bp


def _matches(network: dict, filters: dict[str, list[str]], in_use) -> bool:
    """Docker's network filters: name and id as unanchored patterns, labels all required."""
    def any_pattern(key: str, text: str) -> bool:
        return any(re.search(v, text) for v in filters[key])

    if "name" in filters and not any_pattern("name", network["Name"]):
        return False
    if "id" in filters and not any_pattern("id", network["Id"]):
        return False
    if "driver" in filters and network["Driver"] not in filters["driver"]:
        return False
    if "scope" in filters and network.get("Scope", "local") not in filters["scope"]:
        return False
    if "type" in filters:
        kind = "builtin" if network["Name"] in PREDEFINED else "custom"
        if not set(filters["type"]) <= {"builtin", "custom"}:
            raise InvalidParameter(f"invalid filter: 'type'='{filters['type'][0]}'")
        if kind not in filters["type"]:
            return False
    if "dangling" in filters:
        value = filters["dangling"][0].lower()
        if value not in ("true", "1", "false", "0"):
            raise InvalidParameter("invalid value for filter 'dangling', must be \"true\" (or \"1\"), "
                                   "or \"false\" (or \"0\")")
        dangling = network["Name"] not in PREDEFINED and not in_use(network["Id"])
        if (value in ("true", "1")) != dangling:
            return False
    return labels_match(network.get("Labels"), filters.get("label", []))
