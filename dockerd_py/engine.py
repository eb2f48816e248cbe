"""The engine: builds every service once, wires them together, owns their lifetime.

Services talk to each other only through the references passed here.
"""

import logging

from .config import DaemonConfig
from .container_defaults import ContainerDefaults
from .lifecycle import ShimLauncher
from .services.events import EventBus

log = logging.getLogger("dockerd_py")


class Engine:
    current: "Engine | None" = None

    def __init__(self, config: DaemonConfig) -> None:
        from .distribution import DistributionService, RegistryConfig
        from .images import ImageStore
        from .pluginhost import PluginHost
        from .services.containers.exec import ExecService
        from .services.containers.health import HealthMonitor
        from .services.containers.service import ContainerService
        from .services.dns import EmbeddedDNS
        from .services.etc_files import DnsSettings
        from .services.networks import NetworkService
        from .services.system import SystemService
        from .services.volumes import VolumeService

        self.config = config
        self.events = EventBus()
        self.images = ImageStore(config.data_root, on_event=self._image_event,
                                 storage_driver=config.storage_driver)
        self.plugins = PluginHost()
        self.networks = NetworkService(data_root=config.data_root, exec_root=config.exec_root,
                                       bridge_name=config.bridge, bip=config.bip, pluginhost=self.plugins,
                                       on_event=self._network_event,
                                       default_pools=config.default_address_pools,
                                       ipv6=config.ipv6, fixed_cidr_v6=config.fixed_cidr_v6,
                                       default_bridge=config.default_bridge)
        self.networks.dns = EmbeddedDNS(self.networks.dns_lookup, self.networks.dns_reverse)
        self.volumes = VolumeService(config.data_root, self.plugins, on_event=self._volume_event)
        self.shim_launcher = ShimLauncher(config.exec_root, start=True)  # the shim fork server
        self.containers = ContainerService(data_root=config.data_root, exec_root=config.exec_root,
                                           images=self.images, networks=self.networks, events=self.events,
                                           runtimes=config.runtimes, default_runtime=config.default_runtime,
                                           cgroup_parent=config.cgroup_parent, shim_launcher=self.shim_launcher,
                                           volumes=self.volumes, init=(config.init, config.init_path),
                                           dns_defaults=DnsSettings(tuple(config.dns), tuple(config.dns_search),
                                                                    tuple(config.dns_opts)),
                                           defaults=ContainerDefaults.from_config(config))
        self.volumes.find_container = self.containers.get  # --volumes-from
        self.execs = ExecService(self.containers)
        self.health = HealthMonitor(self.execs, self.containers)
        self.containers.lifecycle_listeners.append(self.health.on_lifecycle)
        self.distribution = DistributionService(
            self.images, RegistryConfig(config.insecure_registries, config.registry_mirrors))
        self.system = SystemService(config, self.containers, self.images, self.events, self.plugins)

    def start(self) -> None:
        Engine.current = self
        self.containers.restore()
        self.execs.restore()
        self.health.restore()
        self.volumes.restore(c.id for c in self.containers.all())
        log.info("dockerd-py ready: %s", ", ".join(self.config.hosts))

    def shutdown(self, *, daemon_exits: bool = True) -> None:
        """Stop serving. When the daemon exits without --live-restore, the containers are stopped
        first, as dockerd does (services/containers/shutdown.py); else they keep running under
        their shims (a worker that gunicorn replaces leaves them alone)."""
        Engine.current = None
        if daemon_exits and not self.config.live_restore:
            from .services.containers import shutdown

            shutdown.stop_all(self.containers, self.config.shutdown_timeout)
        self.shim_launcher.close(stop=True)
        self.networks.dns.close()

    def _image_event(self, action: str, ref: str, attributes: dict | None = None) -> None:
        self.events.publish("image", action, ref, attributes or {})

    def _volume_event(self, action: str, name: str, attrs: dict) -> None:
        self.events.publish("volume", action, name, attrs)

    def _network_event(self, type: str, action: str, actor_id: str, attrs: dict) -> None:
        self.events.publish(type, action, actor_id, attrs)

