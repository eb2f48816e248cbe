"""Benchmark: `docker run --rm busybox true` and `docker exec c true` latency
through a private dockerd-py (tests/compat/conftest.py), per OCI runtime:
the built-in dockerd-py-runc against runc (and any `--add-runtime NAME=PATH`),
alternating so background noise hits all alike. Prints medians and p90 in ms.
Run as root:

    python3 bench/bench_docker_runtime.py [-n 20] [--add-runtime old=/path/to/runtime]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.compat.conftest import docker, private_daemon  # noqa: E402


def timed(d, *args: str) -> float:
    t0 = time.perf_counter()
    docker(d, *args)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--add-runtime", action="append", default=[], metavar="NAME=PATH")
    args = ap.parse_args()
    extra = [a for spec in args.add_runtime for a in ("--add-runtime", spec)]
    runtimes = ["dockerd-py-runc", *(s.split("=", 1)[0] for s in args.add_runtime)]
    if shutil.which("runc"):
        runtimes.append("runc")
    run: dict[str, list[float]] = {r: [] for r in runtimes}
    exe: dict[str, list[float]] = {r: [] for r in runtimes}
    with private_daemon("bdr", args=tuple(extra)) as d:
        for r in runtimes:  # warm-up, and one long-running container per runtime for exec
            docker(d, "run", "--rm", "--runtime", r, "busybox", "true")
            docker(d, "run", "-d", "--runtime", r, "--name", f"x-{r}", "busybox", "sleep", "3600")
        for _ in range(args.n):
            for r in runtimes:
                run[r].append(timed(d, "run", "--rm", "--runtime", r, "busybox", "true"))
                exe[r].append(timed(d, "exec", f"x-{r}", "true"))
        for r in runtimes:
            docker(d, "rm", "-f", f"x-{r}")
    print(f"through dockerd-py, N={args.n}, ms (median / p90)")
    print(f"{'runtime':16} {'run --rm true':>18} {'exec true':>18}")
    for r in runtimes:
        def fmt(v: list[float]) -> str:
            return f"{statistics.median(v) * 1000:7.1f} / {sorted(v)[int(len(v) * 0.9) - 1] * 1000:7.1f}"
        print(f"{r:16} {fmt(run[r]):>18} {fmt(exe[r]):>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
