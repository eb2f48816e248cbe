#!/usr/bin/env python3
"""Image throughput of two Docker-API daemons through the real docker CLI.

Daemon A is ``BENCH_A`` (a DOCKER_HOST URL; default: $DOCKER_HOST, else the
default socket); daemon B is ``BENCH_B`` (optional). Samples alternate A,B
then B,A (ABBA), so a slow minute of the machine hits both alike.

For each rootfs (``--rootfs``: ``debian`` = the cached bookworm minbase tar,
``busybox`` = tests/rootfs.py's rootfs; both when they exist), plus one file naming
the run, so that its layer is new to both daemons:
  import  ``docker import FILE``, after an ``rmi`` so the layer is extracted anew
  load    ``docker load -i ARCHIVE``, also after an ``rmi``; ARCHIVE is one
          ``docker save`` of that image (from B when given: Docker's own format)
  save    ``docker save -o FILE`` of the loaded image (re-hashes every layer)

Every image is tagged ``dockerd-py-bench-img:<run id>-*`` and removed at the end,
also on failure. Results: a table on stdout, JSON in bench/results/images-<UTC>.json.
Standard library only, plus the docker CLI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tarfile
import tempfile
import uuid

from target import DEFAULT_CLI, DockerTarget

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
DEBIAN_TAR = os.path.join(os.environ.get("DPY_TEST_CACHE", "/var/cache/dockerd-py-tests"), "bookworm-minbase.tar")
REPO = "dockerd-py-bench-img"


class Daemon(DockerTarget):
    def __init__(self, name: str, host: str, cli: str) -> None:
        super().__init__(name, host, cli)
        self.tags: set[str] = set()

    def rmi(self, tag: str) -> None:
        self.docker("rmi", "-f", tag, check=False)
        self.tags.discard(tag)



def median(xs: list[float]) -> float:
    return statistics.median(xs)


def abba(daemons: list[Daemon], i: int) -> list[Daemon]:
    return daemons if i % 2 == 0 else list(reversed(daemons))


def unique_copy(src: str, dst: str, run_id: str) -> None:
    """`src` with one more member, /etc/dockerd-py-bench (the run id): its layer is new to both
    daemons, so no image already there (busybox:latest, an earlier run) shares it and no
    import or load is answered from a layer already stored."""
    with tarfile.open(src) as tar:
        for _ in tar:
            pass
        end = tar.offset            # where the end-of-archive blocks start
    info = tarfile.TarInfo("etc/dockerd-py-bench")
    data = run_id.encode() + b"\n"
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        left = end
        while left:
            chunk = fin.read(min(left, 1 << 20))
            if not chunk:
                raise RuntimeError(f"{src}: shorter than its headers say")
            fout.write(chunk)
            left -= len(chunk)
        fout.write(info.tobuf(tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512) + b"\0" * 1024)


def bench_rootfs(label: str, path: str, daemons: list[Daemon], n: int, run_id: str, tmp: str) -> dict:
    out: dict[str, dict[str, list[float]]] = {d.name: {"import": [], "load": [], "save": []} for d in daemons}
    tag = f"{REPO}:{run_id}-{label}"
    # import: the image is removed before each sample, so its layer is extracted every time
    for d in daemons:
        d.rmi(tag)
    for i in range(n):
        for d in abba(daemons, i):
            d.tags.add(tag)
            out[d.name]["import"].append(d.timed("import", path, tag))
            d.rmi(tag)
    # one archive for both: Docker's (B) if there is one
    src = daemons[-1]
    src.tags.add(tag)
    src.docker("import", path, tag)
    archive = os.path.join(tmp, f"{label}.tar")
    src.docker("save", "-o", archive, tag)
    src.rmi(tag)
    for i in range(n):
        for d in abba(daemons, i):
            d.rmi(tag)
            d.tags.add(tag)
            out[d.name]["load"].append(d.timed("load", "-i", archive))
    saved = os.path.join(tmp, "saved.tar")
    for i in range(n):
        for d in abba(daemons, i):
            out[d.name]["save"].append(d.timed("save", "-o", saved, tag))
            os.unlink(saved)
    for d in daemons:
        d.rmi(tag)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--samples", type=int, default=5)
    ap.add_argument("--rootfs", default="debian,busybox")
    ap.add_argument("--cli", default=os.environ.get("BENCH_DOCKER_CLI", DEFAULT_CLI))
    ap.add_argument("--json", help="where to write the JSON results")
    args = ap.parse_args()
    host_a = os.environ.get("BENCH_A") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    daemons = [Daemon("A", host_a, args.cli)]
    if os.environ.get("BENCH_B"):
        daemons.append(Daemon("B", os.environ["BENCH_B"], args.cli))
    run_id = uuid.uuid4().hex[:8]
    results: dict = {"run_id": run_id, "daemons": {d.name: {"host": d.host, "version": d.version()} for d in daemons},
                     "samples": args.samples, "rootfs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        sources = {}
        for label in args.rootfs.split(","):
            if label == "debian":
                if os.path.exists(DEBIAN_TAR):
                    sources[label] = DEBIAN_TAR
                else:
                    print(f"skipping debian: {DEBIAN_TAR} missing", file=sys.stderr)
            elif label == "busybox":
                sys.path.insert(0, os.path.join(HERE, "..", "tests"))
                from rootfs import rootfs_tar_bytes  # noqa: PLC0415 - tests helper, only when asked
                sources[label] = os.path.join(tmp, "busybox-rootfs.tar")
                with open(sources[label], "wb") as f:
                    f.write(rootfs_tar_bytes())
        for label, path in list(sources.items()):
            sources[label] = os.path.join(tmp, f"{label}-unique.tar")
            unique_copy(path, sources[label], run_id)
        try:
            for label, path in sources.items():
                mib = os.path.getsize(path) / (1 << 20)
                print(f"{label}: {path} ({mib:.0f} MiB), {args.samples} samples each", file=sys.stderr)
                results["rootfs"][label] = {"mib": mib, "times": bench_rootfs(label, path, daemons, args.samples,
                                                                              run_id, tmp)}
        finally:
            for d in daemons:
                for tag in list(d.tags):
                    d.rmi(tag)
    names = [d.name for d in daemons]
    head = f"{'':28}" + "".join(f"{n + ' median':>12}{n + ' min':>10}" for n in names)
    print(head + (f"{'A/B':>8}" if len(names) == 2 else ""))
    for label, r in results["rootfs"].items():
        for op in ("import", "load", "save"):
            row = f"{label + ' ' + op + ' (s)':28}"
            meds = []
            for n in names:
                xs = r["times"][n][op]
                meds.append(median(xs))
                row += f"{median(xs):12.2f}{min(xs):10.2f}"
            if len(meds) == 2:
                row += f"{meds[0] / meds[1]:8.2f}"
            print(row)
    for d in daemons:
        print(f"{d.name}: {d.host} ({results['daemons'][d.name]['version']})")
    path = args.json or os.path.join(RESULTS, f"images-{dt.datetime.utcnow():%Y%m%dT%H%M%SZ}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
