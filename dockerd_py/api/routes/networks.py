"""Network routes: the predefined networks can be listed and inspected.

Creating and removing networks belongs to the networks milestone; until then
those routes answer 501 rather than pretending.
"""

from flask import Blueprint

from ...errors import NotImplementedErr
from .. import params
from ..responses import json_response

LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}


def blueprint(engine) -> Blueprint:
    bp = Blueprint("networks", __name__)
    svc = engine.networks

    @bp.get("/networks")
    def list_networks():
        params.filters(LIST_FILTERS)
        return json_response(svc.list())

    @bp.get("/networks/<ref>")
    def inspect(ref):
        return json_response(svc.inspect(ref))

    def not_yet(**_):
        raise NotImplementedErr("user-defined networks are not implemented by this daemon yet")

    for rule, methods in (("/networks/create", ["POST"]), ("/networks/prune", ["POST"]), ("/networks/<ref>", ["DELETE"]),
                          ("/networks/<ref>/connect", ["POST"]), ("/networks/<ref>/disconnect", ["POST"])):
        bp.add_url_rule(rule, f"not-yet {rule} {methods[0]}", not_yet, methods=methods)

    return bp
