#!/usr/bin/env python3
"""Distribution benchmark: pull, push, save and load of a ~100 MB multi-layer image.

Daemon A is ``BENCH_A`` (a DOCKER_HOST URL; default $DOCKER_HOST), daemon B is
``BENCH_B`` (optional), measured in one run, alternating sample by sample
(ABBA), through the real docker CLI. A registry (Debian's docker-registry, as
in the tests) runs on 127.0.0.1 for the run; both daemons treat loopback as
insecure by default, as Docker does.

The image: ``--layers`` (4) layers of ``--layer-mb`` (25) MB each, half
random bytes and half text (so gzip has real work on the way up), with no
layer shared with anything else on either daemon. It is made once as a
`docker save` archive, loaded into A and pushed to the registry (setup).

Scenarios (``--scenarios pull,push,save,load``), each sample timed as wall
time of one CLI call:
  pull  ``docker rmi`` the image, then ``docker pull`` it from the registry
  push  ``docker push`` to a fresh registry (a new one per sample: every blob
        is compressed and uploaded; nothing can be skipped or mounted)
  save  ``docker save -o FILE`` of the image
  load  ``docker rmi``, then ``docker load -i`` of the archive made at setup

Results: a table (medians, A/B ratios) on stdout, JSON in bench/results/.
Needs the docker CLI and docker-registry; tests/registry.py starts the registries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import registry as registry_mod  # noqa: E402  (tests/registry.py)
from target import DEFAULT_CLI, DockerTarget  # noqa: E402  (bench/target.py)

RESULTS = os.path.join(HERE, "results")


class Daemon(DockerTarget):
    def __init__(self, name: str, host: str, cli: str, config_dir: str) -> None:
        super().__init__(name, host, cli, DOCKER_CONFIG=config_dir)


def layer_tar(index: int, size: int) -> bytes:
    half = size // 2
    text = b"".join(b"line %09d of layer %d: the quick brown fox jumps over the lazy dog\n" % (i, index)
                    for i in range(half // 60 + 1))[:half]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in ((f"bench/random-{index}.bin", os.urandom(size - half)), (f"bench/text-{index}.txt", text)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(path: str, repo_tag: str, layers: int, layer_bytes: int) -> str:
    """A `docker save` archive of the bench image; returns its image id."""
    diff_ids, names = [], []
    with tarfile.open(path, "w") as out:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            out.addfile(info, io.BytesIO(data))

        for i in range(layers):
            data = layer_tar(i, layer_bytes)
            digest = hashlib.sha256(data).hexdigest()
            add(f"blobs/sha256/{digest}", data)
            diff_ids.append("sha256:" + digest)
            names.append(f"blobs/sha256/{digest}")
        config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                  "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench layer {i}"}
                              for i in range(layers)]}
        raw = json.dumps(config, separators=(",", ":")).encode()
        config_hex = hashlib.sha256(raw).hexdigest()
        add(f"blobs/sha256/{config_hex}", raw)
        add("manifest.json", json.dumps([{"Config": f"blobs/sha256/{config_hex}", "RepoTags": [repo_tag],
                                          "Layers": names}]).encode())
    return "sha256:" + config_hex


def image_id(d: Daemon, ref: str) -> str:
    return d.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layer-mb", type=float, default=25)
    ap.add_argument("--scenarios", default="pull,push,save,load")
    ap.add_argument("--cli", default=os.environ.get("DOCKER_CLI", DEFAULT_CLI))
    args = ap.parse_args()
    if not registry_mod.available():
        print("docker-registry is not installed (contrib/setup.sh installs it)", file=sys.stderr)
        return 2
    scenarios = [s for s in args.scenarios.split(",") if s]
    work = tempfile.mkdtemp(prefix="bench-registry-")
    hosts = [("A", os.environ.get("BENCH_A") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")]
    if os.environ.get("BENCH_B"):
        hosts.append(("B", os.environ["BENCH_B"]))
    daemons = [Daemon(n, h, args.cli, os.path.join(work, f"cfg-{n}")) for n, h in hosts]
    registries: list[registry_mod.Registry] = []
    main_reg = registry_mod.Registry(os.path.join(work, "registry")).start()
    registries.append(main_reg)
    repo = f"{main_reg.host}/bench/img"
    ref = f"{repo}:1"
    archive = os.path.join(work, "image.tar")
    times: dict[str, dict[str, list[float]]] = {s: {d.name: [] for d in daemons} for s in scenarios}
    try:
        size = int(args.layer_mb * 1e6)
        want = write_archive(archive, ref, args.layers, size)
        total_mb = args.layers * size / 1e6
        print(f"image {want[:19]}: {args.layers} layers, {total_mb:.0f} MB; registry {main_reg.host}")
        first = daemons[0]
        first.docker("load", "-i", archive)
        first.docker("push", ref)
        for d in daemons[1:]:
            d.docker("pull", ref)
        digests = set()
        for d in daemons:
            got = image_id(d, ref)
            if got != want:
                raise RuntimeError(f"[{d.name}] pulled image id {got}, expected {want}")
            digests.add(d.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout.strip())
        if len(digests) != 1:
            raise RuntimeError(f"the daemons disagree on the RepoDigests: {digests}")
        print(f"A pushed, {'B pulled, ' if len(daemons) > 1 else ''}same image id and RepoDigests {digests.pop()}")
        for i in range(args.samples):
            order = daemons if i % 2 == 0 else list(reversed(daemons))
            for scenario in scenarios:
                for d in order:
                    if scenario == "pull":
                        d.docker("rmi", ref)
                        times[scenario][d.name].append(d.timed("pull", ref))
                    elif scenario == "push":
                        reg = registry_mod.Registry(os.path.join(work, f"push-{i}-{d.name}")).start()
                        registries.append(reg)
                        target = f"{reg.host}/bench/push:1"
                        d.docker("tag", ref, target)
                        try:
                            times[scenario][d.name].append(d.timed("push", target))
                        finally:
                            d.docker("rmi", target, check=False)
                            reg.stop()
                            shutil.rmtree(reg.root, ignore_errors=True)
                    elif scenario == "save":
                        out = os.path.join(work, f"save-{d.name}.tar")
                        times[scenario][d.name].append(d.timed("save", "-o", out, ref))
                        os.unlink(out)
                    elif scenario == "load":
                        d.docker("rmi", ref)
                        times[scenario][d.name].append(d.timed("load", "-i", archive))
                    if image_id(d, ref) != want:
                        raise RuntimeError(f"[{d.name}] image id changed after {scenario}")
        rows = []
        print(f"\n{'scenario':<8} " + " ".join(f"{d.name + ' (s)':>10}" for d in daemons)
              + ("   A/B  " if len(daemons) > 1 else "") + "  A MB/s")
        for scenario in scenarios:
            med = {d.name: statistics.median(times[scenario][d.name]) for d in daemons}
            ratio = med["A"] / med["B"] if "B" in med and med["B"] else None
            rows.append({"scenario": scenario, "median_s": med, "samples_s": times[scenario], "ratio_a_b": ratio})
            print(f"{scenario:<8} " + " ".join(f"{med[d.name]:>10.2f}" for d in daemons)
                  + (f"  {ratio:5.2f} " if ratio else "") + f"  {total_mb / med['A']:7.1f}")
        os.makedirs(RESULTS, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = os.path.join(RESULTS, f"registry-{stamp}.json")
        with open(path, "w") as f:
            json.dump({"image_mb": total_mb, "layers": args.layers, "samples": args.samples,
                       "daemons": {d.name: {"host": d.host, "version": d.version()} for d in daemons},
                       "results": rows}, f, indent=2)
        print(f"\nresults: {path}")
        return 0
    finally:
        for d in daemons:
            d.docker("rmi", ref, check=False)
        for reg in registries:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
