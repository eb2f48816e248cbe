"""`POST /build` (the legacy builder) and `POST /build/prune`."""

import json
import logging
from collections.abc import Iterator

from flask import Blueprint, Response, request

from ...builder import Builder, BuildError, BuildOptions, open_context
from ...distribution.auth import decode_config_header
from ...errors import DockerError, InvalidParameter
from ...images import gojson
from .. import hijack, params
from ..responses import json_response
from ..versioning import at_least, request_version

log = logging.getLogger("dockerd_py.build")
PRUNE_FILTERS = {"until", "unused-for", "label", "label!", "id", "parent", "type", "inuse", "shared", "private"}


def _json_param(name: str, kind: type, default):
    raw = params.string(name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidParameter(f"invalid {name} specified: {e}") from None
    if value is None:
        return default
    if not isinstance(value, kind):
        raise InvalidParameter(f"invalid {name} specified")
    return value


def _options() -> BuildOptions:
    if params.string("version") == "2":
        raise InvalidParameter("BuildKit is not supported by this daemon: use the legacy builder (DOCKER_BUILDKIT=0)")
    if params.string("remote"):
        raise InvalidParameter("remote build contexts (URLs, git repositories) are not supported: "
                               "this daemon has no internet access; send the context as a tar")
    if params.string("outputs"):
        raise InvalidParameter("outputs are only supported with BuildKit")
    if params.boolean("squash"):
        raise InvalidParameter("squash is only supported with experimental mode")
    isolation = params.string("isolation")
    if isolation and isolation.lower() != "default":  # Isolation.IsValid on Linux: only the default
        raise InvalidParameter(f'unsupported isolation: "{isolation}"')
    platform = params.string("platform")
    if platform and platform.split("/")[0] != "linux":
        raise InvalidParameter(f'"{platform}": unknown operating system or architecture: invalid argument')
    remove = params.boolean("rm")
    if not params.string("rm") and at_least(request_version(), "1.12"):
        remove = True
    build_args = _json_param("buildargs", dict, {})
    labels = _json_param("labels", dict, {})
    return BuildOptions(
        tags=[t for t in request.args.getlist("t") if t], build_args=build_args, labels=labels,
        no_cache=params.boolean("nocache"), remove=remove, force_remove=params.boolean("forcerm"),
        pull=params.boolean("pull"), target=params.string("target"), network_mode=params.string("networkmode"),
        cache_from=_json_param("cachefrom", list, []), quiet=params.boolean("q"),
        extra_hosts=[h for h in params.string("extrahosts").split(",") if h], resources=_resources(),
        registry_auths=decode_config_header(request.headers.get("X-Registry-Config")))


_RESOURCES = (("memory", "Memory"), ("memswap", "MemorySwap"), ("cpushares", "CpuShares"),
              ("cpuperiod", "CpuPeriod"), ("cpuquota", "CpuQuota"), ("shmsize", "ShmSize"))


def _resources() -> dict:
    """HostConfig limits for the RUN containers (`docker build --memory ...`)."""
    out: dict = {}
    for name, field in _RESOURCES:
        value = params.integer(name)
        if value:
            out[field] = value
    for name, field in (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems"), ("cgroupparent", "CgroupParent")):
        if params.string(name):
            out[field] = params.string(name)
    return out


def _line(message: dict) -> bytes:
    return gojson.dumps(message) + b"\r\n"


def _error(e: Exception) -> bytes:
    message = e.message if isinstance(e, DockerError) else (str(e) or e.__class__.__name__)
    detail: dict = {"message": message}
    if isinstance(e, BuildError) and e.code:
        detail = {"code": e.code, "message": message}
    return _line({"errorDetail": detail, "error": message})


def blueprint(engine) -> Blueprint:
    bp = Blueprint("build", __name__)

    @bp.post("/build")
    def build():
        options = _options()
        ctx = open_context(engine.images, request.stream, params.string("dockerfile"))
        try:
            builder = Builder(engine, ctx, options, hijack.client_gone_check(hijack.client_socket()))
        except BaseException:
            ctx.close()
            raise

        def generate() -> Iterator[bytes]:
            held: list[bytes] = []
            try:
                for message in builder.run():
                    line = _line(message)
                    if options.quiet:   # -q: only the image id, unless the build fails
                        held.append(line)
                    else:
                        yield line
                if options.quiet:
                    yield _line({"stream": builder.image_id + "\n"})
            except Exception as e:  # reported in-band: the 200 is already sent
                if not isinstance(e, DockerError):
                    log.exception("build failed")
                yield from held
                yield _error(e)
            finally:
                ctx.close()

        return Response(generate(), content_type="application/json", direct_passthrough=True)

    @bp.post("/build/prune")
    def prune():
        params.filters(PRUNE_FILTERS)
        return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})

    return bp
