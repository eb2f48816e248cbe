"""dockerd-py: a Docker Engine daemon written in Python."""

__version__ = "0.1.0"

