"""`docker cp`, `docker export` and `docker diff`: a container's filesystem.

Paths are resolved and tar data is made or applied by a child process that
sees the container's rootfs with its volumes and binds, chrooted
(`dockerd_py.containerfs`). The rootfs of a stopped container is mounted for
the duration (`ImageStore.rw_layer_lease`), shared with a task that starts
meanwhile, as Docker's refcounted layer mounts are.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterable, Iterator

from ...containerfs.client import ChildError, Session
from ...errors import DockerError, InvalidParameter, NotFound, SystemErr
from ...oci import mounts as oci_mounts
from ...oci.user import resolve_user
from .record import Container

_ETC_FILES = (("hosts", "/etc/hosts"), ("hostname", "/etc/hostname"), ("resolv.conf", "/etc/resolv.conf"))


class ContainerFiles:
    def __init__(self, containers, images, volumes) -> None:
        self.containers = containers
        self.images = images
        self.volumes = volumes

    # --- cp ----------------------------------------------------------------------
    def stat(self, ref: str, path: str) -> dict:
        c = self.containers.get(ref)
        with self._session(c, {"op": "stat", "path": path}, ref, path) as s:
            return s.status()["stat"]

    def get(self, ref: str, path: str) -> tuple[dict, Iterator[bytes]]:
        """The path's stat, and its tar (the child, and the rootfs, live until the tar is consumed)."""
        c = self.containers.get(ref)
        first, stream = self._streaming(c, {"op": "get", "path": path}, ref, path, with_mounts=True)
        self.containers.publish(c, "archive-path")
        return first["stat"], stream

    def put(self, ref: str, path: str, body: Iterable[bytes], copy_uid_gid: bool, no_overwrite_dir_non_dir: bool) -> None:
        c = self.containers.get(ref)
        request = {"op": "put", "path": path, "no_overwrite_dir_non_dir": no_overwrite_dir_non_dir,
                   "readonly_rootfs": bool(c.host_config.get("ReadonlyRootfs")), "chown": None}
        with self._session(c, request, ref, path, data_in=True, copy_uid_gid=copy_uid_gid) as s:
            s.status()
            s.feed(body)
            s.status()
        self.containers.publish(c, "extract-to-dir")

    # --- export and diff ---------------------------------------------------------------
    def export(self, ref: str) -> Iterator[bytes]:
        """The merged rootfs as a tar: no volumes nor binds, as Docker's export."""
        c = self.containers.get(ref)
        _, stream = self._streaming(c, {"op": "export"}, ref, "/", with_mounts=False)
        self.containers.publish(c, "export")
        return stream

    def changes(self, ref: str) -> list[dict]:
        c = self.containers.get(ref)
        return self.images.rw_layer_changes(c.id)

    # --- the child -----------------------------------------------------------------------
    def _streaming(self, c: Container, request: dict, ref: str, path: str,
                   with_mounts: bool) -> tuple[dict, Iterator[bytes]]:
        """A session whose tar output is read later: it ends when the stream is consumed or closed."""
        stack = contextlib.ExitStack()
        try:
            session = stack.enter_context(self._session(c, request, ref, path, data_out=True, with_mounts=with_mounts))
            first = session.status()
        except ChildError as e:
            stack.close()
            raise _docker_error(e, ref, path) from None
        except BaseException:
            stack.close()
            raise

        def stream() -> Iterator[bytes]:
            with stack:
                yield from session.output()
                session.status()

        return first, stream()

    @contextlib.contextmanager
    def _session(self, c: Container, request: dict, ref: str, path: str, *, data_in: bool = False,
                 data_out: bool = False, with_mounts: bool = True, copy_uid_gid: bool = False) -> Iterator[Session]:
        with self.images.rw_layer_lease(c.id) as rootfs:
            request = {**request, "root": rootfs, "mounts": self.mounts(c) if with_mounts else []}
            if copy_uid_gid and c.config.get("User"):
                user = resolve_user(rootfs, c.config["User"])
                request["chown"] = [user["uid"], user["gid"]]
            session = Session(request, data_in=data_in, data_out=data_out)
            try:
                yield session
            except ChildError as e:
                raise _docker_error(e, ref, path) from None
            finally:
                session.close()

    def mounts(self, c: Container) -> list[dict]:
        """The container's volumes, binds and network files, as cp sees them (Docker leaves tmpfs out)."""
        found: dict[str, dict] = {}
        for target_name, target in _ETC_FILES:
            source = os.path.join(c.dir, target_name)
            if c.has_been_started and os.path.exists(source):
                found[target] = {"source": source, "destination": target, "rw": True}
        if self.volumes is not None:
            for m in self.volumes.container_mounts(c.id):
                if m.get("Source"):
                    found[m["Destination"]] = {"source": m["Source"], "destination": m["Destination"], "rw": m["RW"]}
        for bind in c.host_config.get("Binds") or []:
            if oci_mounts.is_host_bind(bind):
                um = oci_mounts.parse_bind(bind)
                found[um.destination] = {"source": um.source, "destination": um.destination, "rw": um.writable}
        for m in c.host_config.get("Mounts") or []:
            if m.get("Type") == "bind" and m.get("Source") and m.get("Target"):
                target = posixpath.normpath(m["Target"])
                found[target] = {"source": m["Source"], "destination": target, "rw": not m.get("ReadOnly")}
        return [m for m in found.values() if os.path.exists(m["source"])]


def _docker_error(e: ChildError, ref: str, path: str) -> DockerError:
    if e.kind == "notfound":
        return NotFound(f"Could not find the file {path} in container {ref}")
    return SystemErr(e.message)


def archive_path(raw: str) -> str:
    """The `path` query parameter, with Docker's (misspelt) error when it is missing."""
    if not raw:
        raise InvalidParameter("bad parameter: pathcannot be empty")
    return raw
