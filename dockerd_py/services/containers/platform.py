"""create's `platform`: the local image must serve it (moby's GetImage with a platform).

Docker answers a local image of another platform as not found (404), so that the
CLI goes on to pull the one asked for.
"""

from __future__ import annotations

from typing import Any

from ...distribution.manifest import of_config, parse_platform, rank
from ...errors import NotFound


def _format(p: tuple[str, str, str]) -> str:
    """platforms.Format of a parsed platform: arm64's default variant is not written."""
    os_name, arch, variant = p
    return "/".join(x for x in (os_name, arch, "" if (arch, variant) == ("arm64", "v8") else variant) if x)


def _serves(want: tuple[str, str, str], got: tuple[str, str, str], variant_given: bool) -> bool:
    """platforms.Only(want) with moby's fallback for an image config without a variant."""
    if rank(want, {"os": got[0], "architecture": got[1], "variant": got[2]}) is not None:
        return True
    if got[0] != want[0]:
        return False
    if want[1] == "amd64" and got[1] == "386":  # an amd64 host runs 386 images
        return True
    if want[1] == "arm64" and got[1] == "arm":  # and arm64 runs 32-bit arm up to v8
        return got[2] in ("v5", "v6", "v7", "v8")
    return not variant_given and got[1] == want[1]


def check(ref: str, image_config: dict[str, Any], platform: str) -> None:
    """Refuse an image whose config names another platform than `platform`."""
    want = parse_platform(platform)
    got = of_config(image_config)
    if _serves(want, got, bool(image_config.get("variant"))):
        return
    actual = "/".join(x for x in (str(image_config.get("os") or ""), str(image_config.get("architecture") or ""),
                                  str(image_config.get("variant") or "")) if x)
    raise NotFound(f"image with reference {ref} was found but does not match the specified platform: "
                   f"wanted {_format(want)}, actual: {actual}")
