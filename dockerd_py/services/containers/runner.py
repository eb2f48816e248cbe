"""Running containers: start, stop, kill, pause, wait, and the exit monitor.

The runner turns a stored container into a task: it mounts the rootfs, asks
the network service for a sandbox, writes the OCI bundle and spawns a shim.
One monitor thread per running container waits on its shim and records the
exit, so the daemon hears about every exit, including those that happened
while it was down (see `restore`).
"""

import logging
import os
import shutil
import signal as signal_mod
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from ...container_defaults import ContainerDefaults
from ...errors import Conflict, DockerError, InvalidParameter, NotFound, NotModified, SystemErr
from ...lifecycle import ExitStatus, ShimClient, ShimError, ShimGone, ShimLauncher, TaskConfig
from ...oci import build_spec, detect_host
from ...oci import init as init_mod
from ...oci import propagation
from ...oci import rro
from ...oci.mounts import legacy_read_only
from ...state import atomic
from ...timeutil import now_rfc3339
from ..etc_files import DnsSettings, edit_hosts, hosts_line, rewrite_in_place, write_etc_files
from .. import resolvconf
from .oom import OomWatcher
from . import links, logconfig, networking, shared_ns, shm
from .record import Container

log = logging.getLogger("dockerd_py.containers")

DEFAULT_STOP_TIMEOUT = 10


class Attachment:
    """A reserved attach stream: connected now if the container runs, else at its next start."""

    def __init__(self, c: Container, stdin: bool, stdout: bool, stderr: bool,
                 withdraw: Callable[["Attachment"], bool]) -> None:
        self.container = c
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._withdraw = withdraw
        self._ready = threading.Event()
        self._sock: socket.socket | None = None
        self._error: Exception | None = None

    def connect(self, shim: ShimClient) -> None:
        try:
            self._sock = shim.attach(self.stdin, self.stdout, self.stderr,
                                     bool(self.container.config.get("StdinOnce")))
        except Exception as e:
            self._error = e
        self._ready.set()

    def fail(self, error: Exception) -> None:
        self._error = error
        self._ready.set()

    def wait(self, client_gone: Callable[[], bool]) -> socket.socket | None:
        """The connected stream; None when the client or the container went first."""
        while not self._ready.wait(0.5):
            if (client_gone() or self.container.removed) and self._withdraw(self):
                return None
        if self._error is not None:
            raise self._error
        return self._sock


class Runner:
    def __init__(self, *, images, networks, publish: Callable[..., None], runtimes: dict[str, str],
                 exec_root: str, cgroup_parent: str, shim_launcher: ShimLauncher, on_exit: Callable[[Container], None],
                 on_start_failed: Callable[[Container], None], volumes=None,
                 init: tuple[bool, str] = (False, ""), dns_defaults: DnsSettings = DnsSettings(),
                 check_start: Callable[[Container], None] | None = None,
                 lookup: Callable[[str], Container] | None = None,
                 defaults: ContainerDefaults = ContainerDefaults()) -> None:
        self.check_start = check_start  # refuses a start before anything is made (a DockerError)
        self.images = images
        self.lookup = lookup  # containers by reference: PidMode container:<ref> donors, linked containers
        self.dns_defaults = dns_defaults
        self.defaults = defaults  # the daemon's default ulimits, no-new-privileges, seccomp profile
        self.networks = networks
        self.volumes = volumes
        self.publish = publish
        self.runtimes = runtimes
        self.exec_root = exec_root
        self.cgroup_parent = cgroup_parent
        self.shim_launcher = shim_launcher
        self.on_exit = on_exit
        self.on_start_failed = on_start_failed
        self.default_init, self.init_path = init  # daemon's `init` and `init-path`
        self._shims: dict[str, ShimClient] = {}
        self.oom = OomWatcher(self._on_oom)
        self._pending: dict[str, list[Attachment]] = {}

    # --- start ------------------------------------------------------------
    def start(self, c: Container) -> None:
        with c.lock:
            if c.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.running and c.state.status != "restarting":
                raise NotModified()
            if c.state.status in ("removing", "dead"):
                raise Conflict("container is marked for removal and cannot be started")
            try:
                self._start_task(c)
            except SystemErr as e:
                error, c.state.exit_code = start_error(e.message)
                c.state.error = error.message
                c.save()
                self._fail_pending(c, error)
                self.on_start_failed(c)
                raise error from None
            except DockerError as e:  # e.g. a volume that cannot be mounted
                c.state.error = e.message
                c.state.exit_code = c.state.exit_code or 128  # moby's exitUnknown when nothing set one
                c.save()
                self._fail_pending(c, e)
                self.on_start_failed(c)  # --rm still removes it
                raise
            c.save()
        self.publish(c, "start")
        self.oom.watch(c, c.state.pid)
        threading.Thread(target=self._monitor, args=(c, self._shims[c.id]), daemon=True,
                         name=f"monitor-{c.short_id}").start()

    def _config_env(self, container_id: str) -> list[str]:
        """Config.Env of a container (a linked one: for its ALIAS_ENV_* variables); [] once it is gone."""
        try:
            return (self.lookup(container_id).config.get("Env") or []) if self.lookup else []
        except NotFound:
            return []

    def _start_task(self, c: Container) -> None:
        if self.check_start is not None:
            self.check_start(c)
        runtime = c.host_config.get("Runtime")
        if runtime not in self.runtimes:
            raise InvalidParameter(f"Unknown runtime specified {runtime}")
        shutil.rmtree(c.runtime_dir, ignore_errors=True)
        bundle = os.path.join(c.runtime_dir, "bundle")
        os.makedirs(bundle, mode=0o711)
        rootfs = self.images.mount_rw_layer(c.id)
        sandbox = shim = None
        volumes_mounted = shm_mounted = False
        try:
            hc = legacy_read_only(c.host_config) if c.legacy_read_only else c.host_config
            joined = shared_ns.joined(hc, self.lookup) if self.lookup else shared_ns.Joined()
            shm_path = joined.shm_path
            if (hc.get("IpcMode") or "") == "shareable":
                shm_path, shm_mounted = shm.mount(c.dir, hc.get("ShmSize")), True
            elif (hc.get("IpcMode") or "") == "host":
                shm_path = "/dev/shm"  # as Docker: the host's, not a private tmpfs
            if self.volumes is not None:  # volume binds become host paths for the spec
                hc = self.volumes.resolve(c.id, hc, rootfs, first_start=not c.has_been_started)
                volumes_mounted = True
            dns = self.dns_defaults.for_container(hc)
            try:
                sandbox = self.networks.attach(
                    c.id, hc.get("NetworkMode", "bridge"), hc.get("PortBindings") or {},
                    c.config.get("ExposedPorts") or {}, c.config.get("Hostname", ""),
                    {"name": c.name.lstrip("/"), "mac_address": c.config.get("MacAddress"),
                     "publish_all": bool(hc.get("PublishAllPorts")), "endpoints": networking.endpoint_configs(c),
                     "dns": list(dns.servers), "dns_options": list(dns.options), "links": _legacy_links(c)})
            except DockerError as e:  # Docker 28's wrapping; a 500 stays one, not an OCI runtime error
                raise (DockerError if isinstance(e, SystemErr) else type(e))(
                    f"failed to set up container networking: {e.message}") from None
            donor = self._network_donor(hc)
            if donor is not None:  # as Docker: the donor's hostname and its very etc files
                c.config["Hostname"], c.config["Domainname"] = donor.config.get("Hostname", ""), \
                    donor.config.get("Domainname", "")
                etc_files = {f"/etc/{n}": donor.etc_path(n) for n in ("hosts", "hostname", "resolv.conf")}
            else:
                etc_files = write_etc_files(
                    c.dir, c.config.get("Hostname", ""), c.config.get("Domainname", ""),
                    endpoint_ips(sandbox.networks),
                    [*(hc.get("ExtraHosts") or ()), *self.networks.extra_hosts(_legacy_links(c))],
                    dns.servers, dns.search, dns.options,
                    hc.get("NetworkMode", "bridge"), host_gateway=self.networks.host_gateway,
                    embedded_dns=self.networks.uses_embedded_dns(c.id),
                    ipv6=any(ep.get("GlobalIPv6Address") for ep in sandbox.networks.values()))
            links_env = self.link_env(c)
            config = {**c.config, "Env": [*links_env, *(c.config.get("Env") or [])]} if links_env else c.config
            propagation.check(hc)
            try:
                spec = build_spec(container_id=c.id, config=config, host_config=self.defaults.for_spec(hc, c.no_new_privileges),
                                  image_config=self.images.get(c.image_id).config.get("config") or {}, rootfs=rootfs,
                                  etc_files=etc_files, netns_path=sandbox.netns_path,
                                  cgroups_path=os.path.join("/", self.cgroup_parent.strip("/"), c.id),
                                  joined=joined.namespaces, shm_path=shm_path,
                                  host=replace(detect_host(), rro_error=partial(rro.support_error, runtime,
                                                                                self.runtimes[runtime])))
                if init_mod.wanted(hc, self.default_init):
                    init_mod.apply(spec, init_mod.lookup(self.init_path))
            except InvalidParameter as e:  # moby's createSpec: whatever fails there is the daemon's (errdefs.System)
                raise DockerError(e.message) from None
            atomic.write_json(os.path.join(bundle, "config.json"), spec, mode=0o644)
            task = TaskConfig(state_dir=c.runtime_dir, id=c.id, bundle=bundle, runtime=self.runtimes[runtime],
                              runtime_root=os.path.join(self.exec_root, f"runtime-{runtime}"),
                              log_path="" if logconfig.driver(hc.get("LogConfig")) == "none" else c.log_path,
                              **logconfig.rotation(hc.get("LogConfig")).shim_fields(),
                              tty=bool(c.config.get("Tty")),
                              stdin=bool(c.config.get("OpenStdin")), stdin_once=bool(c.config.get("StdinOnce")))
            shim = ShimClient.spawn(task, self.shim_launcher)
            self._connect_pending(c, shim)
            info = shim.start()
        except BaseException:
            if shim is not None:  # created but not started: end it, the shim deletes the task
                _discard_task(shim)
            if sandbox is not None:
                self.networks.detach(c.id)
            if volumes_mounted:
                self.volumes.unmount(c.id)
            if shm_mounted:
                shm.unmount(c.dir)
            self.images.unmount_rw_layer(c.id)
            raise
        self._shims[c.id] = shim
        c.network_settings = {"Networks": sandbox.networks, "Ports": sandbox.ports, "SandboxKey": sandbox.sandbox_key,
                              "SandboxID": sandbox.sandbox_id}
        c.state.status, c.state.pid, c.state.error = "running", info.pid, ""
        c.state.exit_code, c.state.oom_killed = 0, False
        c.state.started_at = info.started_at or now_rfc3339()
        c.has_been_started = True
        c.manually_stopped = False

    def link_env(self, c: Container) -> list[str]:
        """The legacy links' variables of `c` (its start's and its execs' environment)."""
        return self.networks.link_env(_legacy_links(c), c.name, self._config_env)

    def _network_donor(self, hc: dict) -> Container | None:
        """The container whose network namespace a ``container:<ref>`` one joins (checked running before)."""
        mode = hc.get("NetworkMode") or ""
        if not mode.startswith("container:") or self.lookup is None:
            return None
        return self.lookup(mode.partition(":")[2])

    def adopt_embedded_dns(self, c: Container) -> None:
        """A running container's first user-defined network: its resolv.conf now names the
        embedded DNS server, as Docker's sandbox rebuilds it (and keeps it after a disconnect),
        unless the user has edited the file."""
        path = c.etc_path("resolv.conf")
        if resolvconf.user_modified(path):
            return
        dns = self.dns_defaults.for_container(c.host_config)
        text = resolvconf.build(c.host_config.get("NetworkMode") or "default", dns.servers, dns.search,
                                dns.options, embedded_dns=True)
        rewrite_in_place(path, lambda _: text)
        resolvconf.remember(path, text)

    def drop_link_hosts(self, parent: Container, child: Container, alias: str) -> None:
        """A removed legacy link's /etc/hosts entry leaves the running `parent`."""
        entries = self.networks.extra_hosts([f"{child.id}:{alias}"])
        edit_hosts(parent.etc_path("hosts"), remove=[hosts_line(e) for e in entries])

    # --- exit -------------------------------------------------------------
    def _monitor(self, c: Container, shim: ShimClient) -> None:
        try:
            status = shim.wait()
        except Exception as e:  # the shim vanished without a word: the container died with it
            log.warning("container %s: lost its shim: %s", c.short_id, e)
            status = ExitStatus(255, now_rfc3339(), False)
        self._record_exit(c, status.exit_code, status.exited_at, status.oom_killed)

    def _on_oom(self, c: Container) -> None:
        """The kernel killed a process of `c` for its memory limit (it may live on)."""
        with c.lock:
            c.state.oom_killed = True
            c.save()
        self.publish(c, "oom")

    def _record_exit(self, c: Container, exit_code: int, exited_at: str, oom_killed: bool) -> None:
        oom_seen = self.oom.forget(c)
        oom_killed = oom_killed or oom_seen > 0
        with c.lock:
            self._shims.pop(c.id, None)
            try:
                self.networks.detach(c.id)
            except Exception:
                log.exception("container %s: network teardown failed", c.short_id)
            try:
                self.images.unmount_rw_layer(c.id)
            except Exception:
                log.exception("container %s: unmount failed", c.short_id)
            if self.volumes is not None:
                try:
                    self.volumes.unmount(c.id)
                except Exception:
                    log.exception("container %s: volume unmount failed", c.short_id)
            try:
                shm.unmount(c.dir)
            except OSError:
                log.exception("container %s: shm unmount failed", c.short_id)
            c.state.status, c.state.pid = "exited", 0
            c.state.exit_code, c.state.finished_at, c.state.oom_killed = exit_code, exited_at or now_rfc3339(), oom_killed
            c.network_settings = _disconnected(c.network_settings)
            c.exits += 1
            c.save()
            c.changed.notify_all()
        if oom_killed and not oom_seen:
            self.publish(c, "oom")
        self.publish(c, "die", exitCode=str(exit_code))
        self.on_exit(c)

    # --- signals ----------------------------------------------------------
    def kill(self, c: Container, sig: int) -> None:
        with c.lock:
            if not c.state.running:
                raise Conflict(f"container {c.id} is not running")
            shim = self._shims.get(c.id)
        if shim is None:
            raise Conflict(f"container {c.id} is not running")
        try:
            shim.kill(sig, all=False)
        except ShimGone:  # it exited meanwhile; the monitor records the exit
            raise Conflict(f"container {c.id} is not running") from None
        except ShimError as e:
            if not shim.alive() or shim.state().get("status") == "stopped":
                raise Conflict(f"container {c.id} is not running") from None
            raise SystemErr(f"Cannot kill container: {c.id}: {e.message}") from None
        self.publish(c, "kill", signal=str(sig))

    def stop(self, c: Container, sig: int, timeout: int, *, by_user: bool = True) -> None:
        """`by_user`: False at daemon shutdown, whose stops restart policies do not count."""
        with c.lock:
            if not c.state.running:
                raise NotModified()
            c.manually_stopped = c.manually_stopped or by_user
        if c.state.status == "paused":
            self.resume(c, publish=False)
        self._signal_and_wait(c, sig, timeout)
        self.publish(c, "stop")

    def _signal_and_wait(self, c: Container, sig: int, timeout: int) -> None:
        try:
            self.kill(c, sig)
        except Conflict:  # already on its way out
            self.wait_exit(c, None)
            return
        if timeout < 0:
            self.wait_exit(c, None)
            return
        if not self.wait_exit(c, timeout):
            try:
                self.kill(c, signal_mod.SIGKILL)
            except Conflict:
                pass
            self.wait_exit(c, None)

    def wait_exit(self, c: Container, timeout: float | None) -> bool:
        """Block until the container is not running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with c.lock:
            while c.state.running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                c.changed.wait(1.0 if remaining is None else min(remaining, 3600.0))  # a huge -t waits in steps
        return True

    # --- pause ------------------------------------------------------------
    def pause(self, c: Container) -> None:
        with c.lock:
            c.ensure_running()
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            self._shim(c).pause()
            c.state.status = "paused"
            c.save()
        self.publish(c, "pause")

    def resume(self, c: Container, publish: bool = True) -> None:
        with c.lock:
            if c.state.status != "paused":
                raise SystemErr(f"Container {c.id} is not paused")  # moby: a plain fmt.Errorf, so a 500
            self._shim(c).resume()
            c.state.status = "running"
            c.save()
        if publish:
            self.publish(c, "unpause")

    # --- passthroughs -----------------------------------------------------
    def _shim(self, c: Container) -> ShimClient:
        shim = self._shims.get(c.id)
        if shim is None:
            raise Conflict(f"container {c.id} is not running")
        return shim

    def attach(self, c: Container, stdin: bool, stdout: bool, stderr: bool) -> Attachment:
        """Reserve a stream from the container's shim; for a stopped container, from its next start.

        Attaching before start is how `docker run` and `docker start -a` work.
        The reservation is made before the client hears that its upgrade
        succeeded (it sends `start` right after), and it is connected after the
        task is created and before it is started, so no output is lost.
        """
        attachment = Attachment(c, stdin, stdout, stderr, self._withdraw)
        with c.lock:
            shim = self._shims.get(c.id)
            if shim is None:
                self._pending.setdefault(c.id, []).append(attachment)
        if shim is not None:
            attachment.connect(shim)
        return attachment

    def _withdraw(self, attachment: Attachment) -> bool:
        """Drop a reservation that was not connected yet; False if a start took it meanwhile."""
        c = attachment.container
        with c.lock:
            pending = self._pending.get(c.id, [])
            if attachment in pending:
                pending.remove(attachment)
                return True
        return False

    def _fail_pending(self, c: Container, error: Exception) -> None:
        for attachment in self._pending.pop(c.id, []):
            attachment.fail(error)

    def _connect_pending(self, c: Container, shim: ShimClient) -> None:
        for attachment in self._pending.pop(c.id, []):
            attachment.connect(shim)

    def resize(self, c: Container, height: int, width: int) -> None:
        self._shim(c).resize(height, width)

    def pids(self, c: Container) -> list[int]:
        return self._shim(c).pids()

    def has_task(self, c: Container) -> bool:
        return c.id in self._shims

    # --- daemon restart ---------------------------------------------------
    def restore(self, c: Container) -> None:
        """Reconnect to a container's shim, or record the exit it had while we were away."""
        if not c.state.running:
            return
        shim = ShimClient(c.runtime_dir)
        if shim.alive():
            self.images.mount_rw_layer(c.id)  # already mounted: records that the task holds it
            self._shims[c.id] = shim
            self.oom.watch(c, c.state.pid)
            threading.Thread(target=self._monitor, args=(c, shim), daemon=True,
                             name=f"monitor-{c.short_id}").start()
            return
        status = shim.wait()  # reads exit.json, or 255 when the container died with the host
        self._record_exit(c, status.exit_code, status.exited_at, status.oom_killed)

    def cleanup_task_dir(self, c: Container) -> None:
        shutil.rmtree(c.runtime_dir, ignore_errors=True)


def _discard_task(shim: ShimClient) -> None:
    try:
        shim.kill(signal_mod.SIGKILL)
        shim.wait()
    except DockerError:
        log.exception("could not discard a task that failed to start")


def endpoint_ips(networks: dict) -> list[str]:
    """The addresses of a container's endpoints (EndpointSettings by network), IPv4 then IPv6 of each."""
    return [ip for n in networks.values() for ip in (n.get("IPAddress"), n.get("GlobalIPv6Address")) if ip]


def _disconnected(settings: dict) -> dict:
    """NetworkSettings of a stopped container: networks kept by name, live details cleared."""
    cleared = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}
    networks = {name: {**ep, **cleared} for name, ep in (settings.get("Networks") or {}).items()}
    return {"Networks": networks, "Ports": {}, "SandboxKey": "", "SandboxID": ""}


def _legacy_links(c: Container) -> list[str]:
    """A parent's legacy links, set up only when it is on the default bridge (as Docker's)."""
    on_bridge = "bridge" in ((c.network_settings or {}).get("Networks") or {})
    return (c.host_config.get("Links") or []) if on_bridge and links.registers(
        c.host_config.get("NetworkMode") or "") else []


def start_error(runtime_message: str) -> tuple[DockerError, int]:
    """Docker's reading of a failed task creation: the error class and the exit code to record.

    A missing executable is the user's configuration (400, exit code 127), a
    permission problem too (126), a file mounted onto a directory or the reverse
    too (127, with Docker's hint); anything else is the daemon's (500, 128).
    """
    message = ("failed to create task for container: failed to create shim task: "   # containerd's words,
               f"OCI runtime create failed: {runtime_message}: unknown")             # then gRPC's code
    code = failure_exit_code(runtime_message)
    if "not a directory" in runtime_message.lower():  # translateContainerdStartErr's hint (ENOTDIR: 127)
        message += (": Are you trying to mount a directory onto a file (or vice-versa)? "
                    "Check if the specified host path exists and is the expected type")
        code = 127
    return (SystemErr(message) if code == 128 else InvalidParameter(message)), code


def failure_exit_code(runtime_message: str) -> int:
    """The exit code Docker records when a process could not be started (create or exec)."""
    lowered = runtime_message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered or "is a directory" in lowered:
        return 126
    return 128


def stop_timeout(c: Container, requested: int | None) -> int:
    if requested is not None:
        return requested
    configured = c.config.get("StopTimeout")
    return DEFAULT_STOP_TIMEOUT if configured is None else int(configured)

