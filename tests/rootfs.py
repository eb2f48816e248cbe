"""Build a busybox root filesystem from Debian's busybox-static.

Every test image of the project starts here: no registry, no Docker Hub.
"""

import io
import os
import subprocess
import tarfile

BUSYBOX = "/bin/busybox"

_ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                  "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n",
    "etc/group": "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n",
}


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout
    return [line for line in out.split() if line]


def make_rootfs(dest: str) -> str:
    """Lay a busybox rootfs out in `dest` (created if missing) and return it."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "sys", "dev", "var"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    with open(BUSYBOX, "rb") as src, open(os.path.join(dest, "bin/busybox"), "wb") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(dest, "bin/busybox"), 0o755)
    for path in applets():
        link = os.path.join(dest, path)
        if not os.path.lexists(link) and path != "bin/busybox":
            os.symlink("/bin/busybox", link)
    for name, text in _ETC.items():
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)
    return dest


def rootfs_tar_bytes() -> bytes:
    """The busybox rootfs as an uncompressed tar, built in memory (owner root)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "var"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for path in applets():
            if path == "bin/busybox":
                continue
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(info)
        for name, text in _ETC.items():
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(raw), 0o644
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()
