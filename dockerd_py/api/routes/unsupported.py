"""Routes this daemon does not serve (yet), answered honestly rather than with a 404.

Swarm mode is out of scope (DESIGN.md): every swarm object route gives
Docker's 503 for a node that is not a manager. Managed plugins (`docker
plugin`) are not supported: those routes say so with a 501.
"""

from flask import Blueprint

from ...errors import NotImplementedErr, Unavailable

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                 "this node to swarm and try again.")
SWARM_PREFIXES = ("swarm", "nodes", "services", "tasks", "secrets", "configs")
ALL = ["GET", "POST", "PUT", "DELETE", "HEAD"]


def blueprint(engine) -> Blueprint:
    bp = Blueprint("unsupported", __name__)

    def not_a_manager(**_):
        raise Unavailable(NOT_A_MANAGER)

    def not_in_swarm(**_):
        raise Unavailable("This node is not part of a swarm")

    def no_plugins(**_):
        raise NotImplementedErr("plugin management (docker plugin) is not supported by this daemon")

    bp.add_url_rule("/swarm/leave", "swarm-leave", not_in_swarm, methods=["POST"])
    bp.add_url_rule("/swarm/unlock", "swarm-unlock", not_in_swarm, methods=["POST"])
    for prefix in SWARM_PREFIXES:
        bp.add_url_rule(f"/{prefix}", f"{prefix}-root", not_a_manager, methods=ALL)
        bp.add_url_rule(f"/{prefix}/<path:rest>", f"{prefix}-any", not_a_manager, methods=ALL)
    bp.add_url_rule("/plugins", "plugins-root", no_plugins, methods=ALL)
    bp.add_url_rule("/plugins/<path:rest>", "plugins-any", no_plugins, methods=ALL)
    return bp
