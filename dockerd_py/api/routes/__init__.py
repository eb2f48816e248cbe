"""One module per resource; each exposes `blueprint(engine)`."""

from . import containers, distribution, images, networks, system, unsupported, volumes

ROUTE_MODULES = (system, containers, images, networks, volumes, unsupported, distribution)
