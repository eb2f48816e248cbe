"""COPY/ADD source hashes (`file:`/`dir:`/`multi:`) in the history equal Docker 20.10's legacy builder's.

The expected strings were recorded from Docker 20.10.24's dockerd (DOCKER_BUILDKIT=0, the
docker CLI 28.2) building this very context; the last test compares with that daemon live
when it is installed here.
"""

import io
import json
import os
import subprocess
import tarfile
import uuid

import pytest

from .conftest import DOCKER
from .test_image_interop import reference  # noqa: F401  (the reference dockerd fixture)

MTIME = 1600000000

DOCKERFILE = """\
FROM busybox AS base
COPY one.txt /one
COPY exec.sh /bin/
COPY dir /d
COPY one.txt exec.sh /multi/
COPY *.log /logs/
COPY w1.log /single-wild*
COPY --chown=1:2 one.txt /owned
COPY --chown=daemon dir /owned-dir
ADD arch.tar /x/
ADD one.txt dir /addmulti/
COPY dir/link /viaLink
COPY . /ctx
FROM busybox
COPY --from=base /d /fromdir
COPY --from=base /one /fromone
COPY --from=base /d/link /fromlink
COPY --from=base /owned /fromowned
COPY --from=base /owned-dir /fromowned-dir
COPY --from=base /bin/exec.sh /multi/one.txt /frommulti/
"""

_NOP = "/bin/sh -c #(nop) "
BASE_STEPS = [  # Docker 20.10.24, stage `base`
    "COPY file:8d80fc3c4ccf810fda018fb4f47ca7e4f202efd0ea4229a3c882d407f53d26aa in /one ",
    "COPY file:87082cd5934f491d5b924801adfc90a50c1b02f887c1f21d18c239bebad98496 in /bin/ ",
    "COPY dir:5e56ff0e4fda8a623762e5daba7790bf6ec6e73d1850b17786775dddf6568482 in /d ",
    "COPY multi:dadd5bee2a352fdfaa787ce2cb6fb0e2fa2e4d03cf9a390b702186a3d17d447c in /multi/ ",
    "COPY multi:1a57095aa79c4fa45efa9af94101372b806837cafe3e5f0b77fba8f99b6f9af5 in /logs/ ",
    "COPY file:78ff3455dd217c69c6c909e0036b8f5b8283fc49b71f1786ee6f22b708340f11 in /single-wild* ",
    "COPY --chown=1:2file:8d80fc3c4ccf810fda018fb4f47ca7e4f202efd0ea4229a3c882d407f53d26aa in /owned ",
    "COPY --chown=daemondir:5e56ff0e4fda8a623762e5daba7790bf6ec6e73d1850b17786775dddf6568482 in /owned-dir ",
    "ADD file:34a1d792f6a5f3da1b06d2f53108d5f272f303bbad93effc79b64c630e6a51fc in /x/ ",
    "ADD multi:69d9ed52cf1b6d52624710d3c2e9566c7eebbf4dc63002223c997ffa822ef153 in /addmulti/ ",
    "COPY file:fac8e7eee1d43fb0c4891bec72c6d77a9c486aa040734b4d79ea897b54f64bee in /viaLink ",
    "COPY dir:ee9b0a7bc985b4b646f27fa0f9a38677fc68d60137cc85b7285457cc10bd41c3 in /ctx ",
]
FINAL_STEPS = [  # Docker 20.10.24, the last stage: sources hashed from the `base` image's files
    "COPY dir:6b3722202649495d020e5fc364728182ee52ac9fe5c1c6a813cd102861254c9e in /fromdir ",
    "COPY file:42167350d88925eed8e01d24d5b71aa543118fc3a5ca2b6908edf75703b15914 in /fromone ",
    "COPY file:2f7ce62794aeb8d5f1b88e305464529c437c351be98aa8cdcd68c38ffa39502f in /fromlink ",
    "COPY file:be85e37b91b24e85433e10ce42be3208f3f5994e6f3ab92326098a0abd7ffda7 in /fromowned ",
    "COPY dir:ca794e9449a6df9ee8806b9cdbcce2269c8f1d4fc1877a90f6c0edbc88d336bc in /fromowned-dir ",
    "COPY multi:fb3fb0060d6027822187e1004995bc27c29389d0ed16192e3083dd7d388365a3 in /frommulti/ ",
]


def _write(root, rel: str, data: bytes, mode: int) -> None:
    path = os.path.join(root, rel)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, (MTIME, MTIME))


def _context(root) -> str:
    """Files with fixed contents, modes and mtimes; a nested directory, a link and a dangling link."""
    os.makedirs(os.path.join(root, "dir", "sub"))
    _write(root, "one.txt", b"one\n", 0o644)
    _write(root, "exec.sh", b"#!/bin/sh\necho hi\n", 0o755)
    _write(root, "dir/a.txt", b"aaa\n", 0o600)
    _write(root, "dir/sub/b.txt", b"bbb\n", 0o644)
    _write(root, "w1.log", b"w1\n", 0o644)
    _write(root, "w2.log", b"w2\n", 0o640)
    os.symlink("a.txt", os.path.join(root, "dir", "link"))
    os.symlink("nowhere", os.path.join(root, "dir", "dangling"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("inner.txt")
        info.size, info.mtime, info.mode = 3, MTIME, 0o644
        tar.addfile(info, io.BytesIO(b"in\n"))
    _write(root, "arch.tar", buf.getvalue(), 0o644)
    _write(root, "Dockerfile", DOCKERFILE.encode(), 0o644)
    for d in ("dir/sub", "dir", "."):
        os.chmod(os.path.join(root, d), 0o755)
        os.utime(os.path.join(root, d), (MTIME, MTIME))
    return str(root)


def _steps(run, image: str, count: int) -> list[str]:
    """The created_by of the image's last `count` history entries, oldest first."""
    out = run("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    lines = out.decode().splitlines() if isinstance(out, bytes) else out.splitlines()
    return list(reversed(lines[:count]))


def _image_config(cli, tmp_path, image: str) -> dict:
    """The image's stored config, from `docker save` (inspect shows no ContainerConfig at API 1.47)."""
    path = tmp_path / "saved.tar"
    cli("save", "-o", str(path), image)
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return json.load(tar.extractfile(manifest[0]["Config"]))


@pytest.fixture
def tags(cli):
    made: list[str] = []
    yield made
    if made:
        cli("rmi", "-f", *made, check=False)


def test_copy_hashes_are_dockers(cli, tmp_path, tags):
    ctx = _context(tmp_path)
    repo = f"dpy-hashes-{uuid.uuid4().hex[:8]}"
    tags += [f"{repo}:base", f"{repo}:final"]
    cli("build", "-q", "--target", "base", "-t", f"{repo}:base", ctx)
    assert _steps(cli, f"{repo}:base", len(BASE_STEPS)) == [_NOP + s for s in BASE_STEPS]

    built = cli("build", "-t", f"{repo}:final", ctx).stdout
    assert built.count(" ---> Using cache") == len(BASE_STEPS)   # the same keys: stage `base` is cached
    assert _steps(cli, f"{repo}:final", len(FINAL_STEPS)) == [_NOP + s for s in FINAL_STEPS]
    assert _image_config(cli, tmp_path, f"{repo}:final")["container_config"]["Cmd"] == \
        ["/bin/sh", "-c", "#(nop) " + FINAL_STEPS[-1]]


def test_mtime_is_not_in_the_hash_but_the_mode_is(cli, tmp_path, tags):
    ctx = _context(tmp_path)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY one.txt /one\n")
    first = cli("build", "-q", ctx).stdout.strip()
    tags.append(first)
    os.utime(os.path.join(ctx, "one.txt"), (MTIME + 99, MTIME + 99))
    rebuilt = cli("build", ctx).stdout
    assert " ---> Using cache" in rebuilt and f"Successfully built {first[7:19]}" in rebuilt
    os.chmod(os.path.join(ctx, "one.txt"), 0o600)
    changed = cli("build", "-q", ctx).stdout.strip()
    tags.append(changed)
    assert changed != first
    assert _steps(cli, changed, 1) == [_NOP + "COPY file:36937b484973636444c58fe4c1721ad7965c84751deda2a1136d50d50004878f"
                                       " in /one "]   # Docker 20.10.24's


def _sdk_context() -> bytes:
    """A context as a Python tarfile client might send it: real owners and names, a pre-POSIX regular
    file, a hard link, a directory with an xattr in its PAX header, a non-ASCII name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dockerfile = b"FROM busybox\nCOPY a /a\nCOPY b /b\nCOPY d /d\nCOPY a b d /all/\n"
        entries = [(dict(name="Dockerfile"), dockerfile),
                   (dict(name="a", type=tarfile.AREGTYPE, uid=1000, uname="someone", mode=0o640), b"x\n"),
                   (dict(name="b", type=tarfile.LNKTYPE, linkname="a", uid=1000, mode=0o640), None),
                   (dict(name="d", type=tarfile.DIRTYPE, mode=0o750, gid=5,
                         pax_headers={"SCHILY.xattr.user.note": "hi"}), None),
                   (dict(name="d/\u00e9t\u00e9.txt", mode=0o604), b"ete")]
        for fields, data in entries:
            info = tarfile.TarInfo(fields.pop("name"))
            info.mtime = MTIME
            for key, value in fields.items():
                setattr(info, key, value)
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def test_hashes_of_a_python_made_context(client):
    lines = client.api.build(fileobj=io.BytesIO(_sdk_context()), custom_context=True, rm=True, decode=True)
    image = [m["aux"]["ID"] for m in lines if "aux" in m][-1]
    try:
        steps = [h["CreatedBy"] for h in reversed(client.api.history(image)[:4])]
    finally:
        client.api.remove_image(image, force=True)
    assert steps == [_NOP + s for s in [   # Docker 20.10.24's
        "COPY file:ed46c3456c696fe436470fcff834601219859388abf12b4a0526e541bdb4c8a2 in /a ",
        "COPY file:2bbda68330226d28dac0eeb99a2d57a747b22e4a422ea4ffa777520630360231 in /b ",
        "COPY dir:98f43fa74bf05c92540cdd592ef680065c03f2b70a86ab3c2de33ffc12d3ef4b in /d ",
        "COPY multi:b2246aeadbac37b4fbd7eab583fc3603c4fd9f66274ca57a557859dc9cb44589 in /all/ "]]


def test_same_strings_as_dockers_dockerd(cli, tmp_path, tags, reference):  # noqa: F811
    ctx = _context(tmp_path)
    repo = f"dpy-hashes-{uuid.uuid4().hex[:8]}"
    tags.append(f"{repo}:x")
    env = {**reference.env, "DOCKER_BUILDKIT": "0"}

    def theirs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], capture_output=True, env=env, timeout=180, check=True)

    count = len(BASE_STEPS) + len(FINAL_STEPS)
    try:
        theirs("build", "-q", "-t", f"{repo}:x", ctx)
        there = _steps(theirs, f"{repo}:x", len(FINAL_STEPS))
        theirs("build", "-q", "--target", "base", "-t", f"{repo}:base", ctx)
        there = _steps(theirs, f"{repo}:base", len(BASE_STEPS)) + there
    finally:
        subprocess.run([DOCKER, "rmi", "-f", f"{repo}:x", f"{repo}:base"], env=env, capture_output=True)
    cli("build", "-q", "--target", "base", "-t", f"{repo}:base", ctx)
    cli("build", "-q", "-t", f"{repo}:x", ctx)
    tags.append(f"{repo}:base")
    here = _steps(cli, f"{repo}:base", len(BASE_STEPS)) + _steps(cli, f"{repo}:x", len(FINAL_STEPS))
    assert len(here) == count
    assert here == there


LINKS_DOCKERFILE = """\
FROM busybox
COPY abs /abs
COPY rel /rel
COPY dirlink /d/
COPY dirlink/inner/f /f2
COPY abs rel /multi/
COPY sub/up/inner /viaup/
COPY a* /glob/
COPY . /all/
"""
LINKS_STEPS = [  # Docker 20.10.24: each link followed inside the context, as if it were `/`
    "COPY file:dd9039c9062e7d99f30a0cac3343b9b09e32f31b467f16d716817259bd149d6c in /abs ",
    "COPY file:dd9039c9062e7d99f30a0cac3343b9b09e32f31b467f16d716817259bd149d6c in /rel ",
    "COPY dir:c9168f46a0d441b780834361b099e21e900c8bb6076f3e973d2ead4f27b5d3c1 in /d/ ",
    "COPY file:2eb8f61c8a67ecbadac2bb7ea48bd70c181a82dbdb5d388e0fd57eaf928c7e16 in /f2 ",
    "COPY multi:e6dab62605f70fc563a7a1b64f4bd14b42727428a7eeffbd9b81583ee3da76b3 in /multi/ ",
    "COPY dir:c524edac22e451b4502700fa66c71b1f9cb31b26398d918eec3af435ec77f7e4 in /viaup/ ",
    "COPY file:dd9039c9062e7d99f30a0cac3343b9b09e32f31b467f16d716817259bd149d6c in /glob/ ",
    "COPY dir:65e5b99aa9005eeb3caa2c491f8c3d786d74f0e4fdbe0d50dae4deb0bf2be02a in /all/ ",
]


def _links_context(root) -> str:
    """Links that lead out of the context when followed on the host: absolute and `../../`."""
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "sub", "inner"))
    _write(root, "etc/x", b"inside\n", 0o644)
    _write(root, "sub/inner/f", b"subfile\n", 0o640)
    _write(root, "Dockerfile", LINKS_DOCKERFILE.encode(), 0o644)
    for name, target in [("abs", "/etc/x"), ("rel", "../../etc/x"), ("dirlink", "/sub"), ("sub/up", "../../sub")]:
        os.symlink(target, os.path.join(root, name))
    for d in ("etc", "sub/inner", "sub", "."):
        os.chmod(os.path.join(root, d), 0o755)
    return str(root)


def test_links_leading_out_of_the_context_are_followed_inside_it(cli, tmp_path, tags):
    ctx = _links_context(tmp_path)
    image = cli("build", "-q", ctx).stdout.strip()
    tags.append(image)
    assert _steps(cli, image, len(LINKS_STEPS)) == [_NOP + s for s in LINKS_STEPS]
    shown = cli("run", "--rm", image, "sh", "-c",
                "cat /abs /rel /f2 /multi/abs /multi/rel /glob/abs /viaup/f; ls /d; for l in /d/up /all/abs /all/rel"
                " /all/dirlink /all/sub/up; do readlink $l; done; ls /glob /multi; cat /etc/x 2>&1 || true").stdout
    assert shown == ("inside\ninside\nsubfile\ninside\ninside\ninside\nsubfile\ninner\nup\n"   # sources: followed
                     "../../sub\n/etc/x\n../../etc/x\n/sub\n../../sub\n"   # the copied entries: kept as links
                     "/glob:\nabs\n\n/multi:\nabs\nrel\ncat: can't open '/etc/x': No such file or directory\n")
    assert cli("build", ctx).stdout.count(" ---> Using cache") == len(LINKS_STEPS)
