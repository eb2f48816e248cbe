"""One module per resource; each exposes `blueprint(engine)`."""

from . import containers, images, networks, system, unsupported

ROUTE_MODULES = (system, containers, images, networks, unsupported)
