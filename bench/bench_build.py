#!/usr/bin/env python3
"""`docker build` (legacy builder) on two Docker-API daemons, side by side.

Daemon A is ``BENCH_A`` (a DOCKER_HOST URL; default: $DOCKER_HOST, else the
default socket); daemon B is ``BENCH_B`` (optional), e.g. Docker's own dockerd
from ``contrib/reference-dockerd.sh``. Both need a ``busybox`` image.

The context holds a Dockerfile with a 50 MB COPY (``--copy-mb``) and 10 RUN
steps (``--runs``). Scenarios, each ``--samples`` times, A and B alternating
(ABBA order):

  cold    ``docker build --no-cache``: every step runs and commits
  cached  the same build again without --no-cache: every step a cache hit

Every image is tagged ``dockerd-py-bench-build-<run id>:<n>`` and removed
(with its untagged parents) at the end, also on failure or Ctrl-C.
Results: a table on stdout, JSON in bench/results/build-<timestamp>.json.
Standard library only, plus the docker CLI (run with DOCKER_BUILDKIT=0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from target import DEFAULT_CLI, DockerTarget

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


class Daemon(DockerTarget):
    def __init__(self, name: str, host: str, cli: str, run_id: str) -> None:
        super().__init__(name, host, cli, DOCKER_BUILDKIT="0")
        self.repo = f"dockerd-py-bench-build-{run_id}"
        self.tags: list[str] = []

    def build(self, context: str, no_cache: bool) -> tuple[float, str]:
        tag = f"{self.repo}:{len(self.tags)}"
        self.tags.append(tag)
        args = ["build", "-t", tag] + (["--no-cache"] if no_cache else []) + [context]
        t0 = time.perf_counter()
        out = self.docker(*args).stdout
        return time.perf_counter() - t0, out

    def cleanup(self) -> None:
        if self.tags:
            subprocess.run([self.cli, "rmi", "-f", *self.tags], env=self.env, capture_output=True, timeout=300)
            self.tags.clear()


def make_context(path: str, copy_mb: int, runs: int) -> None:
    with open(os.path.join(path, "big.bin"), "wb") as f:
        for _ in range(copy_mb):
            f.write(os.urandom(1 << 20))
    lines = ["FROM busybox", "COPY big.bin /data/big.bin"]
    lines += [f"RUN echo step {i} > /step{i} && ls /data > /dev/null" for i in range(runs)]
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")


def order(i: int, daemons: list[Daemon]) -> list[Daemon]:
    return daemons if i % 2 == 0 else list(reversed(daemons))


def summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "samples": xs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--copy-mb", type=int, default=50)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--cli", default=os.environ.get("DOCKER_CLI", DEFAULT_CLI))
    args = ap.parse_args()
    run_id = uuid.uuid4().hex[:8]
    hosts = [("A", os.environ.get("BENCH_A") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")]
    if os.environ.get("BENCH_B"):
        hosts.append(("B", os.environ["BENCH_B"]))
    daemons = [Daemon(name, host, args.cli, run_id) for name, host in hosts]
    context = tempfile.mkdtemp(prefix="bench-build-")
    results: dict = {"run_id": run_id, "daemons": {d.name: d.host for d in daemons}, "copy_mb": args.copy_mb,
                     "runs": args.runs, "scenarios": {}}
    try:
        make_context(context, args.copy_mb, args.runs)
        for d in daemons:
            d.build(context, no_cache=False)          # warm-up: page cache, and the entries "cached" hits
        cold: dict[str, list[float]] = {d.name: [] for d in daemons}
        cached: dict[str, list[float]] = {d.name: [] for d in daemons}
        for i in range(args.samples):
            for d in order(i, daemons):
                seconds, _ = d.build(context, no_cache=True)
                cold[d.name].append(seconds)
            for d in order(i + 1, daemons):
                seconds, out = d.build(context, no_cache=False)
                if out.count("Using cache") != args.runs + 1:
                    raise RuntimeError(f"[{d.name}] the cached build ran steps:\n{out}")
                cached[d.name].append(seconds)
        results["scenarios"] = {"cold": {n: summary(v) for n, v in cold.items()},
                                "cached": {n: summary(v) for n, v in cached.items()}}
    finally:
        for d in daemons:
            d.cleanup()
        shutil.rmtree(context, ignore_errors=True)
    print(f"{'scenario':<10}" + "".join(f"{d.name + ' median (s)':>18}" for d in daemons)
          + (f"{'ratio A/B':>12}" if len(daemons) == 2 else ""))
    for scen, per in results["scenarios"].items():
        row = f"{scen:<10}" + "".join(f"{per[d.name]['median']:>18.3f}" for d in daemons)
        if len(daemons) == 2:
            ratio = per["A"]["median"] / per["B"]["median"]
            per["ratio_a_b"] = ratio
            row += f"{ratio:>12.2f}"
        print(row)
    os.makedirs(RESULTS, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with open(os.path.join(RESULTS, f"build-{stamp}.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
