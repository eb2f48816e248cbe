"""Docker's embedded DNS server (127.0.0.11) for containers on user-defined networks."""

from .server import EmbeddedDNS

__all__ = ["EmbeddedDNS"]
