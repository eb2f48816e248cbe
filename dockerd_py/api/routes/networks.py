"""Network routes: the predefined networks can be listed and inspected.

Creating and removing networks belongs to the networks milestone; until then
those routes answer 501 rather than pretending.
"""

import re

from flask import Blueprint

from ...errors import InvalidParameter, NotImplementedErr
from ...filters import labels_match
from .. import params
from ..responses import json_response

LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
PREDEFINED = {"bridge", "host", "none"}


def blueprint(engine) -> Blueprint:
    bp = Blueprint("networks", __name__)
    svc = engine.networks

    @bp.get("/networks")
    def list_networks():
        filters = params.filters(LIST_FILTERS)
        return json_response([n for n in svc.list() if _matches(n, filters)])

    @bp.get("/networks/<ref>")
    def inspect(ref):
        return json_response(svc.inspect(ref))

    def not_yet(**_):
        raise NotImplementedErr("user-defined networks are not implemented by this daemon yet")

    for rule, methods in (("/networks/create", ["POST"]), ("/networks/prune", ["POST"]), ("/networks/<ref>", ["DELETE"]),
                          ("/networks/<ref>/connect", ["POST"]), ("/networks/<ref>/disconnect", ["POST"])):
        bp.add_url_rule(rule, f"not-yet {rule} {methods[0]}", not_yet, methods=methods)

    return bp


def _matches(network: dict, filters: dict[str, list[str]]) -> bool:
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
        dangling = network["Name"] not in PREDEFINED and not network.get("Containers")
        if (filters["dangling"][0].lower() in ("true", "1")) != dangling:
            return False
    return labels_match(network.get("Labels"), filters.get("label", []))
