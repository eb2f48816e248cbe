"""Layer application and layer diffs, on plain directories."""

import io
import os
import stat
import tarfile

import pytest

from dockerd_py import errors
from dockerd_py.images import archive
from dockerd_py.images.layerdiff import changes


def tar_of(entries: list[tuple[str, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("name", [".wh.", "d/.wh..", "d/.wh..."])
def test_whiteouts_naming_the_dir_or_its_parent_are_refused(tmp_path, name):
    root = tmp_path / "layer"
    root.mkdir()
    (tmp_path / "sibling").write_text("kept")
    with pytest.raises(errors.InvalidParameter, match="invalid whiteout"):
        archive.apply_layer(tar_of([("d", tarfile.DIRTYPE), (name, tarfile.REGTYPE)]), str(root))
    assert (tmp_path / "sibling").read_text() == "kept" and root.is_dir()


def test_whiteout_and_opaque_dir_become_overlay_ones(tmp_path):
    root = tmp_path / "layer"
    root.mkdir()
    archive.apply_layer(tar_of([(".wh.gone", tarfile.REGTYPE), ("o", tarfile.DIRTYPE),
                                ("o/.wh..wh..opq", tarfile.REGTYPE)]), str(root))
    st = os.lstat(root / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(root / "o", archive.OPAQUE_XATTR) == b"y"
    assert sorted(os.listdir(root)) == ["gone", "o"] and os.listdir(root / "o") == []


def test_diff_under_an_opaque_dir_of_the_image_sees_that_layers_own_entries(tmp_path):
    """The image's top layer made /o opaque with o/new; the container replaced /o: o/new is deleted."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    archive.apply_layer(tar_of([("o", tarfile.DIRTYPE), ("o/.wh..wh..opq", tarfile.REGTYPE),
                                ("o/new", tarfile.REGTYPE)]), str(lower.mkdir() or lower))
    upper.mkdir()
    archive.apply_layer(tar_of([("o", tarfile.DIRTYPE), ("o/.wh..wh..opq", tarfile.REGTYPE),
                                ("o/n", tarfile.REGTYPE)]), str(upper))
    got = {(c["Path"], c["Kind"]) for c in changes(str(upper), [str(lower)])}
    assert ("/o/new", 2) in got and ("/o/n", 1) in got
