"""The container filesystem helpers on their own: Docker's path rules, the tar reader,
the overlay diff, and the child's imports (it chroots: everything must be loaded first)."""

import io
import os
import stat
import subprocess
import sys
import tarfile

from dockerd_py.containerfs import paths
from dockerd_py.containerfs.tarin import TarReader
from dockerd_py.images.layerdiff import changes

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_child_imports_stay_lean():
    code = ("import sys; from dockerd_py.containerfs import child, tarout, untar; "
            "print('\\n'.join(sorted(sys.modules)))")
    mods = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": REPO}).stdout.split()
    ours = [m for m in mods if m.startswith("dockerd_py")]
    assert all(m == "dockerd_py" or m.startswith("dockerd_py.containerfs") for m in ours), ours
    for heavy in ("flask", "pluggy", "pyroute2", "subprocess", "werkzeug"):
        assert heavy not in mods, heavy


def test_docker_path_rules():
    assert paths.absolute("etc/passwd") == "/etc/passwd"
    assert paths.absolute("/etc/") == "/etc/"
    assert paths.absolute("/etc/.") == "/etc/."
    assert paths.absolute("/etc/./") == "/etc/./"
    assert paths.absolute("/a/../..//b") == "/b"
    assert paths.absolute("/.") == "/."
    assert [paths.go_base(p) for p in ("/", "/etc/", "/etc/.", "x")] == ["/", "etc", ".", "x"]
    assert paths.go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert paths.go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert paths.go_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert paths.go_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert paths.go_time(0) == "1970-01-01T00:00:00Z"
    assert paths.go_time(1_500_000_000_120_000_000) == "2017-07-14T02:40:00.12Z"
    assert paths.within("/tmp/a", "/tmp") and not paths.within("/tmpx", "/tmp") and not paths.within("/", "/tmp")


def _tar(fmt: int, compression: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w" + (":" + compression if compression else ""), format=fmt) as t:
        info = tarfile.TarInfo("d/" + "x" * 150)
        info.size, info.uid = 3, 70_000_000
        t.addfile(info, io.BytesIO(b"abc"))
        info = tarfile.TarInfo("d/link")
        info.type, info.linkname = tarfile.SYMTYPE, "y" * 120
        t.addfile(info)
        info = tarfile.TarInfo("d/after")
        info.size = 1
        t.addfile(info, io.BytesIO(b"!"))
    return buf.getvalue()


def test_tar_reader_applies_pax_and_gnu_long_names(tmp_path):
    for fmt, compression in ((tarfile.PAX_FORMAT, ""), (tarfile.GNU_FORMAT, ""), (tarfile.PAX_FORMAT, "gz"),
                             (tarfile.GNU_FORMAT, "xz")):
        reader = TarReader(io.BufferedReader(io.BytesIO(_tar(fmt, compression))))
        seen = []
        for info in reader.members():
            if info.isreg():
                path = tmp_path / "out"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                reader.copy_to(fd, info.size)
                os.close(fd)
                seen.append((info.name, info.uid, path.read_bytes()))
            else:
                seen.append((info.name, info.linkname))
        assert seen[0] == ("d/" + "x" * 150, 70_000_000, b"abc"), (fmt, compression)
        assert seen[1:] == [("d/link", "y" * 120), ("d/after", 0, b"!")], (fmt, compression)


def test_overlay_diff_kinds(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("etc", "bin", "usr/sbin", "same"):
        (lower / d).mkdir(parents=True)
    (lower / "etc/passwd").write_text("root\n")
    (lower / "bin/ls").write_text("ls")
    (lower / "usr/sbin/a").write_text("a")
    (lower / "usr/sbin/b").write_text("b")
    for d in ("etc", "bin", "usr/sbin", "new/deep", "same"):
        (upper / d).mkdir(parents=True)
    for d in ("etc", "bin", "usr", "same"):  # copied-up directories keep their metadata
        st = os.stat(lower / d)
        os.utime(upper / d, ns=(st.st_atime_ns, st.st_mtime_ns))
    (upper / "etc/passwd").write_text("root\nmore\n")
    os.mknod(upper / "bin/ls", stat.S_IFCHR | 0o000, 0)  # whiteout
    os.setxattr(upper / "usr/sbin", "trusted.overlay.opaque", b"y")
    (upper / "usr/sbin/b").write_text("new b")
    (upper / "new/deep/file").write_text("x")
    got = [(c["Kind"], c["Path"]) for c in changes(str(upper), [str(lower)])]
    assert got == [(0, "/bin"), (2, "/bin/ls"), (0, "/etc"), (0, "/etc/passwd"), (1, "/new"), (1, "/new/deep"),
                   (1, "/new/deep/file"), (0, "/usr"), (0, "/usr/sbin"), (2, "/usr/sbin/a"), (0, "/usr/sbin/b")]
