"""One module per resource; each exposes `blueprint(engine)`."""

from . import archive, attach_ws, containers, exec, images, networks, stats, system, unsupported, volumes

ROUTE_MODULES = (system, containers, exec, images, networks, volumes, unsupported, archive, attach_ws, stats)
