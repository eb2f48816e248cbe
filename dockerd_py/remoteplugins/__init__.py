"""Docker's legacy (v1) remote plugins: discovery, the HTTP client, activation.

`discovery` finds a plugin's socket or spec file, `client` speaks the plugin
RPC (JSON over HTTP/1.1), `registry` activates plugins and caches them.
Adapters that turn a remote driver into a pluggy plugin live beside them,
one module per subsystem (`volume`: VolumeDriver).
"""

from .client import PluginClient, PluginError
from .discovery import Endpoint, PluginDirs, PluginNotFound
from .registry import NotImplementing, Plugin, Registry

__all__ = ["Endpoint", "NotImplementing", "Plugin", "PluginClient", "PluginDirs", "PluginError", "PluginNotFound",
           "Registry"]
