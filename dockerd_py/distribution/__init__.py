"""Distribution: pull, push and login against registries speaking the HTTP API v2."""

from .registries import RegistryConfig
from .service import DistributionService

__all__ = ["DistributionService", "RegistryConfig"]
