"""The Flask application: blueprints, the version middleware, one error mapping."""

import logging

from flask import Flask
from werkzeug.exceptions import HTTPException

from ..errors import DockerError
from . import responses
from .routes import ROUTE_MODULES
from .versioning import VersionMiddleware

log = logging.getLogger("dockerd_py.api")


def create_app(engine) -> Flask:
    app = Flask("dockerd_py")
    app.config["engine"] = engine
    app.url_map.strict_slashes = False
    for module in ROUTE_MODULES:
        app.register_blueprint(module.blueprint(engine))

    @app.errorhandler(DockerError)
    def docker_error(error: DockerError):
        if error.status >= 500:
            log.error("%s", error.message)
        return responses.error_response(error.message, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (404, 405):
            return responses.error_response("page not found", 404)
        return responses.error_response(error.description or error.name, error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        return responses.error_response(str(error) or error.__class__.__name__, 500)

    app.wsgi_app = VersionMiddleware(app.wsgi_app)
    return app
