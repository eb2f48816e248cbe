"""Run opencontainers/runtime-tools' validation suite, a third-party OCI
conformance suite that drives a runtime only through its CLI, under runc and
under ours, and compare the two case by case.

Where the suite comes from. Its programs are ``validation/<name>/<name>.go``
(or, in older trees, ``validation/<name>.go``), each a ``package main`` that
prints TAP; ``cmd/runtimetest`` is the checker they copy into the container.
Debian 12's golang-github-opencontainers-runtime-tools-dev ships only the
library half of that tree (generate, validate, specerror, cgroups, ...) under
/usr/share/gocode, not validation/ nor cmd/, and the Debian archive reachable
here serves no source packages. So the programs are taken from
``$OCI_RUNTIME_TOOLS_SRC`` (a runtime-tools checkout, with its vendor/
directory), or from the Debian tree should a later package ship them; without
either the conformance test is skipped and says so. The libraries resolve
offline: GOPATH mode (GO111MODULE=off), the checkout first, then
/usr/share/gocode.

How a program runs. In a work directory holding ``runtimetest`` (static) and
``rootfs-amd64.tar.gz`` (our busybox rootfs), with ``RUNTIME`` naming a small
wrapper that adds a private ``--root`` to runc or to our lean launcher, and
``TMPDIR`` private (the suite makes its bundles there). Each run has a timeout;
afterwards every container left in the private root is force-deleted, the
root, the bundles and the cgroups the suite names are removed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import gzip
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootfs import rootfs_tar_bytes  # noqa: E402

from dockerd_runtime.cgroups.manager import own_cgroups  # noqa: E402

DEB_PACKAGE = "golang-github-opencontainers-runtime-tools-dev"
GOCODE = "/usr/share/gocode"
IMPORT_PATH = "github.com/opencontainers/runtime-tools"
CACHE = os.path.join(os.environ.get("DOCKERD_PY_TEST_CACHE", "/var/cache/dockerd-py-tests"), "runtime-tools")
PROGRAM_TIMEOUT = float(os.environ.get("OCI_CONFORMANCE_TIMEOUT", "120"))
WORKERS = int(os.environ.get("OCI_CONFORMANCE_WORKERS", "6"))
SUITE_CGROUPS = ("cgrouptest", "testdir")  # runtime-tools' cgroups.AbsCgroupPath / RelCgroupPath

# Programs not run, and why. Each entry is checked against the host where it can
# be: a program whose reason does not hold here runs like the others.
SKIPPED: dict[str, tuple[str, object]] = {
    "linux_ns_itype": ("runs a container without a mount namespace: runc 1.1 then makes the host's / rslave "
                       "(its shared mounts, /run/netns among them, turn private) and mounts /proc, /dev, /sys in the "
                       "bundle in the host's mount namespace; ours refuses such a config", lambda: True),
    "linux_cgroups_hugetlb": ("no hugetlb cgroup controller on this host",
                              lambda: not _v1_controller("hugetlb")),
    "linux_cgroups_relative_hugetlb": ("no hugetlb cgroup controller on this host",
                                       lambda: not _v1_controller("hugetlb")),
    "linux_cgroups_network": ("no net_cls/net_prio cgroup controllers on this host",
                              lambda: not (_v1_controller("net_cls") and _v1_controller("net_prio"))),
    "linux_cgroups_relative_network": ("no net_cls/net_prio cgroup controllers on this host",
                                       lambda: not (_v1_controller("net_cls") and _v1_controller("net_prio"))),
    "linux_process_apparmor_profile": ("loads an AppArmor profile: AppArmor is not enabled on this host",
                                       lambda: not os.path.exists("/sys/kernel/security/apparmor")),
    "linux_mount_label": ("needs SELinux, not enabled on this host",
                          lambda: not os.path.exists("/sys/fs/selinux/enforce")),
}


@dataclasses.dataclass
class Suite:
    src: str  # the runtime-tools tree with validation/ and cmd/runtimetest
    bin_dir: str  # built programs, one per name
    programs: list[str]


@dataclasses.dataclass
class Run:
    program: str
    runtime: str
    returncode: int | None  # None: killed at the timeout
    cases: dict[str, str]  # case name -> "ok" / "not ok" / "skip"
    output: str  # stdout then stderr, for the report


def suite_source() -> tuple[str | None, str]:
    """The runtime-tools tree to build, or None and why there is none."""
    env = os.environ.get("OCI_RUNTIME_TOOLS_SRC")
    candidates = [env] if env else [os.path.join(GOCODE, "src", IMPORT_PATH)]
    for path in candidates:
        if os.path.isdir(os.path.join(path, "validation")) and os.path.isdir(os.path.join(path, "cmd", "runtimetest")):
            return path, ""
    if env:
        return None, f"OCI_RUNTIME_TOOLS_SRC={env} has no validation/ and cmd/runtimetest"
    if not shutil.which("go"):
        return None, "Go is not installed (apt-get install golang-go)"
    if not _deb_version():
        return None, f"{DEB_PACKAGE} is not installed"
    return None, (f"{DEB_PACKAGE} ships only the runtime-tools libraries, not validation/ nor cmd/runtimetest, "
                  "and no source package is reachable here: set OCI_RUNTIME_TOOLS_SRC to a runtime-tools checkout")


def program_names(src: str) -> list[str]:
    """validation/<name>/<name>.go (current layout) or validation/<name>.go (older)."""
    names = {os.path.basename(d) for d in glob.glob(os.path.join(src, "validation", "*"))
             if os.path.isdir(d) and os.path.basename(d) != "util" and glob.glob(os.path.join(d, "*.go"))}
    names |= {os.path.basename(f)[:-3] for f in glob.glob(os.path.join(src, "validation", "*.go"))
              if not f.endswith("_test.go")}
    return sorted(names)


def skip_reason(program: str) -> str | None:
    entry = SKIPPED.get(program)
    if entry and entry[1]():  # type: ignore[operator]
        return entry[0]
    return None


def build(src: str, cache: str = CACHE) -> Suite:
    """Build every program and runtimetest once into ``cache``; a new package
    version, Go version or source tree gives a new build (older ones removed)."""
    key = hashlib.sha256("\0".join([_deb_version(), _go_version(), os.path.realpath(src), _tree_stamp(src)])
                         .encode()).hexdigest()[:16]
    out = os.path.join(cache, key)
    names = program_names(src)
    if not os.path.exists(os.path.join(out, "complete")):
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(cache, exist_ok=True)
        for old in os.listdir(cache):
            if old not in ("gocache", key):
                shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
        gopath = os.path.join(out, "gopath")
        tree = os.path.join(gopath, "src", IMPORT_PATH)
        shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
        env = {**os.environ, "GO111MODULE": "off", "GOFLAGS": "", "GOPROXY": "off", "CGO_ENABLED": "0",
               "GOPATH": f"{gopath}:{GOCODE}", "GOCACHE": os.path.join(cache, "gocache")}
        bin_dir = os.path.join(out, "bin")
        os.makedirs(bin_dir)
        _go(["build", "-o", os.path.join(bin_dir, "runtimetest"), f"{IMPORT_PATH}/cmd/runtimetest"], tree, env)
        packages = [f"{IMPORT_PATH}/validation/{n}" for n in names
                    if os.path.isdir(os.path.join(tree, "validation", n))]
        if packages:
            _go(["build", "-o", bin_dir + "/", *packages], tree, env)
        for n in names:
            if not os.path.isdir(os.path.join(tree, "validation", n)):
                _go(["build", "-o", os.path.join(bin_dir, n), f"validation/{n}.go"], tree, env)
        with open(os.path.join(out, "complete"), "w") as f:
            f.write(key + "\n")
    return Suite(src, os.path.join(out, "bin"), names)


def run_all(suite: Suite, runtimes: dict[str, str], programs: list[str]) -> list[Run]:
    """Every program under every runtime (``name -> binary``), several at once."""
    work = tempfile.mkdtemp(prefix="oci-conformance-")
    try:
        shutil.copy2(os.path.join(suite.bin_dir, "runtimetest"), os.path.join(work, "runtimetest"))
        with open(os.path.join(work, "rootfs-amd64.tar.gz"), "wb") as f:
            f.write(gzip.compress(rootfs_tar_bytes(), compresslevel=1))
        jobs = [(p, name, binary) for p in programs for name, binary in runtimes.items()]
        # Programs on the suite's fixed cgroup paths would meet in them: one at a time, after the others.
        shared = {p for p in programs if _uses_fixed_cgroups(suite.src, p)}
        parallel = [job for job in jobs if job[0] not in shared]
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            done = dict(zip(parallel, pool.map(lambda job: _run_one(suite, work, *job), parallel)))
        done.update({job: _run_one(suite, work, *job) for job in jobs if job[0] in shared})
        return [done[job] for job in jobs]
    finally:
        _remove_tree(work)


def parse_tap(text: str) -> dict[str, str]:
    """TAP test lines -> {name: result}; a name seen again gets " (#2)", " (#3)"..."""
    cases: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^(not ok|ok)\b\s*\d*\s*(?:-\s*)?(.*?)\s*$", line)
        if not m:
            if re.match(r"^1\.\.0\s*#\s*skip", line, re.I):
                cases["(whole program skipped)"] = "skip"
            continue
        result, name = m.group(1), m.group(2)
        if re.search(r"#\s*skip\b", name, re.I):
            result = "skip"
        name = re.sub(r"\s*#\s*(skip|todo)\b.*$", "", name, flags=re.I) or "(unnamed)"
        key, n = name, 1
        while key in cases:
            n += 1
            key = f"{name} (#{n})"
        cases[key] = result
    return cases


def regressions(oracle: dict[str, str], ours: dict[str, str]) -> list[str]:
    """Cases that pass under the oracle and not under ours."""
    return [name for name, result in oracle.items() if result == "ok" and ours.get(name) != "ok"]


def counts(cases: dict[str, str]) -> tuple[int, int, int]:
    results = list(cases.values())
    return results.count("ok"), results.count("not ok"), results.count("skip")


# --- internals ---------------------------------------------------------------

def _run_one(suite: Suite, work: str, program: str, name: str, binary: str) -> Run:
    base = tempfile.mkdtemp(prefix=f"{program}-{name}-", dir=work)
    root, tmp = os.path.join(base, "state"), os.path.join(base, "tmp")
    os.makedirs(tmp)
    wrapper = os.path.join(base, name)
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec {binary} --root {root} "$@"\n')
    os.chmod(wrapper, 0o755)
    env = {**os.environ, "RUNTIME": wrapper, "TMPDIR": tmp}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([os.path.join(suite.bin_dir, program)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=PROGRAM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    _clean(binary, root)
    _remove_tree(base)
    return Run(program, name, code, parse_tap(stdout), stdout + stderr)


def _uses_fixed_cgroups(src: str, program: str) -> bool:
    files = glob.glob(os.path.join(src, "validation", program, "*.go")) or \
        [os.path.join(src, "validation", program + ".go")]
    text = "".join(open(f).read() for f in files if os.path.exists(f))
    return any(word in text for word in ("AbsCgroupPath", "RelCgroupPath", "cgrouptest", "CgroupsPath"))


def _clean(binary: str, root: str) -> None:
    """Force-delete what the program left in its private root, then the cgroups the suite names."""
    if os.path.isdir(root):
        ids = subprocess.run([binary, "--root", root, "list", "-q"], capture_output=True, text=True).stdout.split()
        for cid in ids:
            subprocess.run([binary, "--root", root, "delete", "--force", cid], capture_output=True, timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    own = own_cgroups()
    for mount, key in _hierarchies():
        for base in {"", own.get(key, "").rstrip("/")}:  # absolute cgroupsPaths, and relative ones (below ours)
            for top in SUITE_CGROUPS:
                _rmdir_tree(f"{mount}{base}/{top}")


def _hierarchies() -> list[tuple[str, str]]:
    """(mount point, its key in /proc/self/cgroup) of every cgroup hierarchy."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return [("/sys/fs/cgroup", "")]
    out = []
    for mount in glob.glob("/sys/fs/cgroup/*/"):
        name = os.path.basename(mount.rstrip("/"))
        out.append((mount.rstrip("/"), "" if name == "unified" else name if name != "systemd" else "name=systemd"))
    return out


def _remove_tree(path: str) -> None:
    """rm -rf that first detaches whatever a runtime mounted below path in our
    mount namespace, and never follows a mount it could not detach."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    with open("/proc/self/mountinfo") as f:
        if any(line.split()[4].startswith(path + "/") for line in f):
            raise RuntimeError(f"mounts left below {path}: not removed")
    shutil.rmtree(path, ignore_errors=True)


def _rmdir_tree(path: str) -> None:
    """rmdir every directory of an (empty) cgroup tree, deepest first."""
    for dirpath, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        for _ in range(20):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)  # a process of a killed container still exiting



def _v1_controller(name: str) -> bool:
    return any(name in line.split(":")[1].split(",") for line in open("/proc/self/cgroup"))


def _go(args: list[str], cwd: str, env: dict[str, str]) -> None:
    res = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{res.stderr[-4000:]}")


def _deb_version() -> str:
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", DEB_PACKAGE], capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else ""


def _go_version() -> str:
    return subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()


def _tree_stamp(src: str) -> str:
    """Newest mtime and count of the tree's .go files: an edited checkout is rebuilt."""
    stamps = [os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(src) for f in files
              if f.endswith(".go")]
    return f"{len(stamps)}:{max(stamps, default=0)}"
