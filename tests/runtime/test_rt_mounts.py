"""Mount options beyond the basics: recursive attributes (rro, rnoexec...),
rbind vs bind over a submount, propagation, nosymfollow, tmpcopyup; ours and
runc in the same test, same observable result."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import run_in


@pytest.fixture
def source_with_submount(tmp_path):
    """<tmp>/src with a file, a symlink and a tmpfs mounted at src/sub (host mount, removed after)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top").write_text("top\n")
    os.symlink("top", src / "link")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(src / "sub")], check=True)
    (src / "sub" / "inner").write_text("inner\n")
    os.chmod(src / "sub" / "inner", 0o755)
    yield str(src)
    subprocess.run(["umount", "-l", str(src / "sub")], check=True)


def _both(pair, bundle, script, mount=None):
    outputs = []
    for rt in pair:
        if mount:
            bundle.spec["mounts"] = [m for m in bundle.spec["mounts"] if m["destination"] != "/mnt"] + [mount]
        res = run_in(rt, bundle, script)
        outputs.append((res.returncode, res.stdout))
    return outputs


WRITE_PROBE = ("ls /mnt/sub; (echo x > /mnt/new) 2>/dev/null && echo top-rw || echo top-ro; "
               "(echo x > /mnt/sub/new) 2>/dev/null && echo sub-rw || echo sub-ro; "
               "rm -f /mnt/new /mnt/sub/new 2>/dev/null; true")


@pytest.mark.parametrize("options,expect", [
    (["rbind", "rro"], "inner\ntop-ro\nsub-ro\n"),
    (["rbind", "ro"], "inner\ntop-ro\nsub-rw\n"),
    (["bind", "ro"], "top-ro\nsub-ro\n"),  # non-recursive: the submount is not there
    (["rbind", "rrw", "rro"], "inner\ntop-ro\nsub-ro\n"),  # a set wins over a clear
    (["rbind", "rnosuid", "rrw"], "inner\ntop-rw\nsub-rw\n"),
])
def test_recursive_readonly(pair, bundle, source_with_submount, options, expect):
    mount = {"destination": "/mnt", "type": "bind", "source": source_with_submount, "options": options}
    outputs = _both(pair, bundle, WRITE_PROBE, mount)
    assert outputs[0] == outputs[1] == (0, expect)


def test_rnoexec_reaches_submounts(pair, bundle, source_with_submount):
    mount = {"destination": "/mnt", "type": "bind", "source": source_with_submount,
             "options": ["rbind", "rnoexec"]}
    script = "grep -E ' /mnt(/sub)? ' /proc/self/mountinfo | grep -c noexec"
    outputs = _both(pair, bundle, script, mount)
    assert outputs[0] == outputs[1] == (0, "2\n")


def test_nosymfollow(pair, bundle, source_with_submount):
    mount = {"destination": "/mnt", "type": "bind", "source": source_with_submount,
             "options": ["rbind", "nosymfollow"]}
    outputs = _both(pair, bundle, "cat /mnt/top; cat /mnt/link 2>/dev/null || echo refused", mount)
    assert outputs[0] == outputs[1] == (0, "top\nrefused\n")


@pytest.mark.parametrize("prop", ["rprivate", "rslave", "rshared", "runbindable", "private", "shared"])
def test_propagation(pair, bundle, source_with_submount, prop):
    mount = {"destination": "/mnt", "type": "bind", "source": source_with_submount, "options": ["rbind", prop]}
    script = "grep -E ' /mnt(/sub)? ' /proc/self/mountinfo | cut -d' ' -f5,7-"
    outputs = _both(pair, bundle, script, mount)
    tags = [sorted(re.sub(r":\d+", "", line) for line in out.splitlines()) for _, out in outputs]
    assert outputs[0][0] == outputs[1][0] == 0
    assert tags[0] == tags[1] and tags[0]


def test_tmpcopyup(pair, bundle):
    bundle.spec["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                                  "options": ["tmpcopyup", "nosuid", "nodev"]})
    outputs = _both(pair, bundle, "grep -c root /etc/passwd; ls -ln /etc | awk 'NR>1 {print $1, $3, $9}'; "
                                  "grep ' /etc ' /proc/self/mountinfo | cut -d' ' -f9")
    assert outputs[0] == outputs[1]
    assert outputs[0][1].startswith("1\n") and outputs[0][1].endswith("tmpfs\n")


def test_features_mount_options_match_runc(pair):
    ours, runc = (set(json.loads(rt.ok("features"))["mountOptions"]) for rt in pair)
    assert ours == runc
