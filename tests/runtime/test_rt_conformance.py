"""runtime-tools' OCI validation suite under runc and under ours (the lean
launcher the daemon runs): every case that passes with runc must pass with ours.
How the suite is found, built and run: oci_conformance.py.

test_harness_end_to_end checks the harness itself on a two-program stand-in
tree (built offline against Debian's runtime-tools libraries), so the build,
run, TAP and clean-up path is exercised even where the real suite is absent.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import textwrap

import pytest

import oci_conformance as oc
from conftest import RUNC

from dockerd_py.launchers import install_runtime_launcher
from dockerd_runtime.cgroups.manager import own_cgroups

NEEDS_GO = pytest.mark.skipif(not shutil.which("go") or not oc._deb_version(),
                              reason=f"needs golang-go and {oc.DEB_PACKAGE} (contrib/setup.sh installs both)")


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory):
    """runc, and ours as the daemon runs it."""
    return {"runc": RUNC, "ours": install_runtime_launcher(str(tmp_path_factory.mktemp("launcher")))}


@NEEDS_GO
def test_suite_matches_runc(runtimes, capsys):
    src, why = oc.suite_source()
    if src is None:
        pytest.skip(why)
    suite = oc.build(src)
    skipped = {p: oc.skip_reason(p) for p in suite.programs}
    runs = oc.run_all(suite, runtimes, [p for p in suite.programs if not skipped[p]])
    by = {(r.program, r.runtime): r for r in runs}
    lines, failures = [], []
    for program in suite.programs:
        if skipped[program]:
            lines.append(f"{program:40} skipped: {skipped[program]}")
            continue
        runc, ours = by[(program, "runc")], by[(program, "ours")]
        lines.append(f"{program:40} runc {'%d/%d/%d' % oc.counts(runc.cases):>9}  ours "
                     f"{'%d/%d/%d' % oc.counts(ours.cases):>9}{'  TIMEOUT(ours)' if ours.returncode is None else ''}")
        lost = oc.regressions(runc.cases, ours.cases)
        if lost or (ours.returncode is None and runc.returncode is not None):
            failures.append(f"{program}: passes with runc, not with ours: {lost or ['(timed out)']}\n"
                            f"--- ours ---\n{ours.output[-3000:]}")
    with capsys.disabled():
        sys.stdout.write("\nruntime-tools validation (ok/not ok/skip)\n" + "\n".join(lines) + "\n")
    assert not failures, "\n\n".join(failures)


STAND_IN_PROGRAM = """\
package main

import (
	"fmt"
	"io/ioutil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runtime-tools/generate"
)

func rt(args ...string) (string, error) {
	out, err := exec.Command(os.Getenv("RUNTIME"), args...).CombinedOutput()
	return string(out), err
}

func main() {
	bundle, _ := ioutil.TempDir("", "ocitest")
	n := 0
	check := func(ok bool, name string) {
		n++
		if ok {
			fmt.Printf("ok %d - %s\\n", n, name)
		} else {
			fmt.Printf("not ok %d - %s\\n", n, name)
		}
	}
	err := exec.Command("tar", "-xf", "rootfs-amd64.tar.gz", "-C", bundle).Run()
	check(err == nil, "rootfs unpacked")
	data, _ := ioutil.ReadFile("runtimetest")
	ioutil.WriteFile(filepath.Join(bundle, "runtimetest"), data, 0755)
	g, _ := generate.New("linux")
	g.SetRootPath(".")
	g.SetHostname("standin")
	g.SetProcessArgs([]string{"/runtimetest"})
	check(g.SaveToFile(filepath.Join(bundle, "config.json"), generate.ExportOptions{}) == nil, "config written")
	log, _ := os.Create(filepath.Join(bundle, "log"))
	id := fmt.Sprintf("standin-%d", os.Getpid()) // its cgroup is <id> below the runtime's own
	cmd := exec.Command(os.Getenv("RUNTIME"), "create", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = log, log
	check(cmd.Run() == nil, "create")
	out, _ := rt("state", id)
	check(strings.Contains(out, `"status": "created"`), "state is created")
	_, err = rt("start", id)
	check(err == nil, "start")
	for i := 0; i < 50; i++ {
		if out, _ = rt("state", id); strings.Contains(out, "stopped") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	inside, _ := ioutil.ReadFile(filepath.Join(bundle, "log"))
	check(strings.Contains(string(inside), "ok 1 - hostname standin"), "runtimetest ran inside")
	fmt.Println("ok 8 - left for the harness to delete # SKIP stand-in")
	n++
	fmt.Printf("1..%d\\n", n)
}
"""

STAND_IN_RUNTIMETEST = """\
package main

import (
	"fmt"
	"os"
)

func main() {
	name, _ := os.Hostname()
	fmt.Printf("ok 1 - hostname %s\\n", name)
}
"""


@NEEDS_GO
def test_harness_end_to_end(runtimes, tmp_path):
    src = tmp_path / "runtime-tools"
    for rel, text in (("validation/standin/standin.go", STAND_IN_PROGRAM),
                      ("cmd/runtimetest/main.go", STAND_IN_RUNTIMETEST)):
        (src / rel).parent.mkdir(parents=True)
        (src / rel).write_text(textwrap.dedent(text))
    suite = oc.build(str(src), cache=oc.CACHE + "-selftest")
    assert suite.programs == ["standin"]
    runs = {r.runtime: r for r in oc.run_all(suite, runtimes, ["standin"])}
    want = {"rootfs unpacked": "ok", "config written": "ok", "create": "ok", "state is created": "ok",
            "start": "ok", "runtimetest ran inside": "ok", "left for the harness to delete": "skip"}
    for name, run in runs.items():
        assert run.returncode == 0 and run.cases == want, (name, run.output)
    assert oc.regressions(runs["runc"].cases, runs["ours"].cases) == []
    assert oc.regressions({"a": "ok", "b": "ok"}, {"a": "not ok"}) == ["a", "b"]
    for mount, key in oc._hierarchies():  # the stand-in's containers went with the harness's clean-up
        below = own_cgroups().get(key, "").rstrip("/")
        assert not glob.glob(f"{mount}{below}/standin-*"), mount


def test_bundle_removal_never_crosses_a_mount(tmp_path):
    """What a runtime left mounted below a bundle (runc does, for a config without
    a mount namespace) is detached first: the bound directory keeps its files."""
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("x")
    bundle = tmp_path / "bundle"
    (bundle / "rootfs" / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(keep), str(bundle / "rootfs" / "mnt")], check=True)
    try:
        oc._remove_tree(str(bundle))
    finally:
        subprocess.run(["umount", "-l", str(bundle / "rootfs" / "mnt")], capture_output=True)
    assert not bundle.exists()
    assert (keep / "file").read_text() == "x"
