"""The containers service: the one facade the API's container routes call."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from signal import SIGKILL, SIGTERM

from ...errors import Conflict, DockerError, InvalidParameter, NotFound, NotImplementedErr, SystemErr, wrapped
from ...filters import labels_match, prune_until
from ...container_defaults import ContainerDefaults
from ...lifecycle import ShimLauncher
from ...oci import (discard_unsupported, host_config_warnings, merge_image_config, unsupported_options,
                    validate_host_config)
from ...oci.spec import process_args
from ...timeutil import now_rfc3339, parse_timestamp, rfc3339_to_nano
from .. import mountspecs
from ..etc_files import DnsSettings
from . import create as create_mod
from . import health
from . import links as links_mod
from . import logconfig
from . import logs as logs_mod
from . import platform as platform_mod
from . import restart, shm, signals
from . import stats as stats_mod
from . import update as update_mod
from . import workdir
from .listfilter import ListFilter
from .names import NameRegistry, normalize
from . import networking as networking_mod
from .networking import initial_networks
from .record import Container
from .runner import Attachment, Runner, stop_timeout

log = logging.getLogger("dockerd_py.containers")

KILL_WAIT_SECONDS = 10
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
LIST_FILTERS = {"id", "name", "label", "status", "ancestor", "exited", "before", "since", "network", "health",
                "isolation", "volume", "publish", "expose", "is-task"}
PRUNE_FILTERS = {"until", "label", "label!"}


class ContainerService:
    def __init__(self, *, data_root: str, exec_root: str, images, networks, events, runtimes: dict[str, str],
                 default_runtime: str, cgroup_parent: str, shim_launcher: ShimLauncher, volumes=None,
                 init: tuple[bool, str] = (False, ""), dns_defaults: DnsSettings = DnsSettings(),
                 defaults: ContainerDefaults = ContainerDefaults()) -> None:
        self.root = os.path.join(data_root, "containers")
        self.task_root = os.path.join(exec_root, "containers")
        os.makedirs(self.root, mode=0o710, exist_ok=True)
        os.makedirs(self.task_root, mode=0o710, exist_ok=True)
        self.images = images
        self.networks = networks
        self.events = events
        self.default_runtime = default_runtime
        self.runtimes = runtimes
        self.volumes = volumes
        self.defaults = defaults  # the daemon's --default-* options
        self.shutting_down = False  # set by shutdown.stop_all: no restart policy applies any more
        self.names = NameRegistry()
        self._containers: dict[str, Container] = {}
        self._lock = threading.Lock()
        # called with (container, action) before each container event; the healthchecks use it
        self.lifecycle_listeners: list[Callable[[Container, str], None]] = []
        self.runner = Runner(images=images, networks=networks, publish=self.publish, runtimes=runtimes,
                             exec_root=exec_root, cgroup_parent=cgroup_parent, shim_launcher=shim_launcher, volumes=volumes,
                             on_exit=self._after_exit, on_start_failed=self._after_exit, init=init,
                             dns_defaults=dns_defaults, check_start=self._check_start,
                             lookup=self.get, defaults=defaults)

    def _check_start(self, c: Container) -> None:
        logconfig.check_start(c.host_config.get("LogConfig"))
        networking_mod.check_shared(self, c)
        links_mod.check_start(self, c)

    # --- lookup -------------------------------------------------------------
    def get(self, ref: str) -> Container:
        if not ref:  # daemon.GetContainer's invalidIdentifier
            raise InvalidParameter('invalid name or ID supplied: ""')
        container_id = self.names.resolve(ref)
        with self._lock:
            c = self._containers.get(container_id)
        if c is None:
            raise NotFound(f"No such container: {ref}")
        return c

    def names_of(self, c: Container) -> list[str]:
        """A container's names for the list: its own, then the link names it is known by."""
        return [c.name, *self.names.aliases_of(c.id)]

    def all(self) -> list[Container]:
        with self._lock:
            return sorted(self._containers.values(), key=lambda c: c.created, reverse=True)

    def image_user(self, image_id: str) -> tuple[str, bool] | None:
        """(container ID, running) of a container using the image, for `rmi`'s conflict check.

        A running user is preferred: it makes the conflict one that force cannot override.
        """
        users = [c for c in self.all() if c.image_id == image_id]
        users.sort(key=lambda c: not c.state.running)
        return (users[0].id, users[0].state.running) if users else None

    def counts(self) -> dict[str, int]:
        cs = self.all()
        return {"Containers": len(cs),
                "ContainersRunning": sum(c.state.status in ("running", "restarting") for c in cs),
                "ContainersPaused": sum(c.state.status == "paused" for c in cs),
                "ContainersStopped": sum(not c.state.running for c in cs)}

    # --- create -------------------------------------------------------------
    def create(self, body: dict, name: str | None, *, legacy_read_only: bool = False,
               platform: str = "") -> tuple[str, list[str]]:
        """A new container; `legacy_read_only`: an API < 1.44 client's, whose read-only host binds stay
        read-only on top only (api.versioning.read_only_non_recursive); `platform`: the one the image must serve."""
        config, host_config, networking = create_mod.split_body(body)
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise InvalidParameter("config cannot be empty in order to create a container")
        networking_mod.check_mode_conflicts(config, host_config)  # the request's own, before the image
        image = self.images.get(image_ref)
        if platform:
            platform_mod.check(image_ref, image.config, platform)
        validate_host_config(host_config, config)
        logconfig.validate(self.defaults.merged_log_config(host_config.get("LogConfig")))  # with the daemon's
        health.validate(config.get("Healthcheck"))
        if config.get("StopSignal"):
            signals.parse(config["StopSignal"])  # "Invalid signal: X", as Docker's create
        for m in host_config.get("Mounts") or []:
            mountspecs.check_known_type(m)
        unsupported = unsupported_options(host_config, config)
        if unsupported:
            raise InvalidParameter(f"not supported by this daemon yet: {', '.join(unsupported)}")
        host_config = self.defaults.fill_host_config(host_config)
        no_new_privileges = self.defaults.no_new_privileges_for(host_config)
        warnings = host_config_warnings(host_config)
        host_config = discard_unsupported(host_config)
        host_config = create_mod.fill_host_config_defaults(host_config, self.default_runtime)
        host_config["NetworkMode"] = networking_mod.shared_mode(self, host_config["NetworkMode"])
        create_mod.check_networking_config(networking)
        network_settings = {"Networks": initial_networks(self.networks, host_config["NetworkMode"],
                                                         networking.get("EndpointsConfig") or {})}
        if host_config["Runtime"] not in self.runtimes:
            raise InvalidParameter(f"Unknown runtime specified {host_config['Runtime']}")
        container_id = secrets.token_hex(32)
        merged = merge_image_config(config, image.config.get("config") or {})
        if merged.get("Entrypoint") == [""]:  # mergeAndVerifyConfig: `--entrypoint ""` is none at all
            merged["Entrypoint"] = None
        merged = create_mod.fill_config_defaults(merged, container_id, image_ref, host_config["NetworkMode"])
        path, *args = process_args(merged)
        linked = links_mod.children(self, host_config)
        full_name = normalize(name) if name else None
        if full_name:
            self.names.reserve(full_name, container_id)
        else:
            full_name = self.names.generate(container_id)
        c = Container(id=container_id, name=full_name, created=now_rfc3339(), image_id=image.id,
                      config=merged, host_config=host_config, path=path, args=args,
                      runtime_dir=os.path.join(self.task_root, container_id),
                      dir=os.path.join(self.root, container_id), network_settings=network_settings,
                      legacy_read_only=legacy_read_only,
                      no_new_privileges=no_new_privileges)
        try:
            links_mod.register(self, c, linked)
            os.makedirs(c.dir, mode=0o710)
            self.images.create_rw_layer(c.id, c.image_id)
            if merged.get("WorkingDir"):
                with self.images.rw_layer_lease(c.id) as rootfs:
                    workdir.check(rootfs, merged["WorkingDir"])
            if self.volumes is not None:
                self.volumes.prepare(c.id, merged, host_config)
            c.save()
        except BaseException:
            if self.volumes is not None:
                self.volumes.release(c.id, remove_anonymous=True)
            self._discard_incomplete_create(c.id, c.dir)
            links_mod.forget_parent(self, c)
            self.names.forget(container_id)
            raise
        with self._lock:
            self._containers[c.id] = c
        self.publish(c, "create")
        return c.id, warnings

    # --- lifecycle ------------------------------------------------------------
    def start(self, ref: str) -> None:
        self._start_by_user(self.get(ref))

    def _start_by_user(self, c: Container) -> None:
        """A start the user asked for (start, restart): the restart policy counts from zero again."""
        with c.lock:
            if c.state.status not in ("running", "paused"):
                restart.forget_retries(c)
            self.runner.start(c)

    def stop(self, ref: str, signal: int | None, timeout: int | None) -> None:
        c = self.get(ref)
        self.runner.stop(c, signal or self._stop_signal(c), stop_timeout(c, timeout))

    def restart(self, ref: str, signal: int | None, timeout: int | None) -> None:
        c = self.get(ref)
        try:
            if c.state.running:
                self.runner.stop(c, signal or self._stop_signal(c), stop_timeout(c, timeout))
            self._start_by_user(c)
        except DockerError as e:  # Docker wraps whatever failed, and its status is lost (a 500)
            raise SystemErr(f"Cannot restart container {ref}: {e.message}") from None
        self.publish(c, "restart")

    def kill(self, ref: str, signal: int) -> None:
        """Send a signal; for SIGKILL, Docker also waits (briefly) until the container is gone."""
        c = self.get(ref)
        c.ensure_running()
        stop_signal = self._stop_signal(c) if c.config.get("StopSignal") else None
        if restart.cancelled_by_kill(c, signal, stop_signal):
            with c.lock:
                c.manually_stopped = True
        self.runner.kill(c, signal)
        if signal == SIGKILL:
            self.runner.wait_exit(c, KILL_WAIT_SECONDS)

    def pause(self, ref: str) -> None:
        self.runner.pause(self.get(ref))

    def unpause(self, ref: str) -> None:
        self.runner.resume(self.get(ref))

    def _stop_signal(self, c: Container) -> int:
        return signals.parse(c.config.get("StopSignal"), default=SIGTERM)

    def wait(self, ref: str, condition: str) -> Callable[[], int]:
        """Validate now, block later: returns a function that waits and gives the exit code.

        The API sends its 200 and headers before the wait blocks, as Docker does.
        """
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidParameter(f"invalid condition: {json.dumps(condition)}")
        c = self.get(ref)
        with c.lock:
            exits_before = c.exits

        def waiter() -> int:
            with c.lock:
                if condition == "next-exit":
                    while c.exits == exits_before and not c.removed:
                        c.changed.wait(1.0)
                elif condition == "removed":
                    while not c.removed:
                        c.changed.wait(1.0)
                else:
                    while c.state.running and not c.removed:
                        c.changed.wait(1.0)
                return c.state.exit_code

        return waiter

    def _after_exit(self, c: Container) -> None:
        if c.host_config.get("AutoRemove"):
            threading.Thread(target=self._auto_remove, args=(c,), daemon=True).start()
        elif not self.shutting_down and restart.should_restart(c, c.state.exit_code):
            threading.Thread(target=self._restart_by_policy, args=(c,), daemon=True,
                             name=f"restart-{c.short_id}").start()

    def _restart_by_policy(self, c: Container) -> None:
        with c.lock:
            c.restart_delay = restart.next_delay(c, c.restart_delay)
            delay = c.restart_delay
            c.state.status = "restarting"
            c.save()
        if not restart.sleep_unless(lambda: c.manually_stopped or c.removed, delay):
            with c.lock:
                if c.state.status == "restarting":
                    c.state.status = "exited"
                    c.save()
                    c.changed.notify_all()
            return
        with c.lock:
            c.restart_count += 1
        try:
            self.runner.start(c)
        except Exception as e:
            log.warning("container %s: restart by policy failed: %s", c.short_id, e)

    def _auto_remove(self, c: Container) -> None:
        try:
            self.remove(c.id, force=True, volumes=True)
        except NotFound:
            pass
        except Exception:
            log.exception("container %s: auto-remove failed", c.short_id)

    # --- remove, rename, prune -------------------------------------------------
    def remove(self, ref: str, force: bool, volumes: bool) -> None:
        c = self.get(ref)
        with c.lock:
            if c.removed or c.state.status == "removing":
                return
            if c.state.running:
                if not force:
                    raise Conflict(f'cannot remove container "{c.name}": container is running: '
                                   "stop the container before removing or force remove")
        if c.state.running:
            c.manually_stopped = True  # no restart policy may bring it back
            try:
                self.runner.kill(c, SIGKILL)
            except Conflict:
                pass
            self.runner.wait_exit(c, None)
        with c.lock:
            if c.removed:
                return
            c.state.status = "removing"
            self.images.remove_rw_layer(c.id)
            self.runner.cleanup_task_dir(c)
            shm.unmount(c.dir)  # IpcMode shareable: left by a daemon that died while it ran
            shutil.rmtree(c.dir, ignore_errors=True)
            if self.volumes is not None:
                self.volumes.release(c.id, remove_anonymous=volumes)
            links_mod.forget_parent(self, c)
            self.names.forget(c.id)
            with self._lock:
                self._containers.pop(c.id, None)
            c.removed = True
            c.changed.notify_all()
        self.publish(c, "destroy")

    def link_env(self, c: Container) -> list[str]:
        """An exec's legacy links' variables, computed now as Docker's (its error if a child is down)."""
        links_mod.check_start(self, c)
        return self.runner.link_env(c)

    def remove_link(self, ref: str) -> None:
        """DELETE /containers/{parent/alias}?link=1 (`docker rm --link`): the child stays; a
        running parent's /etc/hosts loses the link's entry, as Docker's sandbox refresh."""
        child = self.get(ref)
        linked = links_mod.unlink(self, ref)
        if linked is not None and linked[0].state.running:
            parent, alias = linked
            self.runner.drop_link_hosts(parent, child, alias)

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        new = new_name if new_name.startswith("/") else "/" + new_name
        with c.lock:
            old = c.name
            if old == new:
                raise InvalidParameter("Renaming a container with the same name as its current name")
            try:  # daemon.reserveName's errors, wrapped as ContainerRename wraps them
                self.names.reserve(normalize(new), c.id)
            except (InvalidParameter, Conflict) as e:
                raise wrapped(e, "Error when allocating new name") from None
            self.names.release(old)
            c.name = new
            c.save()
        links_mod.renamed(self, c, old)
        self.networks.rename(c.id, new.lstrip("/"))  # the embedded DNS answers to the new name
        self.publish(c, "rename", oldName=old)

    def prune(self, filters: dict[str, list[str]]) -> dict:
        until = prune_until(filters)
        until = parse_timestamp(until) if until else None
        deleted = []
        for c in self.all():
            if c.state.running or c.state.status == "removing":
                continue
            if until is not None and rfc3339_to_nano(c.created) >= until:
                continue
            if not labels_match(c.config.get("Labels"), filters.get("label", []), filters.get("label!", [])):
                continue
            try:
                self.remove(c.id, force=False, volumes=False)
                deleted.append(c.id)
            except (Conflict, NotFound):
                continue
        self.events.publish("container", "prune", "", {"reclaimed": "0"})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": 0}

    # --- list -------------------------------------------------------------------
    def list(self, all_: bool, limit: int, filters: dict[str, list[str]]) -> list[Container]:
        for status in filters.get("status", []):
            if status not in STATUSES:
                raise InvalidParameter(f"invalid filter 'status={status}'")
        for value in filters.get("health", []):
            if value not in health.FILTER_VALUES:
                raise InvalidParameter(f"Unrecognised filter value for health: {value}")
        more = ListFilter(filters)
        result = self.all()
        before = self._boundary(filters.get("before"))
        since = self._boundary(filters.get("since"))
        if before is not None:
            result = [c for c in result if c.created < before.created]
        if since is not None:
            result = [c for c in result if c.created > since.created]
        if not all_ and limit <= 0 and "status" not in filters:  # before, since, exited: running ones only
            result = [c for c in result if c.state.running]
        result = [c for c in result if self._matches(c, filters) and more.matches(c, self._volume_mounts(c, more))]
        if limit > 0:
            result = result[:limit]
        return result

    def _boundary(self, refs: list[str] | None) -> Container | None:
        if not refs:
            return None
        return self.get(refs[0])

    def _matches(self, c: Container, filters: dict[str, list[str]]) -> bool:
        def any_regex(values: list[str], text: str) -> bool:
            return any(re.search(v, text) for v in values)

        if "id" in filters and not any(c.id.startswith(v) for v in filters["id"]):
            return False
        if "name" in filters and not any_regex(filters["name"], c.name):
            return False
        if "status" in filters and c.state.status not in filters["status"]:
            return False
        if "health" in filters and health.status(c) not in filters["health"]:
            return False
        if "label" in filters and not labels_match(c.config.get("Labels"), filters["label"]):
            return False
        if "ancestor" in filters and not any(self._descends(c, ref) for ref in filters["ancestor"]):
            return False
        if "network" in filters:
            networks = (c.network_settings.get("Networks") or {}) if c.state.running else {}
            ids = {n.get("NetworkID", "") for n in networks.values()}
            if not any(v in networks or any(i.startswith(v) for i in ids) for v in filters["network"]):
                return False
        return True

    def _volume_mounts(self, c: Container, more: ListFilter) -> list[dict]:
        return self.volumes.container_mounts(c.id) if more.volume is not None and self.volumes is not None else []

    def _descends(self, c: Container, ref: str) -> bool:
        try:
            return self.images.get(ref).id == c.image_id
        except NotFound:
            return False

    # --- I/O --------------------------------------------------------------------
    def logs(self, c: Container, query: logs_mod.LogQuery) -> Iterator[logs_mod.LogLine | None]:
        log_type = (c.host_config.get("LogConfig") or {}).get("Type", "json-file")
        if log_type not in ("json-file", "local"):
            raise NotImplementedErr('configured logging driver does not support reading')
        exits = c.exits  # a follower ends with the run it began on, as Docker's closes with the log file
        return logs_mod.read(c.log_path, query, lambda: c.state.running and c.exits == exits,
                             logconfig.rotation(c.host_config.get("LogConfig")).max_file)

    def attach(self, c: Container, stdin: bool, stdout: bool, stderr: bool) -> Attachment:
        """Reserve the stream before the client is told it is attached (see Runner.attach)."""
        attachment = self.runner.attach(c, stdin, stdout, stderr)
        self.publish(c, "attach")
        return attachment

    def sizes(self, c: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the container's own changes, and those plus its image."""
        rw = self.images.rw_layer_size(c.id)
        return rw, rw + self.images.size(self.images.get(c.image_id))

    def publish_detach(self, c: Container) -> None:
        self.publish(c, "detach")

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        c.ensure_running()
        if c.config.get("Tty"):  # without one there is nothing to size: a no-op, as containerd's
            self.runner.resize(c, height, width)
        self.publish(c, "resize", height=str(height), width=str(width))

    def top(self, ref: str, ps_args: str) -> dict:
        c = self.get(ref)
        c.ensure_running()
        pids = set(self.runner.pids(c))
        args = ps_args.split() if ps_args else ["-ef"]
        proc = subprocess.run(["ps", *args], capture_output=True, text=True)
        if proc.returncode != 0:  # the first line of ps's complaint, as Docker's ContainerTop
            first = proc.stderr.split("\n", 1)[0]
            if first:
                raise InvalidParameter(f"ps: {first}")
            raise SystemErr(f"ps: exit status {proc.returncode}")
        lines = proc.stdout.splitlines()
        if not lines:
            return {"Titles": [], "Processes": []}
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidParameter("Couldn't find PID field in ps output")
        pid_col = titles.index("PID")
        processes = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
                processes.append(fields)
        return {"Titles": titles, "Processes": processes}

    # --- resources: stats and update ------------------------------------------------
    def stats(self, ref: str, follow: bool, one_shot: bool) -> Iterator[dict]:
        return stats_mod.stream(self.get(ref), follow=follow, one_shot=one_shot)

    def update(self, ref: str, body: dict) -> list[str]:
        """Store the new resources; a live container gets them through the runtime's `update`."""
        changes = update_mod.parse(body)
        warnings = update_mod.validate(changes)
        changes = discard_unsupported(changes)  # what the warnings call discarded, as Docker's update
        c = self.get(ref)
        with c.lock:
            if c.removed or c.state.status in ("removing", "dead"):
                raise Conflict(f'Cannot update container {c.id}: container is marked for removal and cannot be "update"')
            before = c.host_config
            c.host_config = update_mod.merge(c.id, before, changes)
            c.save()
            if c.state.running and c.state.status != "restarting" and self.runner.has_task(c):
                runtime = c.host_config.get("Runtime")
                try:
                    update_mod.apply_live(self.runtimes[runtime], os.path.join(self.runner.exec_root, f"runtime-{runtime}"),
                                          c.id, update_mod.runtime_resources(changes))
                except SystemErr:
                    c.host_config = before
                    c.save()
                    raise
        self.publish(c, "update")
        return warnings

    # --- events & restart ---------------------------------------------------------
    def publish(self, c: Container, action: str, **extra: str) -> None:
        """A container event; also for work done outside this service (cp, export, exec, healthchecks)."""
        for listener in self.lifecycle_listeners:
            listener(c, action)
        attributes = dict(c.config.get("Labels") or {})
        attributes.update({"image": c.config.get("Image", ""), "name": c.name.lstrip("/")})
        attributes.update(extra)
        self.events.publish("container", action, c.id, attributes)

    def _discard_incomplete_create(self, container_id: str, directory: str) -> None:
        """A create the daemon died in the middle of: nothing was reported to a client, so undo it."""
        log.warning("removing container %s: its create never completed", container_id[:12])
        try:
            self.images.remove_rw_layer(container_id)
        except Exception:
            log.exception("container %s: could not remove its layer", container_id[:12])
        shutil.rmtree(directory, ignore_errors=True)

    def restore(self) -> None:
        """Load every container from disk and reconnect to the running ones."""
        for container_id in os.listdir(self.root):
            directory = os.path.join(self.root, container_id)
            if not os.path.exists(os.path.join(directory, "config.v2.json")):
                self._discard_incomplete_create(container_id, directory)
                continue
            try:
                c = Container.load(directory, os.path.join(self.task_root, container_id))
            except (OSError, ValueError, KeyError):
                log.warning("skipping unreadable container %s", container_id)
                continue
            self.names.reserve(c.name, c.id)
            with self._lock:
                self._containers[c.id] = c
        for c in self.all():
            links_mod.restore(self, c)
        for c in self.all():
            try:
                self.runner.restore(c)
            except Exception:
                log.exception("container %s: restore failed", c.short_id)
        self.networks.restore(c.id for c in self.all() if self.runner.has_task(c))
        for c in self.all():
            if restart.start_at_boot(c):
                try:
                    self.runner.start(c)
                except Exception as e:
                    log.warning("container %s: start at boot failed: %s", c.short_id, e)
