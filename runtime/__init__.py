"""dockerd-py-runc: a runc-compatible OCI runtime in pure Python (stdlib only).

Installed as ``dockerd_runtime``; everything inside uses relative imports and
never touches ``dockerd_py`` (this runs for every container: keep it small).
"""

__version__ = "0.1.0"
OCI_VERSION = "1.0.2"
