"""The daemon's defaults for containers (--default-ulimit, --default-shm-size, --default-ipc-mode,
--default-cgroupns-mode, --no-new-privileges, --seccomp-profile, --label), from flags and from
daemon.json, as a user sees them: inside the container, in inspect and in `docker info`.

Each daemon here is an extra dockerd-py of its own (conftest.private_daemon), shared by the tests
of one configuration and removed with everything it made.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from .conftest import docker, inspect, private_daemon, uid

# a profile that allows everything but mkdir: a container under it cannot make a directory
MKDIR_DENIED = {"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
PROC_STATUS = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"


@pytest.fixture(scope="module")
def profile_path():
    tmp = tempfile.mkdtemp(prefix="seccomp")
    path = os.path.join(tmp, "profile.json")
    with open(path, "w") as f:
        json.dump(MKDIR_DENIED, f)
    yield path
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def flags_daemon(profile_path):
    with private_daemon("cdf", args=("--default-ulimit", "nofile=1234:2345", "--default-shm-size", "32M",
                                     "--default-ipc-mode", "shareable", "--default-cgroupns-mode", "host",
                                     "--no-new-privileges", "--seccomp-profile", profile_path,
                                     "--label", "tier=test", "--label", "zone=a")) as d:
        yield d


@pytest.fixture(scope="module")
def file_daemon():
    with private_daemon("cdj", daemon_json={
            "default-ulimits": {"nproc": {"Name": "nproc", "Hard": 777, "Soft": 555}},
            "default-shm-size": "2M", "default-ipc-mode": "private", "default-cgroupns-mode": "private",
            "no-new-privileges": True, "seccomp-profile": "unconfined", "labels": ["from=file"]}) as d:
        yield d


def run(d, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`docker run --rm` of busybox on daemon `d` (leaves nothing behind)."""
    return docker(d, "run", "--rm", *args, check=check)


def status(d, *opts: str) -> dict[str, str]:
    out = run(d, *opts, "busybox", "sh", "-c", PROC_STATUS).stdout
    return dict(line.replace("\t", "").split(":", 1) for line in out.splitlines())


def info(d) -> dict:
    return json.loads(docker(d, "info", "--format", "{{json .}}").stdout)


def test_default_ulimit_for_containers_without_their_own(flags_daemon, file_daemon):
    assert run(flags_daemon, "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn").stdout.split() == ["1234", "2345"]
    assert run(flags_daemon, "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
               "ulimit -Sn; ulimit -Hn").stdout.split() == ["100", "200"]
    assert run(file_daemon, "busybox", "sh", "-c", "ulimit -Su; ulimit -Hu").stdout.split() == ["555", "777"]
    name = uid()
    try:  # inspect shows the container's ulimits merged with the daemon's (Docker's getInspectData)
        docker(flags_daemon, "create", "--name", name, "--ulimit", "nproc=50:60", "busybox", "true")
        assert inspect(flags_daemon, name)["HostConfig"]["Ulimits"] == [
            {"Name": "nproc", "Hard": 60, "Soft": 50}, {"Name": "nofile", "Hard": 2345, "Soft": 1234}]
    finally:
        docker(flags_daemon, "rm", "-f", name, check=False)


def test_default_shm_size(flags_daemon, file_daemon):
    def shm_kib(d, *opts: str) -> str:
        return run(d, *opts, "busybox", "df", "-k", "/dev/shm").stdout.split()[-5]

    assert shm_kib(flags_daemon) == "32768"
    assert shm_kib(flags_daemon, "--shm-size", "1m") == "1024"
    assert shm_kib(file_daemon) == "2048"
    name = uid()
    try:
        docker(file_daemon, "create", "--name", name, "busybox", "true")
        assert inspect(file_daemon, name)["HostConfig"]["ShmSize"] == 2 * 1024 * 1024
    finally:
        docker(file_daemon, "rm", "-f", name, check=False)


def _ns(d, ref: str, kind: str) -> str:
    return os.readlink(f"/proc/{inspect(d, ref)['State']['Pid']}/ns/{kind}")


def test_default_ipc_and_cgroupns_modes(flags_daemon, file_daemon):
    donor, joiner, private = uid("d"), uid("j"), uid("p")
    try:
        docker(flags_daemon, "run", "-d", "--name", donor, "busybox", "sleep", "300")
        docker(flags_daemon, "run", "-d", "--name", joiner, "--ipc", f"container:{donor}", "busybox", "sleep", "300")
        hc = inspect(flags_daemon, donor)["HostConfig"]
        assert (hc["IpcMode"], hc["CgroupnsMode"]) == ("shareable", "host")
        assert _ns(flags_daemon, donor, "ipc") == _ns(flags_daemon, joiner, "ipc") != os.readlink("/proc/self/ns/ipc")
        assert _ns(flags_daemon, donor, "cgroup") == os.readlink("/proc/self/ns/cgroup")

        docker(file_daemon, "run", "-d", "--name", private, "busybox", "sleep", "300")
        hc = inspect(file_daemon, private)["HostConfig"]
        assert (hc["IpcMode"], hc["CgroupnsMode"]) == ("private", "private")
        assert _ns(file_daemon, private, "cgroup") != os.readlink("/proc/self/ns/cgroup")
        got = run(file_daemon, "--ipc", f"container:{private}", "busybox", "true", check=False)
        assert got.returncode == 125 and "non-shareable IPC" in got.stderr, got.stderr
        assert "name=cgroupns" in info(file_daemon)["SecurityOptions"]
        assert "name=cgroupns" not in info(flags_daemon)["SecurityOptions"]
    finally:
        docker(flags_daemon, "rm", "-f", donor, joiner, check=False)
        docker(file_daemon, "rm", "-f", private, check=False)


def test_no_new_privileges_default(flags_daemon, file_daemon):
    assert status(flags_daemon)["NoNewPrivs"] == "1"
    assert status(file_daemon)["NoNewPrivs"] == "1"
    assert status(flags_daemon, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"
    name = uid()
    try:  # the daemon's default is not written into the container's SecurityOpt
        docker(flags_daemon, "create", "--name", name, "busybox", "true")
        assert inspect(flags_daemon, name)["HostConfig"]["SecurityOpt"] is None
    finally:
        docker(flags_daemon, "rm", "-f", name, check=False)
    assert info(flags_daemon)["SecurityOptions"][-1] == "name=no-new-privileges"


def test_no_new_privileges_is_fixed_at_create():
    """As Docker (config.v2.json NoNewPrivileges): a container keeps the default it was created under."""
    with private_daemon("cdn", args=("--no-new-privileges",)) as d:
        name = uid()
        docker(d, "create", "--name", name, "busybox", "sh", "-c", PROC_STATUS)
        d.stop()
        d.args.remove("--no-new-privileges")
        d.start()
        assert "NoNewPrivs:\t1" in docker(d, "start", "-a", name).stdout
        assert status(d)["NoNewPrivs"] == "0"
        assert "name=no-new-privileges" not in info(d)["SecurityOptions"]


def test_default_seccomp_profile(flags_daemon, file_daemon, profile_path):
    got = run(flags_daemon, "busybox", "sh", "-c", f"{PROC_STATUS}; mkdir /tmp/x", check=False)
    assert got.returncode == 1 and "Seccomp:\t2" in got.stdout
    assert "can't create directory '/tmp/x': Operation not permitted" in got.stderr
    assert run(flags_daemon, "--security-opt", "seccomp=unconfined", "busybox", "mkdir", "/tmp/x").returncode == 0
    assert status(file_daemon)["Seccomp"] == "0"
    assert status(file_daemon, "--security-opt", "seccomp=builtin")["Seccomp"] == "2"
    flags_info, file_info = info(flags_daemon), info(file_daemon)
    assert flags_info["SecurityOptions"][0] == f"name=seccomp,profile={profile_path}"
    assert file_info["SecurityOptions"][0] == "name=seccomp,profile=unconfined"
    for i in (flags_info, file_info):
        assert "WARNING: daemon is not using the default seccomp profile" in i["Warnings"]


def test_privileged_seccomp(flags_daemon, profile_path):
    """As Docker 27 (moby#47500): a privileged container runs without the daemon's profile, but under
    one given with --security-opt; the daemon's --no-new-privileges applies to it too."""
    assert status(flags_daemon, "--privileged") == {"NoNewPrivs": "1", "Seccomp": "0"}
    got = run(flags_daemon, "--privileged", "--security-opt", f"seccomp={profile_path}", "busybox", "sh", "-c",
              f"{PROC_STATUS}; mkdir /tmp/x", check=False)
    assert got.returncode == 1 and "Seccomp:\t2" in got.stdout and "Operation not permitted" in got.stderr
    assert status(flags_daemon, "--privileged", "--security-opt", "no-new-privileges=false") == {
        "NoNewPrivs": "0", "Seccomp": "0"}


@pytest.mark.parametrize("opts, stored", [
    (("--privileged",), ["label=disable"]),
    (("--ipc", "host"), ["label=disable"]),
    (("--pid", "host", "--security-opt", "no-new-privileges"), ["no-new-privileges", "label=disable"]),
    (("--privileged", "--security-opt", "seccomp=PROFILE"), ["seccomp=PROFILE", "label=disable"]),
    (("--privileged", "--security-opt", "label=disable"), ["label=disable"]),
    (("--ipc", "shareable", "--uts", "host", "--network", "host"), None),
])
def test_security_opt_as_stored(flags_daemon, profile_path, opts, stored):
    """Docker adds label=disable to HostConfig.SecurityOpt at create (privileged, host IPC or PID),
    SELinux or not; the daemon's seccomp profile and no-new-privileges are not written there."""
    compact = json.dumps(MKDIR_DENIED, separators=(",", ":"))   # the CLI sends the file's JSON compacted
    opts = tuple(o.replace("PROFILE", profile_path) for o in opts)
    name = uid()
    try:
        docker(flags_daemon, "create", "--name", name, *opts, "busybox", "true")
        got = inspect(flags_daemon, name)["HostConfig"]["SecurityOpt"]
        assert got == (None if stored is None else [o.replace("PROFILE", compact) for o in stored])
    finally:
        docker(flags_daemon, "rm", "-f", name, check=False)


def test_labels_in_info(flags_daemon, file_daemon):
    assert info(flags_daemon)["Labels"] == ["tier=test", "zone=a"]
    assert info(file_daemon)["Labels"] == ["from=file"]
    out = docker(flags_daemon, "info").stdout
    assert " Labels:\n  tier=test\n  zone=a\n" in out


def test_live_restore_in_info(flags_daemon, file_daemon):
    assert info(flags_daemon)["LiveRestoreEnabled"] is True   # dockerd-py's default (see README)
    assert "Live Restore Enabled: true" in docker(flags_daemon, "info").stdout


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_shutdown_stops_containers_without_live_restore():
    """As dockerd: SIGTERM stops every container (stop signal, then SIGKILL after its own stop
    timeout, all at once); restart policies bring `always` ones back with the daemon only."""
    with private_daemon("cds", args=("--live-restore=false", "--shutdown-timeout", "1")) as d:
        assert info(d)["LiveRestoreEnabled"] is False
        stubborn, polite, always = uid("s"), uid("p"), uid("a")
        docker(d, "run", "-d", "--name", stubborn, "--stop-timeout", "2", "busybox", "sleep", "300")  # ignores TERM
        docker(d, "run", "-d", "--name", polite, "--stop-timeout", "2", "busybox", "sh", "-c",
               "trap 'exit 3' TERM; while true; do sleep 0.1; done")
        docker(d, "run", "-d", "--name", always, "--stop-timeout", "2", "--restart", "always", "busybox",
               "sleep", "300")
        pids = [inspect(d, n)["State"]["Pid"] for n in (stubborn, polite, always)]
        started = time.monotonic()
        d.stop()
        took = time.monotonic() - started
        assert d.proc.returncode == 0
        assert 2 <= took < 7, took   # the stubborn one's 2 s, in parallel with the others
        assert not any(_alive(p) for p in pids)
        d.start()
        states = {n: inspect(d, n)["State"] for n in (stubborn, polite, always)}
        assert (states[stubborn]["Status"], states[stubborn]["ExitCode"]) == ("exited", 137)
        assert (states[polite]["Status"], states[polite]["ExitCode"]) == ("exited", 3)
        assert states[always]["Running"] is True and states[always]["Pid"] not in pids

        # a reload (SIGHUP: gunicorn replaces its worker) is no shutdown: the containers run on
        pid = states[always]["Pid"]
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert _alive(pid) and inspect(d, always)["State"]["Pid"] == pid


def test_seccomp_profile_is_read_at_start_only():
    """As dockerd: the --seccomp-profile file is read once, at start-up. Containers keep it when the
    file is gone, `dockerd-py --cleanup` does not need it; a new start does."""
    tmp = tempfile.mkdtemp(prefix="seccomp")
    path = os.path.join(tmp, "profile.json")
    with open(path, "w") as f:
        json.dump(MKDIR_DENIED, f)
    try:
        with private_daemon("cdc", args=("--seccomp-profile", path)) as d:
            name = uid()
            docker(d, "run", "-d", "--name", name, "busybox", "sleep", "300")
            pid = inspect(d, name)["State"]["Pid"]
            os.unlink(path)
            got = run(d, "busybox", "sh", "-c", f"{PROC_STATUS}; mkdir /tmp/x", check=False)
            assert got.returncode == 1 and "Seccomp:\t2" in got.stdout
            d.stop()   # live restore: the container runs on
            assert _alive(pid)
            cleaned = subprocess.run([sys.executable, "-m", "dockerd_py.cli", "--cleanup", *d.args],
                                     capture_output=True, text=True, timeout=120)
            assert cleaned.returncode == 0, cleaned.stderr
            assert not _alive(pid)
            with pytest.raises(RuntimeError, match=r"opening seccomp profile \(.*\) failed: .*no such file"):
                d.start()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _start(*args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """dockerd-py with these flags and this daemon.json, expected to stop before it serves."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "daemon.json")
        with open(path, "w") as f:
            json.dump(config or {}, f)
        return subprocess.run([sys.executable, "-m", "dockerd_py.cli", "--config-file", path,
                               "--pidfile", f"{tmp}/p", "--data-root", f"{tmp}/d", "--exec-root", f"{tmp}/x", *args],
                              capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, config, error", [
    (("--default-ulimit", "nofile"), None,
     'invalid argument "nofile" for "--default-ulimit" flag: invalid ulimit argument: nofile'),
    (("--default-ulimit", "nofile=abc"), None,
     'invalid argument "nofile=abc" for "--default-ulimit" flag: strconv.ParseInt: parsing "abc": invalid syntax'),
    (("--default-ulimit", "foo=1:2"), None, 'for "--default-ulimit" flag: invalid ulimit type: foo'),
    (("--default-ulimit", "nofile=20:10"), None,
     'invalid argument "nofile=20:10" for "--default-ulimit" flag: '
     "ulimit soft limit must be less than or equal to hard limit: 20 > 10"),
    (("--default-shm-size", "abc"), None, 'invalid argument "abc" for "--default-shm-size" flag: invalid size: \'abc\''),
    (("--default-shm-size", "-1"), None, 'invalid argument "-1" for "--default-shm-size" flag: invalid size: \'-1\''),
    (("--default-ipc-mode", "host"), None,
     'merged configuration validation from file and command line flags failed: IPC mode "host" is not supported '
     'as default value; use "shareable" or "private"'),
    (("--default-ipc-mode", "bogus"), None,
     'default IPC mode setting (bogus) is invalid; use "shareable" or "private"'),
    (("--default-cgroupns-mode", "bogus"), None,
     'default cgroup namespace mode (bogus) is invalid; use "host" or "private"'),
    (("--label", "foo"), None, 'invalid argument "foo" for "--label" flag: bad attribute format: foo'),
    (("--label", "a=b", "--label", "a=c"), None, "conflict labels for a=c and a=b"),
    (("--shutdown-timeout", "abc"), None,
     'invalid argument "abc" for "--shutdown-timeout" flag: strconv.ParseInt: parsing "abc": invalid syntax'),
    (("--seccomp-profile", "/nonexistent.json"), None,
     "failed to start daemon: opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: "
     "no such file or directory"),
    (("--live-restore=maybe",), None,
     'invalid argument "maybe" for "--live-restore" flag: strconv.ParseBool: parsing "maybe": invalid syntax'),
    ((), {"default-shm-size": "lots"}, "invalid size: 'lots'"),
    ((), {"shutdown-timeout": "10"},
     "json: cannot unmarshal string into Go struct field Config.shutdown-timeout of type int"),
    ((), {"labels": ["a=b", "nolabel"]}, "merged configuration validation from file and command line flags failed: "
                                         "bad attribute format: nolabel"),
    ((), {"default-ulimits": {"nofile": {"Name": "nofile", "Soft": "many", "Hard": 2}}}, "default-ulimits: nofile"),
    ((), {"default-ipc-mode": "none"}, 'IPC mode "none" is not supported as default value'),
    (("--no-new-privileges",), {"no-new-privileges": True},
     "specified both as a flag and in the configuration file: no-new-privileges"),
])
def test_bad_values_stop_the_start_with_dockerds_text(args, config, error):
    got = _start(*args, config=config)
    flag_error = '" flag: ' in error  # pflag's: dockerd exits 125 for a bad flag, 1 for a bad setting
    assert got.returncode == (125 if flag_error else 1) and error in got.stderr, got.stderr
    assert "Traceback" not in got.stderr
