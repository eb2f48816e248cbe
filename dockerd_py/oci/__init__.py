"""Docker container (Config + HostConfig + image config) -> OCI runtime spec (contracts.md §3)."""

from .host import HostInfo, detect as detect_host
from .spec import build_spec, merge_image_config
from .validate import OPTIONS, discard_unsupported, host_config_warnings, unsupported_options, validate_host_config

__all__ = ["HostInfo", "OPTIONS", "build_spec", "detect_host", "discard_unsupported", "host_config_warnings",
           "merge_image_config", "unsupported_options", "validate_host_config"]
