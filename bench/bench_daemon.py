#!/usr/bin/env python3
"""Compare two Docker-API daemons through the real docker CLI.

Daemon A is ``BENCH_A`` (a DOCKER_HOST URL; default: $DOCKER_HOST, else the
default socket); daemon B is ``BENCH_B`` (optional). Both are measured in one
run, A and B alternating sample by sample (ABBA order), so that a slow minute
of the machine hits both alike.

Scenarios (``--scenarios seq,par,ps,mem``):
  seq  sequential ``docker run --rm busybox true``: wall time of one CLI call
  par  ``--parallel`` (20) such calls at once: wall time of the whole batch
  ps   ``docker ps`` latency with ``--ps-containers`` (50) ``sleep 3600`` running
  mem  the daemon's memory (whole process tree: dockerd + its containerd) idle,
       and the extra memory per running container: PSS of everything that is
       not a container's own process (shims, daemon growth) after starting
       ``--mem-containers`` (20) ``sleep 3600``, minus before, divided by 20.

Daemon PIDs (for mem): ``BENCH_A_PID`` / ``BENCH_B_PID``, or a pidfile path in
``BENCH_A_PIDFILE`` / ``BENCH_B_PIDFILE``, or else the process listening on
the unix socket (found through /proc/net/unix).

Every container is labelled ``dockerd-py-bench=<run id>`` and removed with
``docker rm -f`` when its scenario ends, also on failure or Ctrl-C.

Results: a table on stdout, and JSON in bench/results/<timestamp>.json.
Standard library only, plus the docker CLI.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

from target import DEFAULT_CLI, DockerTarget

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
LABEL = "dockerd-py-bench"
STOP = threading.Event()   # set on Ctrl-C/SIGTERM: queued container starts are skipped


# --------------------------------------------------------------------------- daemons

class Daemon(DockerTarget):
    def __init__(self, name: str, host: str, cli: str, run_id: str):
        super().__init__(name, host, cli)
        self.run_id = run_id
        self.created: set[str] = set()   # ids of containers we started and not yet removed

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return super().docker(*args, timeout=timeout, check=check)

    def timed(self, *args: str, timeout: float = 120) -> float:
        return super().timed(*args, timeout=timeout)

    def label_args(self) -> list[str]:
        return ["--label", f"{LABEL}={self.run_id}"]

    def run_detached(self, *cmd: str) -> str:
        if STOP.is_set():
            raise RuntimeError("stopping")
        cid = self.docker("run", "-d", *self.label_args(), *cmd).stdout.strip()
        self.created.add(cid)
        return cid

    def cleanup(self) -> None:
        """Remove every container of this run on this daemon (ids we know + by label),
        again until the label finds none (a create still in flight shows up late)."""
        ids = set(self.created)
        for attempt in range(4):
            try:
                out = self.docker("ps", "-aq", "--no-trunc", "--filter", f"label={LABEL}={self.run_id}",
                                  timeout=60, check=False).stdout
                ids.update(out.split())
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                print(f"[{self.name}] listing leftovers failed: {e}", file=sys.stderr)
            if not ids:
                break
            ids_l = sorted(ids)
            for i in range(0, len(ids_l), 25):
                try:
                    self.docker("rm", "-f", *ids_l[i:i + 25], timeout=120, check=False)
                except Exception as e:  # noqa: BLE001
                    print(f"[{self.name}] rm -f failed: {e}", file=sys.stderr)
            ids = set()
            if attempt:
                time.sleep(1)
        self.created.clear()

    def info(self) -> dict:
        d = {"host": self.host}
        try:
            fmt = "{{json .Server}}"
            srv = json.loads(self.docker("version", "--format", fmt, timeout=30).stdout)
            d["server_version"] = srv.get("Version")
            d["api_version"] = srv.get("ApiVersion")
            d["components"] = {c.get("Name"): c.get("Version") for c in srv.get("Components") or []}
        except Exception as e:  # noqa: BLE001
            d["version_error"] = str(e)
        try:
            inf = json.loads(self.docker("info", "--format", "{{json .}}", timeout=30).stdout)
            for k in ("Driver", "CgroupDriver", "CgroupVersion", "KernelVersion", "DefaultRuntime",
                      "Containers", "ContainersRunning", "Images"):
                d[k] = inf.get(k)
        except Exception as e:  # noqa: BLE001
            d["info_error"] = str(e)
        d["pid"] = self.pid()
        return d

    def pid(self) -> int | None:
        p = os.environ.get(f"BENCH_{self.name}_PID")
        if p:
            return int(p)
        f = os.environ.get(f"BENCH_{self.name}_PIDFILE")
        if f:
            try:
                with open(f) as fh:
                    return int(fh.read().strip())
            except (OSError, ValueError):
                return None
        if self.host.startswith("unix://"):
            return socket_owner(self.host[len("unix://"):])
        return None


# --------------------------------------------------------------------------- /proc

def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) for every process."""
    t = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        t[int(e)] = (int(rest[1]), comm)
    return t


def descendants(root: int, table: dict[int, tuple[int, str]]) -> set[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p in out or p not in table:
            continue
        out.add(p)
        todo.extend(kids.get(p, []))
    return out


def mem_of(pid: int) -> dict[str, int]:
    """{'rss': kB, 'pss': kB} (pss from smaps_rollup; falls back to rss)."""
    m = {"rss": 0, "pss": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    m["rss"] = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    m["pss"] = int(line.split()[1])
                    break
    except OSError:
        pass
    if not m["pss"]:
        m["pss"] = m["rss"]
    return m


def sum_mem(pids, table) -> dict:
    tot = {"rss_kb": 0, "pss_kb": 0, "procs": []}
    for p in sorted(pids):
        m = mem_of(p)
        tot["rss_kb"] += m["rss"]
        tot["pss_kb"] += m["pss"]
        tot["procs"].append({"pid": p, "comm": table.get(p, (0, "?"))[1], "rss_kb": m["rss"], "pss_kb": m["pss"]})
    return tot


def socket_owner(path: str) -> int | None:
    """The topmost process holding a listening unix socket bound to `path`."""
    inodes = set()
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7] == path and parts[5] == "01":  # state LISTEN
                    inodes.add(parts[6])
    except OSError:
        return None
    if not inodes:
        return None
    holders = set()
    targets = {f"socket:[{i}]" for i in inodes}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{e}/fd"):
                try:
                    if os.readlink(f"/proc/{e}/fd/{fd}") in targets:
                        holders.add(int(e))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    if not holders:
        return None
    table = proc_table()
    tops = [p for p in holders if table.get(p, (0, ""))[0] not in holders]
    return min(tops or holders)


# --------------------------------------------------------------------------- stats

def pct(xs: list[float], q: float) -> float | None:
    """Percentile by linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "median": statistics.median(xs) if xs else None, "p90": pct(xs, 0.9),
            "min": min(xs) if xs else None, "max": max(xs) if xs else None}


def order(i: int, daemons: list[Daemon]) -> list[Daemon]:
    """ABBA: A,B then B,A then A,B ..."""
    return daemons if i % 2 == 0 else list(reversed(daemons))


# --------------------------------------------------------------------------- scenarios

def scen_seq(daemons, args, out):
    """(a) sequential docker run --rm busybox true."""
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    for d in daemons:  # warm-up: page cache, image metadata, first-network setup
        d.docker("run", "--rm", *d.label_args(), args.image, "true", timeout=120, check=False)
    for i in range(args.samples):
        for d in order(i, daemons):
            try:
                samples[d.name].append(d.timed("run", "--rm", *d.label_args(), args.image, "true"))
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    out.update(unit="s", samples=samples, errors=errors)


def scen_par(daemons, args, out):
    """(b) --parallel docker run --rm busybox true at once; wall time per round."""
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}

    def one_round(d: Daemon) -> float:
        procs = []
        t0 = time.perf_counter()
        for _ in range(args.parallel):
            procs.append(subprocess.Popen([d.cli, "run", "--rm", *d.label_args(), args.image, "true"],
                                          env=d.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
        bad = []
        deadline = t0 + args.timeout
        try:
            for p in procs:
                try:
                    _, err = p.communicate(timeout=max(1, deadline - time.perf_counter()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                    err = "timeout " + (err or "")
                if p.returncode != 0:
                    bad.append((err or "").strip()[:200])
        except KeyboardInterrupt:
            for p in procs:     # let the in-flight runs end (bounded), then cleanup removes leftovers
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            raise
        wall = time.perf_counter() - t0
        if bad:
            raise RuntimeError(f"{len(bad)}/{args.parallel} failed: {bad[0]}")
        return wall

    for i in range(args.rounds):
        for d in order(i, daemons):
            try:
                samples[d.name].append(one_round(d))
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    out.update(unit="s", parallel=args.parallel, samples=samples, errors=errors)


def start_many(d: Daemon, n: int, workers: int, image: str) -> list[str]:
    ex = cf.ThreadPoolExecutor(workers)
    ids, errs = [], []
    try:
        futs = [ex.submit(d.run_detached, image, "sleep", "3600") for _ in range(n)]
        for f in futs:
            try:
                ids.append(f.result())
            except Exception as e:  # noqa: BLE001
                errs.append(str(e))
    except KeyboardInterrupt:
        STOP.set()              # queued starts are skipped; running ones finish, then cleanup
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    if errs:
        raise RuntimeError(f"[{d.name}] {len(errs)}/{n} containers failed to start: {errs[0][:300]}")
    return ids


def distinct(daemons):
    """One Daemon per distinct DOCKER_HOST (A and B may be the same daemon)."""
    seen, out = set(), []
    for d in daemons:
        if d.host not in seen:
            seen.add(d.host)
            out.append(d)
    return out


def scen_ps(daemons, args, out):
    """(c) docker ps latency with --ps-containers running sleep 3600."""
    samples = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    start_time = {}
    for d in distinct(daemons):
        t0 = time.perf_counter()
        start_many(d, args.ps_containers, args.start_workers, args.image)
        start_time[d.name] = time.perf_counter() - t0
    running = {d.name: len(d.docker("ps", "-q").stdout.split()) for d in daemons}
    for d in daemons:
        d.docker("ps", "-q")   # warm-up
    for i in range(args.ps_samples):
        for d in order(i, daemons):
            try:
                samples[d.name].append(d.timed("ps"))
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    out.update(unit="s", containers=args.ps_containers, running_seen=running,
               start_wall_s=start_time, samples=samples, errors=errors)


def container_pids(d: Daemon, ids: list[str]) -> list[int]:
    out = d.docker("inspect", "-f", "{{.State.Pid}}", *ids).stdout.split()
    return [int(x) for x in out if x.strip() not in ("", "0")]


def daemon_tree(root: int, table, exclude: set[int]) -> set[int]:
    return descendants(root, table) - exclude


def running_excl(d: Daemon, root: int, table) -> set[int]:
    """Processes of containers already running on `d` (and their parents, the shims)."""
    ids = d.docker("ps", "-q", "--no-trunc").stdout.split()
    excl = set()
    for p in (container_pids(d, ids) if ids else []):
        excl |= descendants(p, table)
        parent = table.get(p, (0, ""))[0]
        if parent not in (0, 1, root):
            excl |= descendants(parent, table)
    return excl


def daemon_tree_mem(d: Daemon) -> dict:
    """RSS/PSS of the daemon's process tree, less any running container and its shim."""
    root = d.pid()
    if not root or not os.path.isdir(f"/proc/{root}"):
        return {"error": f"no daemon pid (set BENCH_{d.name}_PID or BENCH_{d.name}_PIDFILE)"}
    table = proc_table()
    return dict(sum_mem(daemon_tree(root, table, running_excl(d, root, table)), table), daemon_pid=root)


def mem_once(d: Daemon, args) -> dict:
    r: dict = {}
    root = d.pid()
    if not root or not os.path.isdir(f"/proc/{root}"):
        raise RuntimeError(f"no daemon pid for {d.name}: set BENCH_{d.name}_PID or BENCH_{d.name}_PIDFILE "
                           f"(socket owner lookup found {root})")
    r["daemon_pid"] = root
    time.sleep(args.settle)
    table = proc_table()
    pre_excl = running_excl(d, root, table)   # containers not ours stay out of the sums
    before = sum_mem(daemon_tree(root, table, pre_excl), table)
    r["idle"] = before
    try:
        t0 = time.perf_counter()
        ids = start_many(d, args.mem_containers, args.start_workers, args.image)
        r["start_wall_s"] = time.perf_counter() - t0
        time.sleep(args.settle)
        table = proc_table()
        inits = container_pids(d, ids)
        if len(inits) != len(ids):
            raise RuntimeError(f"{len(ids)} started but {len(inits)} have a pid")
        own = set()                     # the containers' own processes
        for p in inits:
            own |= descendants(p, table)
        shims = {table[p][0] for p in inits if p in table} - {0, 1, root} - pre_excl
        shim_tree = set()
        for sp in shims:
            shim_tree |= descendants(sp, table)
        shim_tree -= own
        after_daemon = sum_mem(daemon_tree(root, table, pre_excl | own | shim_tree), table)
        after_shims = sum_mem(shim_tree, table)
        n = len(ids)
        r.update(
            n=n, after_daemon=after_daemon, shims=after_shims, shim_processes=len(shim_tree),
            containers_own={k: v for k, v in sum_mem(own, table).items() if k != "procs"},
            idle_rss_kb=before["rss_kb"], idle_pss_kb=before["pss_kb"],
            shim_pss_per_container_kb=after_shims["pss_kb"] / n,
            shim_rss_per_container_kb=after_shims["rss_kb"] / n,
            daemon_growth_pss_per_container_kb=(after_daemon["pss_kb"] - before["pss_kb"]) / n,
            extra_pss_per_container_kb=(after_daemon["pss_kb"] + after_shims["pss_kb"] - before["pss_kb"]) / n,
            extra_rss_per_container_kb=(after_daemon["rss_kb"] + after_shims["rss_kb"] - before["rss_kb"]) / n,
        )
    finally:
        d.cleanup()
    return r


MEM_KEYS = ("idle_rss_kb", "idle_pss_kb", "extra_pss_per_container_kb", "shim_pss_per_container_kb",
            "daemon_growth_pss_per_container_kb", "extra_rss_per_container_kb", "shim_rss_per_container_kb")


def scen_mem(daemons, args, out):
    """(d) daemon tree memory idle, and extra PSS per running container; ABBA rounds,
    one daemon at a time (A's containers are gone before B's start)."""
    rounds = {d.name: [] for d in daemons}
    errors = {d.name: [] for d in daemons}
    for d in distinct(daemons):   # warm-up: a daemon's first containers grow it for good
        try:
            start_many(d, args.mem_containers, args.start_workers, args.image)
        finally:
            d.cleanup()
    for i in range(args.mem_rounds):
        for d in order(i, daemons):
            try:
                rounds[d.name].append(mem_once(d, args))
            except Exception as e:  # noqa: BLE001
                errors[d.name].append(str(e)[:300])
    per = {}
    for d in daemons:
        rs = rounds[d.name]
        per[d.name] = {k: statistics.median([r[k] for r in rs]) for k in MEM_KEYS} if rs else {}
        if rs:
            per[d.name]["idle_procs"] = rs[0]["idle"]["procs"]
            per[d.name]["shim_processes_per_container"] = rs[0]["shim_processes"] / rs[0]["n"]
    out.update(unit="kB", containers=args.mem_containers, rounds=rounds, errors=errors, per_daemon=per)


SCENARIOS = {"seq": scen_seq, "par": scen_par, "ps": scen_ps, "mem": scen_mem}
TITLES = {
    "seq": "docker run --rm busybox true, sequential (s per run)",
    "par": "N x docker run --rm busybox true in parallel (s wall per batch)",
    "ps": "docker ps with N running containers (s)",
    "mem": "memory",
}


# --------------------------------------------------------------------------- report

def fmt(v, unit="s"):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "kB":
        return f"{v / 1024:.1f} MiB" if abs(v) >= 1024 else f"{v:.0f} kB"
    return str(v)


def ratio(a, b):
    """a/b; none for missing or non-positive values (a ratio of two noisy deltas near 0 means nothing)."""
    return (a / b) if (a is not None and b is not None and a > 0 and b > 0) else None


def report(results, daemons) -> str:
    names = [d.name for d in daemons]
    lines = []
    w = 44
    hdr = f"{'scenario':<{w}}" + "".join(f"{n + ' median':>13}{n + ' p90':>11}" for n in names)
    if len(names) == 2:
        hdr += f"{'A/B med':>9}{'A/B p90':>9}"
    lines += [hdr, "-" * len(hdr)]
    for key in ("seq", "par", "ps"):
        r = results["scenarios"].get(key)
        if not r:
            continue
        if "error" in r and "samples" not in r:
            lines.append(f"{key:<{w}}ERROR: {r['error'][:100]}")
            continue
        title = {"seq": "run --rm true, sequential",
                 "par": f"{r.get('parallel')} x run --rm true in parallel (wall)",
                 "ps": f"docker ps, {r.get('containers')} running"}[key]
        st = r["stats"]
        row = f"{title:<{w}}" + "".join(f"{fmt(st[n]['median']):>13}{fmt(st[n]['p90']):>11}" for n in names)
        if len(names) == 2:
            a, b = st[names[0]], st[names[1]]
            rm, rp = ratio(a["median"], b["median"]), ratio(a["p90"], b["p90"])
            row += f"{(f'{rm:.2f}' if rm else '-'):>9}{(f'{rp:.2f}' if rp else '-'):>9}"
        lines.append(row)
        for n in names:
            if r["errors"].get(n):
                lines.append(f"    {n}: {len(r['errors'][n])} failed samples, e.g. {r['errors'][n][0][:90]}")
    m = results["scenarios"].get("mem")
    if m:
        lines.append("")
        if "error" in m and "per_daemon" not in m:
            lines.append(f"memory: ERROR {m['error'][:120]}")
        else:
            pd = m["per_daemon"]
            rows = [
                ("daemon tree RSS, idle", "idle_rss_kb"),
                ("daemon tree PSS, idle", "idle_pss_kb"),
                (f"extra PSS per running container ({m.get('containers')})", "extra_pss_per_container_kb"),
                ("  of which shim PSS", "shim_pss_per_container_kb"),
                ("  of which daemon tree PSS growth", "daemon_growth_pss_per_container_kb"),
                ("extra RSS per running container", "extra_rss_per_container_kb"),
                ("  of which shim RSS", "shim_rss_per_container_kb"),
            ]
            hdr = (f"{'memory (median of ' + str(len(m['rounds'][names[0]])) + ' rounds)':<{w}}"
                   + "".join(f"{n:>13}" for n in names) + (f"{'A/B':>9}" if len(names) == 2 else ""))
            lines += [hdr, "-" * len(hdr)]
            for title, key in rows:
                vals = [pd.get(n, {}).get(key) for n in names]
                row = f"{title:<{w}}" + "".join(f"{fmt(v, 'kB'):>13}" for v in vals)
                if len(names) == 2:
                    rr = ratio(vals[0], vals[1])
                    row += f"{(f'{rr:.2f}' if rr else '-'):>9}"
                lines.append(row)
            for n in names:
                if m["errors"].get(n):
                    lines.append(f"    {n}: {len(m['errors'][n])} failed rounds, e.g. {m['errors'][n][0][:90]}")
                r = pd.get(n, {})
                if r.get("idle_procs"):
                    procs = ", ".join(f"{p['comm']}({p['pid']}) {fmt(p['rss_kb'], 'kB')}" for p in r["idle_procs"])
                    lines.append(f"    {n} idle tree (RSS): {procs}; "
                                 f"{r['shim_processes_per_container']:g} shim process(es) per container")
    for tag in ("tree_at_start", "tree_at_end"):
        t = results.get(tag)
        if t:
            lines.append(f"{'daemon tree ' + tag[5:].replace('_', ' ') + ' (RSS / PSS)':<{w}}" + "".join(
                f"{(fmt(t[n].get('rss_kb'), 'kB') + ' / ' + fmt(t[n].get('pss_kb'), 'kB')) if 'rss_kb' in t[n] else '-':>26}"
                for n in names))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="mem,seq,par,ps",
                    help="comma list of mem,seq,par,ps, run in that order (mem first: least GC noise)")
    ap.add_argument("-n", "--samples", type=int, default=15, help="seq: samples per daemon (15)")
    ap.add_argument("--parallel", type=int, default=20, help="par: runs at once (20)")
    ap.add_argument("--rounds", type=int, default=5, help="par: rounds per daemon (5)")
    ap.add_argument("--ps-containers", type=int, default=50, help="ps: running containers (50)")
    ap.add_argument("--ps-samples", type=int, default=15, help="ps: samples per daemon (15)")
    ap.add_argument("--mem-containers", type=int, default=20, help="mem: containers started (20)")
    ap.add_argument("--mem-rounds", type=int, default=2, help="mem: rounds per daemon (2)")
    ap.add_argument("--start-workers", type=int, default=8, help="ps/mem: docker run -d at once (8)")
    ap.add_argument("--settle", type=float, default=2.0, help="mem: seconds to wait before reading /proc (2)")
    ap.add_argument("--timeout", type=float, default=180, help="par: seconds for one batch (180)")
    ap.add_argument("--image", default="busybox:latest")
    ap.add_argument("--quick", action="store_true", help="few samples: -n 5 --rounds 2 --ps-samples 5")
    ap.add_argument("--cli", default=os.environ.get("BENCH_DOCKER_CLI", DEFAULT_CLI))
    ap.add_argument("--json", help="write JSON here instead of bench/results/<timestamp>.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.rounds, args.ps_samples, args.mem_rounds = 5, 2, 5, 1

    run_id = uuid.uuid4().hex[:12]
    host_a = os.environ.get("BENCH_A") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    daemons = [Daemon("A", host_a, args.cli, run_id)]
    if os.environ.get("BENCH_B"):
        daemons.append(Daemon("B", os.environ["BENCH_B"], args.cli, run_id))

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = {
        "run_id": run_id, "started": stamp, "argv": sys.argv[1:], "options": vars(args),
        "host": {"kernel": platform.release(), "nproc": os.cpu_count(), "python": platform.python_version()},
        "daemons": {}, "scenarios": {},
    }
    for d in daemons:
        results["daemons"][d.name] = d.info()
        print(f"{d.name}: {d.host}  server {results['daemons'][d.name].get('server_version')}  "
              f"pid {results['daemons'][d.name].get('pid')}", file=sys.stderr)
    for d in daemons:   # fail early: daemon down or image missing
        p = d.docker("image", "inspect", "--format", "{{.Id}}", args.image, timeout=30, check=False)
        if p.returncode != 0:
            print(f"{d.name} ({d.host}): cannot use image {args.image}: {p.stderr.strip()[:300]}\n"
                  f"  (import it: see bench/README.md)", file=sys.stderr)
            return 2

    t_all = time.perf_counter()
    results["tree_at_start"] = {d.name: daemon_tree_mem(d) for d in daemons}
    try:
        for key in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            if key not in SCENARIOS:
                ap.error(f"unknown scenario {key}")
            out: dict = {"title": TITLES[key]}
            results["scenarios"][key] = out
            t0 = time.perf_counter()
            print(f"== {key}: {TITLES[key]}", file=sys.stderr)
            try:
                SCENARIOS[key](daemons, args, out)
            except KeyboardInterrupt:
                out["error"] = "interrupted"
                raise
            except Exception as e:  # noqa: BLE001 - record and go on to the next scenario
                out["error"] = str(e)[:1000]
                print(f"   {key} failed: {e}", file=sys.stderr)
            finally:
                for d in distinct(daemons):
                    d.cleanup()
                out["duration_s"] = round(time.perf_counter() - t0, 2)
            if "samples" in out:
                out["stats"] = {n: summary(xs) for n, xs in out["samples"].items()}
    except KeyboardInterrupt:
        print("interrupted: containers removed", file=sys.stderr)
        results["interrupted"] = True
    results["duration_s"] = round(time.perf_counter() - t_all, 2)
    try:
        results["tree_at_end"] = {d.name: daemon_tree_mem(d) for d in daemons}
    except Exception as e:  # noqa: BLE001
        results["tree_at_end_error"] = str(e)

    text = report(results, daemons)
    print(text)
    path = args.json
    if not path:
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\n{results['duration_s']:.0f} s; JSON: {path}")
    return 1 if results.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
