"""The lean tar reader behind layer extraction: every header format, and the tree and tar-split it yields."""

import hashlib
import io
import os
import stat
import tarfile

import pytest

from dockerd_py import errors
from dockerd_py.images import archive, extract, tarsplit, tarstream

LONG = "d/" + "x" * 150 + "/" + "y" * 120   # beyond ustar's name and prefix fields


def build(fmt: int, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def ti(name: str, kind: bytes = tarfile.REGTYPE, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = kw.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
    info.mtime = kw.pop("mtime", 1_700_000_000)
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def sample(fmt: int) -> bytes:
    return build(fmt, [
        (ti("d", tarfile.DIRTYPE, uid=1000, gid=1001), None),
        (ti("d/file", mode=0o4755, uid=5, gid=6), b"hello" * 300),
        (ti(LONG), b"long name"),
        (ti("d/link-to-long", tarfile.LNKTYPE, linkname=LONG), None),
        (ti("d/sym-" + "s" * 100, tarfile.SYMTYPE, linkname="../" + "t" * 120), None),
        (ti("d/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666), None),
        (ti("d/fifo", tarfile.FIFOTYPE), None),
        (ti("big-uid", uid=3_000_000, gid=3_000_001), b"x"),
        (ti("empty"), b""),
        (ti("e" * 120 + "/", tarfile.DIRTYPE), None),   # a long directory name, with its slash
    ])


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_members_match_tarfile(fmt):
    data = sample(fmt)
    want = tarfile.open(fileobj=io.BytesIO(data)).getmembers()
    got = []
    stream = tarstream.TarStream(io.BytesIO(data))
    for m in stream:
        body = b"".join(bytes(c) for c in stream.chunks())
        got.append((m, body))
    assert [m.name for m, _ in got] == [i.name for i in want]
    for (m, body), info in zip(got, want):
        assert (m.linkname, m.mode, m.uid, m.gid, m.mtime_ns) == (
            info.linkname, info.mode, info.uid, info.gid, int(info.mtime) * 10**9), info.name
        assert (m.offset, m.offset_data) == (info.offset, info.offset_data)
        assert m.type == info.type and len(body) == (info.size if info.isreg() else 0)
        if info.ischr():
            assert (m.devmajor, m.devminor) == (1, 3)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_extracted_tree_and_rebuilt_tar(tmp_path, fmt):
    if fmt == tarfile.USTAR_FORMAT:   # no long names: a name over 100 bytes uses the prefix field
        data = build(fmt, [(ti("p" * 90, tarfile.DIRTYPE), None), (ti("p" * 90 + "/" + "q" * 90), b"prefix name")])
    else:
        data = sample(fmt)
    src, dest = tmp_path / "layer.tar", tmp_path / "diff"
    src.write_bytes(data + b"\0" * 4096)   # extra zero blocks (padding to a record) belong to the tar too
    dest.mkdir()
    diff_id, _, split = extract.extract_layer(str(src), str(dest))
    assert diff_id == "sha256:" + hashlib.sha256(data + b"\0" * 4096).hexdigest()
    (tmp_path / "split.gz").write_bytes(split)
    assert b"".join(tarsplit.rebuild(str(tmp_path / "split.gz"), str(dest))) == data + b"\0" * 4096
    if fmt == tarfile.USTAR_FORMAT:
        assert (dest / ("p" * 90) / ("q" * 90)).read_bytes() == b"prefix name"
        return
    st = os.lstat(dest / "d" / "file")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == (0o4755, 5, 6, 1_700_000_000 * 10**9)
    assert (dest / LONG).read_bytes() == b"long name"
    assert os.path.samefile(dest / "d" / "link-to-long", dest / LONG)
    assert os.readlink(dest / "d" / ("sym-" + "s" * 100)) == "../" + "t" * 120
    assert os.lstat(dest / "d" / "null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(dest / "d" / "fifo").st_mode)
    assert os.lstat(dest / "big-uid").st_uid == 3_000_000
    assert os.lstat(dest / "d").st_uid == 1000


def test_pax_times_xattrs_and_globals(tmp_path):
    info = ti("f", pax_headers={"mtime": "1700000000.123456789", "atime": "1800000000.5",
                                "SCHILY.xattr.user.k": "v\u00e9"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "77"}) as tar:   # a global header: applies to every member
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ab"))
    [m] = list(tarstream.TarStream(io.BytesIO(buf.getvalue())))
    assert (m.mtime_ns, m.atime_ns, m.uid) == (1_700_000_000_123_456_789, 1_800_000_000_500_000_000, 77)
    assert m.xattrs == [("user.k", "v\u00e9".encode())]


def test_sparse_files_are_refused(tmp_path):
    data = bytearray(build(tarfile.GNU_FORMAT, [(ti("s"), b"")]))
    data[156:157] = b"S"
    data[148:156] = b"%06o\0 " % (sum(data[:148]) + sum(data[156:512]) + 256)
    with pytest.raises(errors.InvalidParameter, match="sparse"):
        list(tarstream.TarStream(io.BytesIO(bytes(data))))


@pytest.mark.parametrize("case", ["truncated-data", "truncated-header", "not-a-tar"])
def test_damaged_streams_are_errors(tmp_path, case):
    data = build(tarfile.PAX_FORMAT, [(ti("f"), os.urandom(5000))])
    bad = {"truncated-data": data[:3000], "truncated-header": data[:700], "not-a-tar": b"hello" * 200}[case]
    with pytest.raises(errors.InvalidParameter, match="unexpected EOF|invalid tar header"):
        stream = tarstream.TarStream(io.BytesIO(bad))
        for _ in stream:
            for _ in stream.chunks():
                pass


def test_base256_numbers():
    assert tarstream._num(b"\x80\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00") == 1 << 32
    assert tarstream._num(b"0000644\x00") == 0o644
    assert tarstream._num(b"\x00" * 8) == 0


def test_hard_link_metadata_applies_to_the_inode_but_never_through_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    data = build(tarfile.PAX_FORMAT, [
        (ti("f", mode=0o600), b"data"),
        (ti("hard", tarfile.LNKTYPE, linkname="f", mode=0o751, uid=7, gid=8), None),
        (ti("sym", tarfile.SYMTYPE, linkname="x"), None),
        (ti("hardsym", tarfile.LNKTYPE, linkname="sym", mode=0o777), None),
    ])
    dest = tmp_path / "diff"
    dest.mkdir()
    os.symlink(str(outside), dest / "x")   # as a parent layer's symlink could point anywhere
    archive.apply_layer(io.BytesIO(data), str(dest), overlay=False)
    st = os.lstat(dest / "f")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink) == (0o751, 7, 8, 2)
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o600
