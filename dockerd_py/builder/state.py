"""The builder's shared types: options, per-stage state, step errors, stream messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DockerError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")

Message = dict[str, Any]


class BuildError(DockerError):
    """A failed step: its message (and, for RUN, the exit code) travel in the stream."""

    status = 400

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    remove: bool = True
    force_remove: bool = False
    pull: bool = False
    target: str = ""
    network_mode: str = ""
    cache_from: list[str] = field(default_factory=list)
    quiet: bool = False
    extra_hosts: list[str] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)   # HostConfig limits of RUN containers
    registry_auths: dict[str, Any] = field(default_factory=dict)  # X-Registry-Config: host -> AuthConfig (pulls)


@dataclass
class State:
    image_id: str = ""
    run_config: dict[str, Any] = field(default_factory=dict)
    cmd_set: bool = False
    maintainer: str = ""
    args: dict[str, str | None] = field(default_factory=dict)   # declared in this stage: default


def stream(text: str) -> Message:
    return {"stream": text}


def comment_cmd(comment: str) -> list[str]:
    """withCmdComment: the 4-element Cmd of a config-only step (`#(nop)  X` in history)."""
    return ["/bin/sh", "-c", "#(nop) ", comment]


def comment_cmd_string(comment: str) -> list[str]:
    """withCmdCommentString: COPY/ADD/WORKDIR (`#(nop) X` in history)."""
    return ["/bin/sh", "-c", "#(nop) " + comment]
