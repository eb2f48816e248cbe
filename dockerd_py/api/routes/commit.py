"""`POST /commit`: a container becomes an image (swagger tag Image, ImageCommit)."""

from flask import Blueprint, request

from ...errors import InvalidParameter
from ...services.containers.commit import commit_container
from ...services.containers.create import split_body
from .. import params
from ..responses import json_response
from ..versioning import at_least, request_version


def blueprint(engine) -> Blueprint:
    bp = Blueprint("commit", __name__)

    @bp.post("/commit")
    def commit():
        body = params.json_body()
        if body is not None and not isinstance(body, dict):
            raise InvalidParameter("invalid JSON: expected an object")  # as a create body
        config = split_body(body)[0] if body is not None else None
        pause = params.boolean("pause")
        if not params.string("pause") and at_least(request_version(), "1.13"):
            pause = True
        repo, tag = params.string("repo"), params.string("tag")
        repo_tag = (f"{repo}:{tag}" if tag else repo) if repo else None
        image_id = commit_container(engine.containers, params.string("container"), config=config,
                                    changes=request.args.getlist("changes"), author=params.string("author"),
                                    comment=params.string("comment"), pause=pause, repo_tag=repo_tag)
        return json_response({"Id": image_id}, 201)

    return bp
