"""A qemu guest for what this host's kernel cannot show (ipvlan, VLANs, dummy links, pure cgroup v2).

It runs under KVM where the CPU virtualises (`hardware_virtualisation`), else under qemu's
translator (TCG, multi-threaded): boot ~5 s, commands a few times slower than on the host.
The guest boots Debian's packaged kernel (linux-image-amd64) with a tiny initramfs built here
from busybox-static and the modules that mount the root. Its root is an overlay: the host's
``/`` shared read-only over virtio-9p below, a tmpfs above, so the venv, python, the docker CLI
and runc are all there and nothing the guest writes reaches the host; /tmp and /run are fresh
tmpfs (container data-roots can use overlayfs there). cgroup2 alone is mounted at
/sys/fs/cgroup with cpu, memory, pids, io and cpuset enabled for children. There is no
network device (``-nic none``): the guest's traffic stays inside it.

A second 9p share (a host temp dir, mounted at /vmshare) carries the command in and its
output and exit status out; then the guest powers off. qemu is killed by its PID on timeout.
"""

from __future__ import annotations

import fcntl
import glob
import io
import lzma
import os
import shlex
import shutil
import signal
import sys
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass

QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
# what the initramfs loads, in this order (each after the modules it depends on, see modules.dep)
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
CONTROLLERS = "+cpu +memory +pids +io +cpuset"
# what cgroup_no_v1= takes (subsystem or legacy names): all of them keeps v1 out, but for those
# a guest is asked to leave free (`v1=`): a test may then mount them as v1 hierarchies itself
V1_CONTROLLERS = ("cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls", "perf_event",
                  "net_prio", "hugetlb", "pids", "rdma", "misc")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class GuestResult:
    returncode: int
    output: str       # the command's stdout and stderr
    console: str      # the guest's serial console (kernel and init messages)
    seconds: float    # from starting qemu to its exit
    boot_seconds: float  # the guest's uptime when the command started (-1: it never did)
    timed_out: bool = False
    pid: int = 0      # qemu's, gone by the time this is returned


def kernel() -> tuple[str, str] | None:
    """(vmlinuz path, release) of the newest packaged kernel whose modules include 9p."""
    found = []
    for path in glob.glob("/boot/vmlinuz-*"):
        release = path[len("/boot/vmlinuz-"):]
        if os.path.exists(f"/lib/modules/{release}/modules.dep") and _module_path(release, "9p"):
            found.append((path, release))
    return max(found, key=lambda f: _version_key(f[1])) if found else None


def _version_key(release: str) -> list[int]:
    return [int(p) for p in release.replace("-", ".").split(".") if p.isdigit()]


def unavailable() -> str | None:
    """Why no guest can boot here, or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is missing (Debian package qemu-system-x86)"
    if kernel() is None:
        return "no /boot/vmlinuz-* with 9p modules (Debian package linux-image-amd64)"
    if not os.path.exists(BUSYBOX) or b"ELF" not in open(BUSYBOX, "rb").read(4):
        return "busybox is missing (Debian package busybox-static)"
    return None


def hardware_virtualisation() -> bool:
    """Whether KVM can run a stock kernel: /dev/kvm opens, KVM_CREATE_VM works, and the CPU shows
    VMX or SVM. Without them /dev/kvm may still work (PVM on a cloud VM without nested
    virtualisation, as on this project's machines), but only for kernels built for it: a stock
    kernel is emulated there, slowly, up to an emulation failure (cmpxchg16b, xrstor, int3)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    if "vmx" not in flags and "svm" not in flags:
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.close(fcntl.ioctl(fd, 0xAE01, 0))  # KVM_CREATE_VM
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _modules_dep(release: str) -> dict[str, list[str]]:
    """modules.dep: module file -> the files it needs (all of them, the deepest last)."""
    deps = {}
    with open(f"/lib/modules/{release}/modules.dep") as f:
        for line in f:
            mod, _, needs = line.partition(":")
            deps[mod] = needs.split()
    return deps


def _module_path(release: str, name: str) -> str | None:
    want = {f"{name}.ko{ext}" for ext in ("", ".xz", ".zst", ".gz")}
    for mod in _modules_dep(release):
        if os.path.basename(mod) in want or os.path.basename(mod).replace("-", "_") in want:
            return mod
    return None


def _module_order(release: str) -> list[str]:
    """The module files to insmod, dependencies first; built-in ones need nothing."""
    deps = _modules_dep(release)
    order: list[str] = []
    for name in ROOT_MODULES:
        mod = _module_path(release, name)
        if mod is None:
            continue  # built into this kernel
        for m in [*reversed(deps[mod]), mod]:
            if m not in order:
                order.append(m)
    return order


def _read_module(path: str) -> bytes:
    """A .ko as insmod needs it; Debian 12 ships them uncompressed, later releases as .xz/.zst."""
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        import gzip

        return gzip.decompress(data)
    if path.endswith(".zst"):
        import zstandard  # a dependency of dockerd-py

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=64 << 20)
    return data


class _Cpio:
    """A newc cpio archive, what the kernel unpacks as its initramfs."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(encoded), 0)
        self.buf.write(b"070701" + b"".join(b"%08X" % v for v in fields) + encoded)
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self) -> None:
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def bytes(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self.buf.getvalue()


INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "vm-init: insmod $m failed"; done
mkdir -p /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower || exec poweroff -f
mount -t tmpfs -o mode=0755 upper /upper
mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w root /newroot || exec poweroff -f
for d in tmp run; do mount -t tmpfs -o mode=1777 $d /newroot/$d; done
mkdir -p /newroot/.dpyvm-host && mount --bind /lower /newroot/.dpyvm-host
mkdir -p /newroot/vmshare
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmshare /newroot/vmshare || exec poweroff -f
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/busybox sh /vmshare/stage2.sh
"""

# PID 1 on the new root: the rest of a minimal boot, then the command. Its output goes to
# the share; the exit status is written last, so a status file means the command finished.
STAGE2 = """export PATH={path} HOME=/root LANG=C.UTF-8 TERM=dumb
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "{controllers}" > /sys/fs/cgroup/cgroup.subtree_control
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up
hostname dpyvm
echo 1 > /proc/sys/net/ipv4/ip_forward
{keep}echo "vm: command starts $(cat /proc/uptime)" > /dev/console
cd {cwd} && {env} sh /vmshare/command.sh > /vmshare/output 2>&1
echo $? > /vmshare/status.tmp && mv /vmshare/status.tmp /vmshare/status
sync
poweroff -f
"""


def build_initramfs(release: str, dest: str) -> None:
    cpio = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "modules"):
        cpio.add(d, stat.S_IFDIR | 0o755)
    cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))  # init's stdio before devtmpfs
    cpio.add("bin/busybox", stat.S_IFREG | 0o755, open(BUSYBOX, "rb").read())
    cpio.add("init", stat.S_IFREG | 0o755, INIT.encode())
    names = []
    for mod in _module_order(release):
        name = os.path.basename(mod).split(".ko")[0] + ".ko"
        cpio.add(f"modules/{name}", stat.S_IFREG | 0o644, _read_module(f"/lib/modules/{release}/{mod}"))
        names.append(name)
    cpio.add("modules/order", stat.S_IFREG | 0o644, " ".join(names).encode())
    with open(dest, "wb") as f:
        f.write(cpio.bytes())


def run(command: str, *, timeout: float = 600, memory_mb: int = 3072, cpus: int = 2,
        cwd: str | None = None, env: dict[str, str] | None = None, v1: tuple[str, ...] = ()) -> GuestResult:
    """Boot a guest, run `command` with sh in `cwd` (default: here), power off. On timeout
    qemu is killed by its PID and the result has returncode -1 and timed_out set. `v1`:
    controllers left mountable as cgroup v1 hierarchies (none is mounted, none enabled in v2)."""
    found = kernel()
    if found is None:
        raise RuntimeError(unavailable() or "no kernel")
    work = tempfile.mkdtemp(prefix="dpyvm-")
    share = os.path.join(work, "share")
    os.mkdir(share)
    try:
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        with open(os.path.join(share, "stage2.sh"), "w") as f:
            f.write(STAGE2.format(path=GUEST_PATH, controllers=CONTROLLERS, cwd=shlex.quote(cwd or os.getcwd()),
                                  env=f"env {envs}" if envs else "", keep=_keep_mounts([cwd or os.getcwd(), sys.prefix])))
        with open(os.path.join(share, "command.sh"), "w") as f:
            f.write(command + "\n")
        console = os.path.join(work, "console")
        argv = _qemu_argv(*found, work, share, console, v1) + ["-smp", str(cpus), "-m", str(memory_mb)]
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
        timed_out = False
        try:
            qemu_out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.kill(proc.pid, signal.SIGKILL)  # only the qemu we started
            qemu_out, _ = proc.communicate()
        seconds = time.monotonic() - start
        console_text = _read(console) + qemu_out.decode(errors="replace")
        status = _read(os.path.join(share, "status")).strip()
        return GuestResult(int(status) if status.lstrip("-").isdigit() else -1,
                           _read(os.path.join(share, "output")), console_text, seconds,
                           _boot_seconds(console_text), timed_out, proc.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _keep_mounts(paths: list[str]) -> str:
    """Stage-2 lines that bring back the host's directories among `paths` that lie in
    the guest's fresh /tmp or /run (a checkout or venv there: CI clones into /tmp), each
    as an overlay of the read-only host copy (/.dpyvm-host) under a tmpfs upper."""
    fresh = [p for p in {os.path.realpath(p) for p in paths} if p.startswith(("/tmp/", "/run/"))]
    outer = sorted(p for p in fresh if not any(p.startswith(q + "/") for q in fresh))
    lines = []
    for n, path in enumerate(outer):
        q, scratch = shlex.quote(path), f"/tmp/.dpyvm-keep{n}"
        lines.append(f"mkdir -p {scratch}/u {scratch}/w {q} && mount -t overlay -o "
                     f"lowerdir=/.dpyvm-host{q},upperdir={scratch}/u,workdir={scratch}/w keep{n} {q}\n")
    return "".join(lines)


def _qemu_argv(vmlinuz: str, release: str, work: str, share: str, console: str, v1: tuple[str, ...]) -> list[str]:
    initrd = os.path.join(work, "initrd")
    build_initramfs(release, initrd)
    # KVM where the CPU virtualises; else qemu's own translator (TCG), a few times slower
    accel = ["-enable-kvm", "-cpu", "host"] if hardware_virtualisation() else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    no_v1 = ",".join(c for c in V1_CONTROLLERS if c not in v1) if v1 else "all"
    return [QEMU, *accel, "-nodefaults", "-no-user-config", "-display", "none",
            "-vga", "none", "-no-reboot", "-nic", "none", "-serial", f"file:{console}",
            "-kernel", vmlinuz, "-initrd", initrd,
            "-append", f"console=ttyS0 rdinit=/init panic=-1 cgroup_no_v1={no_v1}",
            "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=root,mount_tag=hostroot",
            "-fsdev", f"local,id=share,path={share},security_model=none",
            "-device", "virtio-9p-pci,fsdev=share,mount_tag=vmshare"]


def _die_with_parent() -> None:
    """In qemu's child before exec: SIGKILL when the process that started it dies (a killed test run)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _boot_seconds(console: str) -> float:
    for line in console.splitlines():
        if line.startswith("vm: command starts "):
            return float(line.split()[3])
    return -1.0
