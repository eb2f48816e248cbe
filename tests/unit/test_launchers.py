"""The runtime launcher the daemon writes into its exec-root (dockerd_py/launchers.py)."""

import os
import subprocess

from dockerd_py.launchers import install_runtime_launcher


def test_launcher_is_isolated_and_works(tmp_path):
    path = install_runtime_launcher(str(tmp_path / "exec"))
    with open(path) as f:
        assert f.readline().rstrip().endswith(" -IS")  # no site, no PYTHON* of the caller
    env = {**os.environ, "PYTHONPATH": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONSTARTUP": "/x"}
    res = subprocess.run([path, "--version"], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.startswith("dockerd-py-runc version")
    res = subprocess.run([path, "--root", str(tmp_path / "root"), "state", "nope"], capture_output=True, text=True)
    assert res.returncode == 1 and 'msg="container does not exist"' in res.stderr
    res = subprocess.run([path, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0 and (tmp_path / "config.json").read_text().startswith('{\n\t"ociVersion"')


def test_reinstall_replaces_in_place(tmp_path):
    first = install_runtime_launcher(str(tmp_path))
    second = install_runtime_launcher(str(tmp_path))
    assert first == second and os.access(second, os.X_OK)
    assert os.path.islink(os.path.join(os.path.dirname(second), "lib", "dockerd_runtime"))


def test_install_entry_point_for_path(tmp_path):
    """`python -m dockerd_py.launchers DIR` (contrib/setup.sh): the launcher it prints works
    through a symlink, as /usr/local/bin/dockerd-py-runc; bad usage exits 2."""
    import sys
    res = subprocess.run([sys.executable, "-m", "dockerd_py.launchers", str(tmp_path / "venv-dir")],
                         capture_output=True, text=True, check=True)
    path = res.stdout.strip()
    assert path == str(tmp_path / "venv-dir" / "bin" / "dockerd-py-runc")
    link = tmp_path / "dockerd-py-runc"
    link.symlink_to(path)
    res = subprocess.run([str(link), "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("dockerd-py-runc version")
    res = subprocess.run([sys.executable, "-m", "dockerd_py.launchers"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr
