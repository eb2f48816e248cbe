"""One module per resource; each exposes `blueprint(engine)`."""

from . import containers, images, networks, system, unsupported, volumes

ROUTE_MODULES = (system, containers, images, networks, volumes, unsupported)

from . import stats  # noqa: E402  (container stats and update)

ROUTE_MODULES += (stats,)
