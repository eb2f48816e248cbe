#!/usr/bin/env python3
"""Networking, side by side: two Docker-API daemons through the real docker CLI.

Daemons as in bench_daemon.py: ``BENCH_A`` (default $DOCKER_HOST) and ``BENCH_B``
(optional), measured in one run, sample by sample in ABBA order.

Scenarios (``--scenarios c2c,pub,nets``):
  c2c   container-to-container TCP throughput on a user-defined bridge network:
        ``time sh -c 'dd if=/dev/zero | nc <server ip>'`` from one busybox container
        to another (until the server has read everything and closed)
  pub   host-to-published-port TCP throughput: the host sends to 127.0.0.1:<port>
        published by a busybox ``nc -l``; time from connect until the server closed
  nets  ``docker network create`` then ``docker network rm`` of ``--networks`` (50)
        networks, one after another (explicit /24 subnets in a free 10.x.0.0/16)

Every container and network carries the label ``dockerd-py-bench=<run id>`` and is
removed when its scenario ends. Results: a table, and JSON in bench/results/net-<stamp>.json.
Standard library only, plus the docker CLI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_daemon import DEFAULT_CLI, LABEL, RESULTS, Daemon, distinct, fmt, order, ratio, summary  # noqa: E402

SERVER = "while true; do nc -l -p 5001 -e sh -c 'cat >/dev/null'; done"  # reads until the client closes


def free_base() -> str:
    """A 10.x prefix no host route touches."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(200):
        base = f"10.{random.randint(20, 250)}"
        if f"{base}." not in routes:
            return base
    raise RuntimeError("no free 10.x.0.0/16 for the bench networks")


def make_network(d: Daemon, subnet: str) -> str:
    name = f"bench-{d.run_id}-{uuid.uuid4().hex[:6]}"
    d.docker("network", "create", "--label", f"{LABEL}={d.run_id}", "--subnet", subnet, name)
    return name


def remove_networks(d: Daemon) -> None:
    out = d.docker("network", "ls", "-q", "--filter", f"label={LABEL}={d.run_id}", check=False).stdout.split()
    if out:
        d.docker("network", "rm", *out, check=False)


def ip_on(d: Daemon, cid: str, network: str) -> str:
    fmt_ = "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network
    return d.docker("inspect", "-f", fmt_, cid).stdout.strip()


def wait_port(host: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{host}:{port} does not answer")


# --------------------------------------------------------------------------- scenarios

def scen_c2c(daemons, args, out):
    base = free_base()
    setup = {}
    for i, d in enumerate(daemons):
        net = make_network(d, f"{base}.{i}.0/24")
        server = d.run_detached("--network", net, args.image, "sh", "-c", SERVER)
        setup[d.name] = (net, ip_on(d, server, net))
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    count = args.megabytes
    for i in range(args.samples + 1):  # the first round warms up
        for d in order(i, daemons):
            net, ip = setup[d.name]
            try:
                p = d.docker("run", "--rm", *d.label_args(), "--network", net, args.image, "sh", "-c",
                             f"time sh -c 'dd if=/dev/zero bs=1M count={count} 2>/dev/null | nc {ip} 5001'",
                             timeout=300)
                m = re.search(r"real\s+(\d+)m\s*([\d.]+)s", p.stdout + p.stderr)
                if not m:
                    raise RuntimeError(f"no time figure in {(p.stdout + p.stderr)[-200:]!r}")
                if i:
                    samples[d.name].append(count / (int(m.group(1)) * 60 + float(m.group(2))))
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    out.update(unit="MiB/s", megabytes=count, samples=samples, errors=errors)


def scen_pub(daemons, args, out):
    ports = {}
    for d in daemons:
        cid = d.run_detached("-p", "127.0.0.1::5001", args.image, "sh", "-c", SERVER)
        port = int(d.docker("port", cid, "5001").stdout.split(":")[-1])
        ports[d.name] = port
        wait_port("127.0.0.1", port)
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    chunk = b"\0" * (1 << 20)
    for i in range(args.samples + 1):
        for d in order(i, daemons):
            try:
                t0 = time.perf_counter()
                with socket.create_connection(("127.0.0.1", ports[d.name]), timeout=60) as s:
                    for _ in range(args.megabytes):
                        s.sendall(chunk)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(4096):
                        pass
                elapsed = time.perf_counter() - t0
                if i:
                    samples[d.name].append(args.megabytes / elapsed)
                time.sleep(0.3)  # the server loop listens again
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    out.update(unit="MiB/s", megabytes=args.megabytes, samples=samples, errors=errors)


def scen_nets(daemons, args, out):
    base = free_base()
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    for i in range(args.net_rounds):
        for d in order(i, daemons):
            try:
                names = [f"bench-{d.run_id}-{k}" for k in range(args.networks)]
                t0 = time.perf_counter()
                for k, name in enumerate(names):
                    d.docker("network", "create", "--label", f"{LABEL}={d.run_id}",
                             "--subnet", f"{base}.{k}.0/24", name)
                t1 = time.perf_counter()
                for name in names:
                    d.docker("network", "rm", name)
                samples[d.name].append(time.perf_counter() - t0)
                out.setdefault("create_s", {}).setdefault(d.name, []).append(t1 - t0)
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
                remove_networks(d)
    out.update(unit="s", networks=args.networks, samples=samples, errors=errors)


SCENARIOS = {"c2c": scen_c2c, "pub": scen_pub, "nets": scen_nets}


def title(key: str, r: dict) -> str:
    return {"c2c": f"container->container, user bridge ({r.get('megabytes')} MiB)",
            "pub": f"host->published port ({r.get('megabytes')} MiB)",
            "nets": f"create+rm {r.get('networks')} networks (wall)"}[key]


def report(results, daemons) -> str:
    names = [d.name for d in daemons]
    w = 44
    hdr = f"{'scenario':<{w}}" + "".join(f"{n + ' median':>14}{n + ' min':>12}" for n in names)
    if len(names) == 2:
        hdr += f"{'A/B med':>9}"
    lines = [hdr, "-" * len(hdr)]
    for key, r in results["scenarios"].items():
        if "stats" not in r:
            lines.append(f"{key:<{w}}ERROR: {r.get('error', '')[:100]}")
            continue
        unit = r["unit"]
        show = (lambda v: "-" if v is None else f"{v:.0f} MiB/s") if unit == "MiB/s" else fmt
        st = r["stats"]
        row = f"{title(key, r):<{w}}" + "".join(f"{show(st[n]['median']):>14}{show(st[n]['min']):>12}"
                                               for n in names)
        if len(names) == 2:
            rm = ratio(st[names[0]]["median"], st[names[1]]["median"])
            row += f"{(f'{rm:.2f}' if rm else '-'):>9}"
        lines.append(row)
        for n in names:
            if r["errors"].get(n):
                lines.append(f"    {n}: {len(r['errors'][n])} failed samples, e.g. {r['errors'][n][0][:90]}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="c2c,pub,nets")
    ap.add_argument("-n", "--samples", type=int, default=5, help="c2c/pub: samples per daemon (5)")
    ap.add_argument("--megabytes", type=int, default=512, help="c2c/pub: MiB per sample (512)")
    ap.add_argument("--networks", type=int, default=50, help="nets: networks per round (50)")
    ap.add_argument("--net-rounds", type=int, default=3, help="nets: rounds per daemon (3)")
    ap.add_argument("--image", default="busybox:latest")
    ap.add_argument("--cli", default=os.environ.get("BENCH_DOCKER_CLI", DEFAULT_CLI))
    ap.add_argument("--json", help="write JSON here instead of bench/results/net-<timestamp>.json")
    args = ap.parse_args(argv)
    run_id = uuid.uuid4().hex[:12]
    host_a = os.environ.get("BENCH_A") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    daemons = [Daemon("A", host_a, args.cli, run_id)]
    if os.environ.get("BENCH_B"):
        daemons.append(Daemon("B", os.environ["BENCH_B"], args.cli, run_id))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = {"run_id": run_id, "started": stamp, "options": vars(args), "scenarios": {},
               "daemons": {d.name: d.info() for d in daemons}}
    try:
        for key in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            if key not in SCENARIOS:
                ap.error(f"unknown scenario {key}")
            out: dict = {}
            results["scenarios"][key] = out
            print(f"== {key}", file=sys.stderr)
            t0 = time.perf_counter()
            try:
                SCENARIOS[key](daemons, args, out)
            except Exception as e:  # noqa: BLE001 - record and go on
                out["error"] = str(e)[:1000]
                print(f"   {key} failed: {e}", file=sys.stderr)
            finally:
                for d in distinct(daemons):
                    d.cleanup()
                    remove_networks(d)
                out["duration_s"] = round(time.perf_counter() - t0, 2)
            if "samples" in out:
                out["stats"] = {n: summary(xs) for n, xs in out["samples"].items()}
    except KeyboardInterrupt:
        results["interrupted"] = True
    print(report(results, daemons))
    path = args.json or os.path.join(RESULTS, f"net-{stamp}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"JSON: {path}")
    return 1 if results.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
