"""One module per resource; each exposes `blueprint(engine)`."""

from . import (archive, attach_ws, build, commit, containers, distribution, exec, images, networks, stats, system,
               unsupported, volumes)

ROUTE_MODULES = (system, containers, exec, images, distribution, networks, volumes, build, commit, archive, attach_ws,
                 stats, unsupported)
