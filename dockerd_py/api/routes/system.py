"""System routes: ping, version, info, events."""

from flask import Blueprint, Response, request

from ...errors import InvalidParameter
from ...filters import labels_match
from ...timeutil import parse_timestamp
from .. import hijack, params
from ..responses import dumps, json_response
from ..views import containers as container_views


def blueprint(engine) -> Blueprint:
    bp = Blueprint("system", __name__)

    @bp.route("/_ping", methods=["GET", "HEAD"])
    def ping():
        headers = {"Builder-Version": "1", "Swarm": "inactive", "Cache-Control": "no-cache, no-store, must-revalidate",
                   "Pragma": "no-cache"}
        if request.method == "HEAD":
            return Response(b"", content_type="text/plain; charset=utf-8", headers={**headers, "Content-Length": "0"})
        return Response("OK", content_type="text/plain; charset=utf-8", headers=headers)

    @bp.get("/version")
    def version():
        return json_response(engine.system.version())

    @bp.get("/info")
    def info():
        return json_response(engine.system.info())

    @bp.get("/system/df")
    def disk_usage():
        usage, containers = engine.system.disk_usage()
        usage["Containers"] = [container_views.summary(c, engine.volumes.container_mounts(c.id), sizes)
                               for c, sizes in containers]
        usage["Volumes"] = engine.volumes.usage()
        return json_response(usage)

    @bp.get("/events")
    def events():
        filters = params.filters(None)  # Docker's events take any filter name: unknown ones match everything
        since, until = params.string("since"), params.string("until")
        since_nano = parse_timestamp(since) if since else None
        until_nano = parse_timestamp(until) if until else None
        if until_nano is not None and until_nano < (since_nano or 0):
            raise InvalidParameter(f"`since` time ({since}) cannot be after `until` time ({until})")
        stream = engine.events.subscribe(since_nano, until_nano)
        gone = hijack.client_gone_check(hijack.client_socket())

        def generate():
            yield b""
            for event in stream:
                if event is None:
                    if gone():
                        return
                    continue
                if matches(event, filters):
                    yield (dumps(event.to_json()) + "\n").encode()

        return Response(generate(), content_type="application/json", direct_passthrough=True)

    return bp


def matches(event, filters: dict[str, list[str]]) -> bool:
    """Docker's event filter rules: keys ANDed, values ORed, prefix matching for objects."""
    attrs = event.attributes

    def object_filter(kind: str) -> bool:
        values = filters.get(kind)
        if not values:
            return True
        if event.type != kind and not (kind == "image" and event.type == "container"):
            return False
        candidates = [event.actor_id, attrs.get("name", "")]
        if kind == "image" and event.type == "container":
            candidates = [attrs.get("image", "")]
        return any(c and (c == v or c.startswith(v)) for v in values for c in candidates)

    if "type" in filters and event.type not in filters["type"]:
        return False
    if "event" in filters and not any(event.action.startswith(v) for v in filters["event"]):
        return False
    if "scope" in filters and event.scope not in filters["scope"]:
        return False
    for key in ("container", "image", "network", "volume", "plugin", "daemon"):
        if not object_filter(key):
            return False
    return labels_match(attrs, filters.get("label", []))
