"""Layer fidelity and extraction safety, through `docker load`, `docker run` and `docker save`.

The layers are written by hand with tarfile, as an image builder would: a
lower layer with files, an upper one with AUFS whiteouts, an opaque directory,
hard links, xattrs, a file capability, a device node, a fifo, special modes,
owners and times.
"""

import hashlib
import io
import json
import os
import struct
import tarfile
import uuid

import pytest

from .conftest import inspect
from .test_images import save_archive
from ..rootfs import rootfs_tar_bytes

MTIME = 1600000000
# cap_net_raw+ep as the kernel stores it (vfs_cap_data, revision 2)
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def layer(entries: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info, data = entry if isinstance(entry, tuple) else (entry, b"")
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, data: bytes = b"", **attrs):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    for key, value in attrs.items():
        setattr(info, key, value)
    return (info, data) if kind == tarfile.REGTYPE else info


def lower_layer() -> bytes:
    return layer([
        member("a", tarfile.DIRTYPE, 0o755), member("a/keep", data=b"keep\n"), member("a/gone", data=b"gone\n"),
        member("opq", tarfile.DIRTYPE, 0o755), member("opq/old1", data=b"1"), member("opq/old2", data=b"2"),
        member("del.txt", data=b"delete me\n"),
    ])


def upper_layer() -> bytes:
    xattr = member("x", data=b"with xattr\n")
    xattr[0].pax_headers = {"SCHILY.xattr.user.dpy": "hello"}
    cap = member("capbin", mode=0o755, data=b"#!/bin/sh\n")
    cap[0].pax_headers = {"SCHILY.xattr.security.capability": CAP_NET_RAW.decode("latin-1")}
    return layer([
        member(".wh.del.txt"), member("a/.wh.gone"),
        member("opq", tarfile.DIRTYPE, 0o755), member("opq/.wh..wh..opq"), member("opq/new", data=b"new\n"),
        member("hl", tarfile.DIRTYPE, 0o755), member("hl/orig", data=b"linked\n"),
        member("hl/link", tarfile.LNKTYPE, linkname="hl/orig"),
        xattr, cap,
        member("devs", tarfile.DIRTYPE, 0o755),
        member("devs/mynull", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3),
        member("devs/fifo", tarfile.FIFOTYPE, 0o640),
        member("suid", mode=0o4755, data=b"s"), member("sticky", tarfile.DIRTYPE, 0o1777),
        member("own", mode=0o600, data=b"o", uid=1234, gid=5678, uname="", gname=""),
        member("sym", tarfile.SYMTYPE, 0o777, linkname="a/keep"),
    ])


@pytest.fixture(scope="module")
def fidelity_image(daemon):
    from .conftest import docker

    repo = "fid" + uuid.uuid4().hex[:8]
    layers = [rootfs_tar_bytes(), lower_layer(), upper_layer()]
    archive, image_id = save_archive(layers, f"{repo}:latest", {"Cmd": ["sh"]})
    docker(daemon, "load", input=archive)
    yield repo, image_id, layers
    docker(daemon, "rmi", "-f", repo, check=False)


def test_whiteouts_opaque_dirs_and_special_files_inside_a_container(cli, fidelity_image):
    repo, image_id, _ = fidelity_image
    script = ("ls /; echo --; ls /a; echo --; ls /opq; echo --; "
              "stat -c '%n %i %h' /hl/orig /hl/link; "
              "stat -c '%n %F %t %T %a' /devs/mynull /devs/fifo; "
              "stat -c '%n %a %u %g %Y' /suid /sticky /own; readlink /sym; cat /sym")
    out = cli("run", "--rm", repo, "sh", "-c", script).stdout
    root, a, opq, rest = out.split("--\n")
    assert "del.txt" not in root.split() and "x" in root.split()
    assert a.split() == ["keep"]
    assert opq.split() == ["new"]
    lines = rest.splitlines()
    orig, link = lines[0].split(), lines[1].split()
    assert orig[1] == link[1] and orig[2] == link[2] == "2"
    assert lines[2] == "/devs/mynull character special file 1 3 666"
    assert lines[3] == "/devs/fifo fifo 0 0 640"
    assert lines[4:7] == [f"/suid 4755 0 0 {MTIME}", f"/sticky 1777 0 0 {MTIME}", f"/own 600 1234 5678 {MTIME}"]
    assert lines[7:] == ["a/keep", "keep"]


def test_layer_dirs_hold_overlay_whiteouts_and_xattrs(daemon, fidelity_image):
    repo, _, _ = fidelity_image
    data = inspect(daemon, repo)["GraphDriver"]
    assert data["Name"] == "overlay2"
    upper = data["Data"]["UpperDir"]
    st = os.lstat(os.path.join(upper, "del.txt"))
    assert (st.st_mode & 0o170000, st.st_rdev) == (0o020000, 0)
    assert not os.path.lexists(os.path.join(upper, ".wh.del.txt"))
    assert os.getxattr(os.path.join(upper, "opq"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(upper, "opq", ".wh..wh..opq"))
    assert os.getxattr(os.path.join(upper, "x"), "user.dpy") == b"hello"
    assert os.getxattr(os.path.join(upper, "capbin"), "security.capability") == CAP_NET_RAW


def test_xattrs_and_capability_seen_through_a_running_containers_rootfs(cli, daemon, fidelity_image, container_cleanup):
    repo, _, _ = fidelity_image
    name = "fx" + uuid.uuid4().hex[:8]
    cli("run", "-d", "--name", name, repo, "sleep", "60")
    container_cleanup.append(name)
    merged = inspect(daemon, name)["GraphDriver"]["Data"]["MergedDir"]
    assert os.getxattr(os.path.join(merged, "capbin"), "security.capability") == CAP_NET_RAW
    assert os.getxattr(os.path.join(merged, "x"), "user.dpy") == b"hello"
    assert not os.path.lexists(os.path.join(merged, "del.txt"))
    exported = subprocess_bytes(cli, "export", name)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        cap = tar.getmember("capbin").pax_headers["SCHILY.xattr.security.capability"]
        assert cap.encode("utf-8", "surrogateescape") == CAP_NET_RAW
        links = {tar.getmember("hl/orig").type, tar.getmember("hl/link").type}
        assert links == {tarfile.REGTYPE, tarfile.LNKTYPE}
        assert "del.txt" not in tar.getnames() and "opq/old1" not in tar.getnames()


def test_save_rebuilds_each_layer_byte_for_byte(cli, fidelity_image):
    repo, image_id, layers = fidelity_image
    saved = subprocess_bytes(cli, "save", repo)
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [f"{repo}:latest"]
        assert manifest[0]["Config"] == f"blobs/sha256/{image_id[7:]}"
        got = [tar.extractfile(p).read() for p in manifest[0]["Layers"]]
        config = json.load(tar.extractfile(manifest[0]["Config"]))
    assert got == layers
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(b).hexdigest() for b in got]
    with tarfile.open(fileobj=io.BytesIO(got[2])) as upper:
        names = upper.getnames()
    assert ".wh.del.txt" in names and "opq/.wh..wh..opq" in names and "a/.wh.gone" in names


def test_diff_of_a_container_reports_deletions(cli, fidelity_image, container_cleanup):
    repo, _, _ = fidelity_image
    name = "fd" + uuid.uuid4().hex[:8]
    cli("run", "--name", name, repo, "sh", "-c", "rm /a/keep; rm -r /opq; mkdir /opq; echo n > /opq/n")
    container_cleanup.append(name)
    out = cli("diff", name).stdout.splitlines()
    assert "D /a/keep" in out and "A /opq/n" in out and "D /opq/new" in out, out


def saved_layers(archive: bytes) -> list[str]:
    """sha256 of each layer in a `docker save` archive, checked against the config's diff_ids."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        digests = ["sha256:" + hashlib.sha256(tar.extractfile(p).read()).hexdigest() for p in manifest[0]["Layers"]]
        assert json.load(tar.extractfile(manifest[0]["Config"]))["rootfs"]["diff_ids"] == digests
    return digests


def subprocess_bytes(cli, *args: str) -> bytes:
    """A CLI command's binary stdout (`docker save` to a file)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cli(*args, "-o", f"{tmp}/out.tar")
        with open(f"{tmp}/out.tar", "rb") as f:
            return f.read()


# -- safety -------------------------------------------------------------------------------------

def store_state(daemon, cli) -> dict:
    data = os.path.join(daemon.root, "data")
    with open(os.path.join(data, "image/overlay2/repositories.json")) as f:
        repos = f.read()
    return {"images": sorted(cli("images", "-a", "-q", "--no-trunc").stdout.split()), "repositories": repos,
            "overlay2": sorted(os.listdir(os.path.join(data, "overlay2"))),
            "links": sorted(os.listdir(os.path.join(data, "overlay2", "l"))),
            "layerdb": sorted(os.listdir(os.path.join(data, "image/overlay2/layerdb/sha256"))),
            "imagedb": sorted(os.listdir(os.path.join(data, "image/overlay2/imagedb/content/sha256")))}


@pytest.fixture
def host_dir():
    """A directory on the host that hostile layers aim at; it must stay as it is."""
    path = f"/tmp/dpyesc-{uuid.uuid4().hex[:8]}"
    os.makedirs(path)
    with open(f"{path}/victim", "w") as f:
        f.write("untouched\n")
    yield path
    import shutil
    shutil.rmtree(path)


def assert_untouched(path: str) -> None:
    assert sorted(os.listdir(path)) == ["victim"]
    st = os.stat(f"{path}/victim")
    assert st.st_nlink == 1
    with open(f"{path}/victim") as f:
        assert f.read() == "untouched\n"


def load_fails(cli, layers: list[bytes], repo: str) -> str:
    archive, _ = save_archive(layers, f"{repo}:latest", {})
    proc = cli("load", input=archive, check=False)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


UP = "../" * 30


@pytest.mark.parametrize("case", ["dotdot-hardlink", "hardlink-via-symlink", "relative-symlink", "whiteout-dotdot",
                                  "whiteout-empty"])
def test_hostile_layers_are_refused_and_the_store_is_unchanged(daemon, cli, host_dir, case):
    before = store_state(daemon, cli)
    hostile = {
        "dotdot-hardlink": [member("h", tarfile.LNKTYPE, linkname=f"{UP}{host_dir[1:]}/victim"),
                            member("h", data=b"overwritten\n")],
        "hardlink-via-symlink": [member("s", tarfile.SYMTYPE, 0o777, linkname=host_dir),
                                 member("h", tarfile.LNKTYPE, linkname="s/victim")],
        "relative-symlink": [member("s", tarfile.SYMTYPE, 0o777, linkname=f"{UP}{host_dir[1:]}"),
                             member("s/owned", data=b"x")],
        "whiteout-dotdot": [member("d", tarfile.DIRTYPE, 0o755), member("d/.wh...")],
        "whiteout-empty": [member(".wh.")],
    }[case]
    repo = "bad" + uuid.uuid4().hex[:8]
    err = load_fails(cli, [rootfs_tar_bytes(), layer(hostile)], repo)
    assert any(text in err for text in ("hardlink target", "invalid whiteout", "no such file or directory")), err
    assert_untouched(host_dir)
    assert store_state(daemon, cli) == before
    assert cli("image", "inspect", repo, check=False).returncode == 1


def test_absolute_names_and_symlinks_stay_inside_the_layer(daemon, cli, host_dir):
    """As in Docker (which unpacks chrooted): `../`, absolute paths and absolute symlinks resolve inside the layer."""
    repo = "abs" + uuid.uuid4().hex[:8]
    hostile = layer([member(f"{UP}{host_dir[1:]}/up", data=b"up\n"),
                     member(f"{host_dir}/abs", data=b"abs\n"),
                     member("evil", tarfile.SYMTYPE, 0o777, linkname=host_dir),
                     member("evil/owned", data=b"owned\n"),
                     member("rel", tarfile.SYMTYPE, 0o777, linkname=f"{UP}{host_dir[1:]}"),   # kept, as Docker does
                     member("rel/via-rel", data=b"rel\n"),
                     member("hl", tarfile.LNKTYPE, linkname=f"{host_dir}/abs")])
    archive, _ = save_archive([rootfs_tar_bytes(), hostile], f"{repo}:latest", {})
    cli("load", input=archive)
    try:
        assert_untouched(host_dir)
        out = cli("run", "--rm", repo, "sh", "-c",
                  f"cat {host_dir}/up {host_dir}/abs {host_dir}/owned /hl {host_dir}/via-rel; readlink /rel").stdout
        assert out == f"up\nabs\nowned\nabs\nrel\n{UP}{host_dir[1:]}\n"
    finally:
        cli("rmi", repo)


def gzip_bytes(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize("case", ["truncated-gzip", "truncated-tar", "garbage", "wrong-diff-id"])
def test_corrupt_layers_are_rejected_and_nothing_is_kept(daemon, cli, case):
    before = store_state(daemon, cli)
    good = layer([member("f", data=os.urandom(200000))])
    repo = "cor" + uuid.uuid4().hex[:8]
    if case == "wrong-diff-id":
        archive, _ = save_archive([rootfs_tar_bytes(), good], f"{repo}:latest", {})
        blob = hashlib.sha256(good).hexdigest()
        with tarfile.open(fileobj=io.BytesIO(archive)) as src:
            members = [(i, src.extractfile(i).read() if i.isreg() else None) for i in src.getmembers()]
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as dst:
            for info, data in members:
                if info.name == f"blobs/sha256/{blob}":
                    data = layer([member("f", data=b"other")])
                    info.size = len(data)
                dst.addfile(info, io.BytesIO(data) if data is not None else None)
        proc = cli("load", input=out.getvalue(), check=False)
        err = proc.stderr
        assert "invalid diffID for layer 1" in err, err
    else:
        bad = {"truncated-gzip": gzip_bytes(good)[:5000], "truncated-tar": good[:100000],
               "garbage": b"\x1f\x8b" + os.urandom(5000)}[case]
        err = load_fails(cli, [rootfs_tar_bytes(), bad], repo)
        assert "invalid" in err.lower(), err
    assert store_state(daemon, cli) == before


def merged_archive(archives: list[bytes], tweak=None) -> bytes:
    """One `docker save` archive holding the images of several (`tweak(files, manifests)` may spoil it)."""
    files: dict[str, bytes] = {}
    manifests: list[dict] = []
    for arch in archives:
        with tarfile.open(fileobj=io.BytesIO(arch)) as t:
            for info in t.getmembers():
                if info.name == "manifest.json":
                    manifests += json.load(t.extractfile(info))
                elif info.isreg():
                    files[info.name] = t.extractfile(info).read()
    if tweak:
        tweak(files, manifests)
    files["manifest.json"] = json.dumps(manifests).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _no_config(files, manifests):
    manifests[1]["Config"] = "blobs/sha256/" + "0" * 64


def _bad_tag(files, manifests):
    manifests[1]["RepoTags"] = ["Bad Tag:1"]


@pytest.mark.parametrize("case", ["truncated-layer", "missing-config", "bad-tag"])
def test_a_load_of_several_images_stops_at_a_broken_one(daemon, cli, case):
    """As Docker (20.10 and 28): the images are loaded in order; those before the broken one stay
    loaded and tagged, nothing of the broken one or of those after it is stored
    (a bad tag: its image is stored untagged, as moby creates it before tagging)."""
    before = store_state(daemon, cli)
    repo = "three" + uuid.uuid4().hex[:8]
    one, one_id = save_archive([rootfs_tar_bytes(), layer([member("one", data=b"1")])], f"{repo}:one", {})
    two, two_id = save_archive([rootfs_tar_bytes(), layer([member("two", data=os.urandom(100000))])
                                [:60000 if case == "truncated-layer" else None]], f"{repo}:two", {})
    three, three_id = save_archive([rootfs_tar_bytes(), layer([member("three", data=b"3")])], f"{repo}:three", {})
    tweak = {"missing-config": _no_config, "bad-tag": _bad_tag}.get(case)
    proc = cli("load", input=merged_archive([one, two, three], tweak), check=False)
    try:
        assert proc.returncode == 1 and proc.stdout == f"Loaded image: {repo}:one\n", proc
        assert {"truncated-layer": "unexpected EOF", "missing-config": "0" * 64 + " not found",
                "bad-tag": "invalid reference format"}[case] in proc.stderr, proc.stderr
        assert cli("run", "--rm", f"{repo}:one", "cat", "/one").stdout == "1"
        assert cli("image", "inspect", one_id, check=False).returncode == 0
        assert cli("image", "inspect", three_id, check=False).returncode == 1
        assert cli("image", "inspect", f"{repo}:three", check=False).returncode == 1
        stored_two = cli("image", "inspect", "--format", "{{.RepoTags}}", two_id, check=False)
        assert stored_two.returncode == (0 if case == "bad-tag" else 1)
        assert case != "bad-tag" or stored_two.stdout == "[]\n"
    finally:
        cli("rmi", "-f", one_id, two_id, check=False)
    assert store_state(daemon, cli) == before   # nothing half-stored: removing what loaded leaves the store as it was


# -- a real distribution: Debian bookworm (debootstrap --variant=minbase), cached per machine ------

DEBIAN_CACHE = os.environ.get("DPY_TEST_CACHE", "/var/cache/dockerd-py-tests")


def apt_mirror(suite: str = "bookworm") -> str | None:
    """The Debian mirror apt uses on this machine (deb822 `.sources` or one-line `sources.list`)."""
    import glob

    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                fields = dict(line.split(":", 1) for line in stanza.splitlines()
                              if ":" in line and not line.startswith(("#", " ")))
                uris = fields.get("URIs", "").split()
                if suite in fields.get("Suites", "").split() and uris and "security" not in uris[0]:
                    return uris[0]
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                return words[1]
    return None


def debian_rootfs_tar() -> str:
    """A bookworm minbase rootfs as a tar, made once per machine (a lock keeps runs apart)."""
    import fcntl
    import shutil
    import subprocess

    tar_path = os.path.join(DEBIAN_CACHE, "bookworm-minbase.tar")
    if os.path.exists(tar_path):
        return tar_path
    if not shutil.which("debootstrap"):
        pytest.skip("debootstrap is not installed (contrib/setup.sh installs it)")
    mirror = apt_mirror()
    if mirror is None:
        pytest.skip("apt has no bookworm mirror configured on this machine")
    os.makedirs(DEBIAN_CACHE, exist_ok=True)
    with open(os.path.join(DEBIAN_CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(tar_path):
            return tar_path
        work = os.path.join(DEBIAN_CACHE, f"bookworm-minbase.tmp-{os.getpid()}")
        try:
            proc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", work, mirror],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.skip(f"debootstrap from {mirror} failed: {proc.stdout[-500:]}{proc.stderr[-500:]}")
            subprocess.run(["tar", "--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                            "-C", work, "-cf", tar_path + ".part", "."], check=True, capture_output=True)
            os.rename(tar_path + ".part", tar_path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if os.path.exists(tar_path + ".part"):
                os.unlink(tar_path + ".part")
    return tar_path


def test_debian_minbase_image_runs_and_round_trips(daemon, cli):
    import time

    path = debian_rootfs_tar()
    repo = "deb" + uuid.uuid4().hex[:8]
    with open(path, "rb") as f:
        rootfs = f.read()
    t0 = time.monotonic()
    image_id = cli("import", "--change", 'CMD ["bash"]', "-", f"{repo}:bookworm", input=rootfs, timeout=300).stdout.strip()
    t1 = time.monotonic()
    try:
        out = cli("run", "--rm", f"{repo}:bookworm", "sh", "-c", "cat /etc/debian_version; apt-get --version").stdout
        assert out.startswith("12.") and "apt 2.6" in out.splitlines()[1], out
        archive = subprocess_bytes(cli, "save", f"{repo}:bookworm")
        t2 = time.monotonic()
        cli("rmi", f"{repo}:bookworm")
        assert cli("load", input=archive, timeout=300).stdout == f"Loaded image: {repo}:bookworm\n"
        t3 = time.monotonic()
        assert inspect(daemon, f"{repo}:bookworm")["Id"] == image_id
        assert saved_layers(subprocess_bytes(cli, "save", f"{repo}:bookworm")) == saved_layers(archive)
        assert cli("run", "--rm", f"{repo}:bookworm", "dpkg-query", "-W", "-f", "${Package}\n", "apt").stdout == "apt\n"
        print(f"debian rootfs {len(rootfs) >> 20} MiB: import {t1 - t0:.1f}s, save {t2 - t1:.1f}s, load {t3 - t2:.1f}s")
    finally:
        cli("rmi", "-f", f"{repo}:bookworm", check=False)
