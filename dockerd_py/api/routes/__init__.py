"""One module per resource; each exposes `blueprint(engine)`."""

from . import archive, attach_ws, containers, images, networks, system, unsupported, volumes

ROUTE_MODULES = (system, containers, images, networks, volumes, unsupported, archive, attach_ws)
