"""A daemon a benchmark drives through the docker CLI, side by side with others.

Each bench names the daemons it compares (A: the one at DOCKER_HOST, B: BENCH_B) and runs the
same `docker` commands against each; this is the part they share.
"""

from __future__ import annotations

import os
import subprocess
import time

DEFAULT_CLI = "/usr/local/bin/docker"


class DockerTarget:
    def __init__(self, name: str, host: str, cli: str, **env: str) -> None:
        """`env`: more variables for the CLI (DOCKER_CONFIG, DOCKER_BUILDKIT, ...); the caller's
        other DOCKER_* variables are dropped, so only `host` is reached."""
        self.name, self.host, self.cli = name, host, cli
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env.update(DOCKER_HOST=host, **env)

    def docker(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        # own session: a Ctrl-C on the terminal reaches the bench only, never a CLI half-way
        # through `docker run -d` (its container would escape cleanup)
        p = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                           start_new_session=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"[{self.name}] docker {' '.join(args)}: rc={p.returncode}: {p.stderr.strip()[-800:]}")
        return p

    def timed(self, *args: str, timeout: float = 600) -> float:
        """Seconds one `docker ARGS` took."""
        t0 = time.perf_counter()
        self.docker(*args, timeout=timeout)
        return time.perf_counter() - t0

    def version(self) -> str:
        p = self.docker("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})", check=False)
        return p.stdout.strip() or p.stderr.strip()[:100]
