"""Benchmark: create + start + wait + delete of a busybox `true` container.

dockerd-py-runc vs runc vs crun, in one alternating run (so background noise
hits all of them alike): N sequential lifecycles, then batches of N in parallel,
then the memory (RSS and PSS, kB) of the container's process while created
(the runtime's init, blocked before exec) and while running (`sleep`).
Then N `exec true` into a running container. Prints medians and ratios
ours/other, the sequential medians per verb (create, start, wait, delete) and
the bare process start-up of the interpreter and of runc (every verb's floor).
``ours`` is the ``python -IS`` launcher (dockerd_py.launchers): what the daemon
runs and what contrib/setup.sh puts on PATH as ``dockerd-py-runc``.
``--console-script`` adds ``ours-cs``, the venv's console script (``site`` and
the editable install's finder on every call).
Without ``--docker-spec`` the bundle is the starter config.json of ``runc spec``
(no seccomp), run detached (no terminal) with ``true``.
``--docker-spec``: the config.json is the one dockerd-py hands the runtime for
`docker run busybox` (dockerd_py.oci.build_spec: Docker's default
seccomp profile, capabilities, masked paths; plus a network namespace).
Run as root:

    python3 bench/bench_runtime.py [-n 20] [--rounds 3] [--docker-spec] [--console-script] [--add-runtime NAME=PATH]
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from rootfs import make_rootfs  # noqa: E402

RUNTIMES = {
    "runc": shutil.which("runc") or "/usr/sbin/runc",
    "crun": shutil.which("crun") or "/usr/bin/crun",
}
CGROUP_PARENT = f"/dpr-bench-{os.getpid()}"  # one per run: two benches side by side never share it


DOCKER_SPEC = False  # --docker-spec
VERB_TIMES: dict[str, dict[str, list[float]]] = {}  # binary -> verb -> seconds (sequential runs)


def spec(rootfs: str) -> dict:
    if DOCKER_SPEC:
        return docker_spec(rootfs)
    cfg = copy.deepcopy(_runc_starter_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"] = {"path": rootfs, "readonly": True}
    return cfg


@functools.cache
def _runc_starter_spec() -> dict:
    """The config.json `runc spec` writes: what a person with a bundle starts from."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([RUNTIMES["runc"], "spec", "--bundle", d], check=True)
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)


def docker_spec(rootfs: str) -> dict:
    """What dockerd-py gives the runtime for `docker run busybox true`."""
    from dockerd_py.oci.spec import build_spec
    cfg = build_spec(container_id="0" * 64, config={"Cmd": ["true"]}, host_config={},
                     image_config={"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}, rootfs=rootfs,
                     netns_path=None, cgroups_path=CGROUP_PARENT + "/x")
    assert cfg["linux"].get("seccomp"), "build_spec gave no seccomp profile"
    cfg["linux"]["namespaces"].append({"type": "network"})
    return cfg


def hide_unified_hierarchy(libc: ctypes.CDLL) -> None:
    """crun refuses a hybrid cgroup host ("drop all controllers from cgroupv2").
    Run the whole bench, for every runtime alike, in a private mount namespace
    without /sys/fs/cgroup/unified (the host is not touched)."""
    if not os.path.ismount("/sys/fs/cgroup/unified"):
        return
    if libc.unshare(0x00020000) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, ctypes.c_ulong(0x4000 | (1 << 19)), None) != 0:  # MS_REC|MS_SLAVE
        raise OSError(ctypes.get_errno(), "make / rslave")
    if libc.umount2(b"/sys/fs/cgroup/unified", 2) != 0:
        raise OSError(ctypes.get_errno(), "umount /sys/fs/cgroup/unified")


def write_bundle(prefix: str, bundle_base: str, rootfs: str, args: list[str] | None = None) -> tuple[str, str, str]:
    """A new bundle (config.json from spec(), in its own cgroup): (id, bundle dir, pid-file path)."""
    cid = prefix + uuid.uuid4().hex[:12]
    bundle = os.path.join(bundle_base, cid)
    os.mkdir(bundle)
    cfg = spec(rootfs)
    if args:
        cfg["process"]["args"] = args
    cfg["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{cid}"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return cid, bundle, os.path.join(bundle, "pid")


def lifecycle(binary: str, root: str, bundle_base: str, rootfs: str) -> float:
    """One create+start+wait+delete; returns seconds."""
    cid, bundle, pid_file = write_bundle("b", bundle_base, rootfs)
    dn = subprocess.DEVNULL
    t0 = time.perf_counter()
    subprocess.run([binary, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, cid],
                   stdin=dn, stdout=dn, stderr=dn, check=True)
    pid = int(open(pid_file).read())
    t1 = time.perf_counter()
    subprocess.run([binary, "--root", root, "start", cid], stdin=dn, stdout=dn, stderr=dn, check=True)
    t2 = time.perf_counter()
    os.waitpid(pid, 0)  # we are the subreaper: init is our child now
    t3 = time.perf_counter()
    subprocess.run([binary, "--root", root, "delete", cid], stdin=dn, stdout=dn, stderr=dn, check=True)
    t4 = time.perf_counter()
    elapsed = t4 - t0
    verbs = VERB_TIMES.setdefault(binary, {})
    for verb, seconds in (("create", t1 - t0), ("start", t2 - t1), ("wait", t3 - t2), ("delete", t4 - t3)):
        verbs.setdefault(verb, []).append(seconds)
    shutil.rmtree(bundle, ignore_errors=True)
    return elapsed


def _run_time(cmd: list[str]) -> float:
    """Seconds of one run of cmd (output discarded)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB, from smaps_rollup."""
    out = {"Rss:": 0, "Pss:": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key = line.split()[0]
            if key in out:
                out[key] = int(line.split()[1])
    return out["Rss:"], out["Pss:"]


def memory(binary: str, root: str, bundle_base: str, rootfs: str) -> dict[str, tuple[int, int]]:
    """Memory of the container's only process: created (init waiting) and running."""
    cid, bundle, pid_file = write_bundle("m", bundle_base, rootfs, ["sleep", "30"])
    dn = subprocess.DEVNULL
    out: dict[str, tuple[int, int]] = {}
    subprocess.run([binary, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, cid],
                   stdin=dn, stdout=dn, stderr=dn, check=True)
    pid = int(open(pid_file).read())
    try:
        out["created"] = _mem_kb(pid)
        subprocess.run([binary, "--root", root, "start", cid], stdin=dn, stdout=dn, stderr=dn, check=True)
        time.sleep(0.2)
        out["running"] = _mem_kb(pid)
    finally:
        _remove(binary, root, cid, pid, bundle)
    return out


def _remove(binary: str, root: str, cid: str, pid: int, bundle: str) -> None:
    """delete --force, reap the init (the bench is its subreaper), remove the bundle."""
    dn = subprocess.DEVNULL
    subprocess.run([binary, "--root", root, "delete", "--force", cid], stdin=dn, stdout=dn, stderr=dn)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    shutil.rmtree(bundle, ignore_errors=True)


def exec_latency(binary: str, root: str, bundle_base: str, rootfs: str, n: int) -> list[float]:
    """n sequential `exec true` into one running container; seconds each."""
    cid, bundle, pid_file = write_bundle("e", bundle_base, rootfs, ["sleep", "300"])
    dn = subprocess.DEVNULL
    out = []
    subprocess.run([binary, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, cid],
                   stdin=dn, stdout=dn, stderr=dn, check=True)
    pid = int(open(pid_file).read())
    try:
        subprocess.run([binary, "--root", root, "start", cid], stdin=dn, stdout=dn, stderr=dn, check=True)
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([binary, "--root", root, "exec", cid, "true"], stdin=dn, stdout=dn, stderr=dn, check=True)
            out.append(time.perf_counter() - t0)
    finally:
        _remove(binary, root, cid, pid, bundle)
    return out


def parallel(binary: str, root: str, bundle_base: str, rootfs: str, n: int) -> float:
    """Wall time of n lifecycles started together."""
    errors: list[BaseException] = []

    def one() -> None:
        try:
            lifecycle(binary, root, bundle_base, rootfs)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def lean_launcher(work: str) -> str:
    """``ours``: the ``python -IS`` launcher (dockerd_py.launchers), as the daemon
    writes it into its exec-root and contrib/setup.sh into the venv."""
    from dockerd_py.launchers import install_runtime_launcher
    return install_runtime_launcher(work)


def _remove_cgroups(parent: str) -> None:
    """The bench's cgroup parent and anything a failed container left below it, in every hierarchy."""
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        top = f"/sys/fs/cgroup/{hierarchy}{parent}"
        for path, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(path)
            except OSError:
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="parallel batches per runtime")
    ap.add_argument("--docker-spec", action="store_true",
                    help="Docker's config.json (default seccomp profile, caps, masked paths)")
    ap.add_argument("--console-script", action="store_true",
                    help="also measure the venv's console script (ours-cs)")
    ap.add_argument("--add-runtime", action="append", default=[], metavar="NAME=PATH",
                    help="another runtime binary to measure (e.g. an older build of ours)")
    args = ap.parse_args()
    global DOCKER_SPEC
    DOCKER_SPEC = args.docker_spec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    hide_unified_hierarchy(libc)
    runtimes = {k: v for k, v in RUNTIMES.items() if os.path.exists(v)}
    work = tempfile.mkdtemp(prefix="bench-runtime-", dir="/run")  # tmpfs, like /run/containerd
    runtimes = {"ours": lean_launcher(work), **runtimes}
    console_script = os.path.join(os.path.dirname(sys.executable), "dockerd-py-runc")
    if args.console_script and os.path.exists(console_script):
        runtimes = {"ours": runtimes.pop("ours"), "ours-cs": console_script, **runtimes}
    runtimes.update(dict(a.split("=", 1) for a in args.add_runtime))
    try:
        rootfs = make_rootfs(os.path.join(work, "rootfs"))
        roots = {k: os.path.join(work, f"root-{k}") for k in runtimes}
        for name, binary in runtimes.items():  # warm-up (page cache, cgroup parent)
            lifecycle(binary, roots[name], work, rootfs)
        seq: dict[str, list[float]] = {k: [] for k in runtimes}
        cpu: dict[str, float] = {k: 0.0 for k in runtimes}
        for _ in range(args.n):
            for name, binary in runtimes.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seq[name].append(lifecycle(binary, roots[name], work, rootfs))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        floor = {"python -IS -c pass": [sys.executable, "-IS", "-c", "pass"],
                 "runc --version": [RUNTIMES["runc"], "--version"]}
        floor_ms = {k: statistics.median(_run_time(cmd) for _ in range(args.n)) * 1000 for k, cmd in floor.items()}
        per_verb = {b: {verb: statistics.median(t) * 1000 for verb, t in v.items()} for b, v in VERB_TIMES.items()}
        par: dict[str, list[float]] = {k: [] for k in runtimes}
        for _ in range(args.rounds):
            for name, binary in runtimes.items():
                par[name].append(parallel(binary, roots[name], work, rootfs, args.n))
        execs = {name: exec_latency(binary, roots[name], work, rootfs, args.n) for name, binary in runtimes.items()}
        mem = {name: memory(binary, roots[name], work, rootfs) for name, binary in runtimes.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _remove_cgroups(CGROUP_PARENT)
    print(f"create+start+wait+delete of busybox `true`, N={args.n}"
          f"{', Docker spec (seccomp)' if DOCKER_SPEC else ''}")
    print(f"{os.cpu_count()} CPUs; CPU ms = user+sys of the runtime processes and the container")
    print("ours = the `python -IS` launcher (dockerd-py-runc on PATH, what the daemon runs)"
          + ("; ours-cs = the venv's console script" if "ours-cs" in runtimes else ""))
    print(f"{'runtime':8} {'seq median ms':>14} {'seq p90 ms':>11} {'CPU ms':>7} {'par x' + str(args.n) + ' wall ms':>16}"
          f" {'exec median ms':>15}")
    med = {k: statistics.median(v) * 1000 for k, v in seq.items()}
    p90 = {k: sorted(v)[int(len(v) * 0.9) - 1] * 1000 for k, v in seq.items()}
    pmed = {k: statistics.median(v) * 1000 for k, v in par.items()}
    emed = {k: statistics.median(v) * 1000 for k, v in execs.items()}
    for k in runtimes:
        print(f"{k:8} {med[k]:14.1f} {p90[k]:11.1f} {cpu[k] / args.n * 1000:7.1f} {pmed[k]:16.1f} {emed[k]:15.1f}")
    print("sequential, per verb (median ms): " + "  ".join(
        f"{k}: " + " ".join(f"{verb} {ms:.1f}" for verb, ms in per_verb[b].items())
        for k, b in runtimes.items()))
    print("process start-up alone (median ms): " + "  ".join(f"{k} {ms:.1f}" for k, ms in floor_ms.items()))
    print("memory of the container's process, kB: created (init before exec) / running (sleep)")
    for k in runtimes:
        (crss, cpss), (rrss, rpss) = mem[k]["created"], mem[k]["running"]
        print(f"{k:8} created RSS {crss:6} PSS {cpss:6}   running RSS {rrss:6} PSS {rpss:6}")
    for mine in (k for k in runtimes if k.startswith("ours")):
        for other in (k for k in runtimes if not k.startswith("ours")):
            print(f"ratio {mine}/{other}: sequential {med[mine] / med[other]:.2f}x, "
                  f"parallel {pmed[mine] / pmed[other]:.2f}x, exec {emed[mine] / emed[other]:.2f}x, "
                  f"created PSS {mem[mine]['created'][1] / max(mem[other]['created'][1], 1):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
