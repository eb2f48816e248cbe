"""One module per resource; each exposes `blueprint(engine)`."""

from . import build, commit, containers, images, networks, system, unsupported, volumes

ROUTE_MODULES = (system, containers, images, networks, volumes, build, commit, unsupported)
