"""Builder pieces that need no daemon: .dockerignore rules, Go formatting, the commit layer tar."""

import io
import os
import stat
import tarfile

import pytest

from dockerd_py.builder import goformat
from dockerd_py.builder.dockerignore import Matcher, read_patterns
from dockerd_py.images.commit import EMPTY_TAR_DIFF_ID, write_diff_tar


@pytest.mark.parametrize("patterns,path,excluded", [
    (["*.log"], "a.log", True),
    (["*.log"], "sub/a.log", False),            # `*` stays in one element
    (["**/*.log"], "sub/deep/a.log", True),
    (["**/*.log"], "a.log", True),               # `**/` matches no directory too
    (["docs"], "docs/x/y.md", True),             # a matching parent excludes its tree
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md", "docs/keep*"], "docs/keep.md", True),   # the last match decides
    (["/abs/./x/../y"], "abs/y", True),          # patterns are cleaned paths
    (["?.txt"], "ab.txt", False),
    (["[a-c].txt"], "b.txt", True),
])
def test_dockerignore_rules(patterns, path, excluded):
    assert Matcher(read_patterns("\n".join(patterns))).excluded(path) is excluded


def test_dockerignore_comments_and_blanks():
    assert read_patterns("# note\n\n  *.tmp  \n!  keep.tmp\n") == ["*.tmp", "!keep.tmp"]


def test_go_formatting():
    assert goformat.quote_list(["/bin/sh", "-c", 'echo "hi"\n']) == '["/bin/sh" "-c" "echo \\"hi\\"\\n"]'
    assert goformat.duration(90_000_000_000) == "1m30s"
    assert goformat.duration(1_500_000) == "1.5ms"
    assert goformat.quote_rune(3) == "'\\x03'" and goformat.quote_rune(65) == "'A'"
    hc = {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 3}
    assert goformat.healthcheck(hc) == '&{["CMD-SHELL" "true"] "5s" "0s" "0s" \'\\x03\'}'


def test_empty_upper_dir_is_the_empty_layer(tmp_path):
    out = io.BytesIO()
    assert write_diff_tar(str(tmp_path), out) == EMPTY_TAR_DIFF_ID
    assert out.getvalue() == b"\0" * 1024


def test_overlay_upper_dir_as_docker_layer(tmp_path):
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR | 0o000, 0)     # overlay whiteout
    (upper / "opq").mkdir()
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq" / "new").write_text("n")
    (upper / "f").write_text("data")
    os.link(upper / "f", upper / "hard")
    os.symlink("/f", upper / "link")
    out = io.BytesIO()
    digest = write_diff_tar(str(upper), out)
    assert digest.startswith("sha256:") and digest != EMPTY_TAR_DIFF_ID
    assert len(out.getvalue()) % 512 == 0
    out.seek(0)
    members = {m.name: m for m in tarfile.open(fileobj=out)}
    assert list(members) == ["etc", "etc/.wh.gone", "f", "hard", "link", "opq", "opq/.wh..wh..opq", "opq/new"]
    assert out.getvalue()[:5] == b"etc/\0"          # directories are written with Docker's trailing slash
    assert members["etc/.wh.gone"].isreg() and members["etc/.wh.gone"].mode == 0o600
    assert members["hard"].islnk() and members["hard"].linkname == "f"
    assert members["link"].issym() and members["link"].linkname == "/f"
    assert members["f"].size == 4
