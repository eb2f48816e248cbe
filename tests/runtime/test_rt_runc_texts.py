"""What runc 1.1 refuses and how it says it: sysctls outside a namespace of the
container, an unknown rootfsPropagation, an apparmor profile the kernel cannot
apply, and the wrapping of init's errors ("unable to start container process:
error during container init: ..."); hooks start in the bundle directory and read
the runtime-spec State; a failing poststop hook is logged as an error. Ours and
runc in the same test, same output (the log's timestamps aside)."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from conftest import reap, run_in


def _msg(stderr: str) -> str:
    return re.sub(r'time="[^"]*" ', "", stderr).strip()


def _create_both(pair, bundle) -> list[tuple[int, str]]:
    out = []
    for rt in pair:
        cid = rt.new_id()
        bundle.write(cid)
        res = rt.cmd("create", "--bundle", bundle.path, cid)
        reap()
        out.append((res.returncode, _msg(res.stderr).replace(cid, "CID")))
    return out


def _host_value(key: str) -> str:
    """The host's own value: a refused sysctl that a regression would write changes nothing."""
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


@pytest.mark.parametrize("sysctl, namespaces, text", [
    ({"vm.swappiness": "HOST"}, None, 'sysctl "vm.swappiness" is not in a separate kernel namespace'),
    ({"kernel.shmmax": "HOST"}, ["ipc"], 'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
    ({"net.ipv4.ip_forward": "HOST"}, ["network"],
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ({"net.ipv4.ip_forward": "HOST"}, "host-netns",
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ({"kernel.hostname": "x"}, None,
     'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'),
    ({"kernel.domainname": "x", "kernel.shmmax": "8192", "fs.mqueue.msg_max": "20",
      "net.ipv4.ip_forward": "1"}, None, None),
])
def test_sysctl_validation(pair, bundle, sysctl, namespaces, text):
    bundle.spec["linux"]["sysctl"] = {k: _host_value(k) if v == "HOST" else v for k, v in sysctl.items()}
    spaces = bundle.spec["linux"]["namespaces"]
    if namespaces == "host-netns":
        for ns in spaces:
            if ns["type"] == "network":
                ns["path"] = "/proc/self/ns/net"  # the runtime's own: the host's
    elif namespaces:
        bundle.spec["linux"]["namespaces"] = [ns for ns in spaces if ns["type"] not in namespaces]
    bundle.args("true")
    results = _create_both(pair, bundle)
    assert results[0] == results[1]
    if text:
        assert results[0] == (1, "level=error msg=" + json.dumps(f"runc create failed: {text}"))
    else:
        assert results[0] == (0, "")


@pytest.mark.parametrize("linux, text", [
    ({"rootfsPropagation": "bogus"}, "rootfsPropagation=bogus is not supported"),
    ({"devices": [{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}]}, 'invalid device type \\"z\\"'),
])
def test_config_refused(pair, bundle, linux, text):
    bundle.spec["linux"].update(linux)
    results = _create_both(pair, bundle.args("true"))
    assert results[0] == results[1] == (1, f'level=error msg="runc create failed: {text}"')


def test_apparmor_profile_without_apparmor(pair, bundle):
    if os.path.exists("/sys/kernel/security/apparmor"):
        pytest.skip("apparmor is enabled on this host: the profile would be looked up")
    bundle.spec["process"]["apparmorProfile"] = "some-profile"
    results = _create_both(pair, bundle.args("true"))
    assert results[0] == results[1]
    assert results[0][0] == 1
    assert "unable to start container process: error during container init: unable to apply apparmor profile: " \
           "apparmor failed to apply profile: write /proc/self/attr/" in results[0][1]


@pytest.mark.parametrize("mod, text", [
    (lambda s: s["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"}),
     'unable to start container process: error during container init: error mounting \\"none\\" to rootfs at '
     '\\"/x\\": mount none:'),
    (lambda s: s["hooks"].update(prestart=[{"path": "/bin/false", "args": ["false"]}]),
     "unable to start container process: error during container init: error running hook #0: error running hook: "
     "exit status 1, stdout: , stderr: "),
    (lambda s: s["mounts"].append({"destination": "/b", "type": "bind", "source": "/nonexistent", "options": ["bind"]}),
     'unable to start container process: error during container init: error mounting \\"/nonexistent\\" to rootfs '
     'at \\"/b\\": stat /nonexistent: no such file or directory"'),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 10}]),
     "unable to start container process: error during container init: error setting rlimits for ready process: "
     "error setting rlimit type 7: invalid argument"),
    (lambda s: s["linux"].update(sysctl={"net.ipv4.ip_forward": "abc"}),
     "unable to start container process: error during container init: write /proc/sys/net/ipv4/ip_forward: "
     "invalid argument"),
    (lambda s: s["process"].update(cwd="/bin/busybox"),
     "unable to start container process: error during container init: mkdir /bin/busybox: not a directory"),
    (lambda s: s["process"]["capabilities"].update(bounding=["CAP_KILL"], inheritable=["CAP_CHOWN"]),
     "unable to start container process: unable to apply caps: operation not permitted"),
    (lambda s: s["process"].update(args=["nosuchcommand"]),
     'unable to start container process: exec: \\"nosuchcommand\\": executable file not found in $PATH'),
    (lambda s: s["process"].update(args=["true"], env=["TERM=xterm"]),   # no PATH: nothing is searched
     'unable to start container process: exec: \\"true\\": executable file not found in $PATH'),
    (lambda s: s["process"].update(args=["true"], env=["PATH="]),
     'unable to start container process: exec: \\"true\\": executable file not found in $PATH'),
])
def test_init_error_wrapping(pair, bundle, mod, text):
    bundle.spec.setdefault("hooks", {})
    mod(bundle.spec)
    results = _create_both(pair, bundle)
    for code, msg in results:
        assert code == 1 and msg.startswith(f'level=error msg="runc create failed: {text}'), msg


def test_hooks_cwd_and_stdin_state(pair, bundle, tmp_path):
    """Hooks start in the bundle directory (runc chdirs there) and read the
    runtime-spec State: ociVersion, id, status, pid (not once stopped), bundle, annotations."""
    bundle.spec["annotations"] = {"a": "b"}
    outputs = []
    for rt in pair:
        out = tmp_path / f"hooks-{rt.name}"
        script = tmp_path / "hook.sh"
        script.write_text(f'#!/bin/sh\necho "$1 $(pwd) $(cat)" >> {out}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        bundle.spec["hooks"] = {k: [{"path": str(script), "args": ["hook.sh", k]}] for k in ("prestart", "poststop")}
        cid = rt.new_id()
        bundle.args("true").write(cid)
        res = rt.cmd("run", "--bundle", bundle.path, cid)
        reap()
        assert res.returncode == 0, res.stderr
        lines = []
        for line in out.read_text().splitlines():
            kind, cwd, state = line.split(" ", 2)
            state = json.loads(state)
            lines.append((kind, cwd, sorted(state), state["status"], state["id"] == cid, state["bundle"]))
        outputs.append(lines)
    assert outputs[0] == outputs[1]
    assert outputs[0] == [
        ("prestart", bundle.path, ["annotations", "bundle", "id", "ociVersion", "pid", "status"], "creating", True,
         bundle.path),
        ("poststop", bundle.path, ["annotations", "bundle", "id", "ociVersion", "status"], "stopped", True,
         bundle.path),
    ]


def test_failing_poststop_hook_logged_as_error(pair, bundle):
    results = []
    for rt in pair:
        bundle.spec["hooks"] = {"poststop": [{"path": "/bin/false", "args": ["false"]}]}
        cid = rt.new_id()
        bundle.args("true").write(cid)
        rt.ok("create", "--bundle", bundle.path, cid)
        rt.ok("start", cid)
        rt.wait_status(cid, "stopped")
        res = rt.cmd("delete", cid)
        results.append((res.returncode, _msg(res.stderr)))
    assert results[0] == results[1] == (
        0, 'level=error msg="error running hook #0: error running hook: exit status 1, stdout: , stderr: "')


def test_kill_bad_signal_texts(pair, bundle):
    outputs = []
    for rt in pair:
        cid = rt.new_id()
        bundle.args("sleep", "100").write(cid)
        rt.ok("create", "--bundle", bundle.path, cid)
        results = [rt.cmd("kill", cid, sig) for sig in ("BOGUS", "99")]
        outputs.append([(res.returncode, _msg(res.stderr)) for res in results])
        assert rt.state(cid)["status"] == "created"
    assert outputs[0] == outputs[1] == [(1, 'level=error msg="unknown signal \\"BOGUS\\""'),
                                        (1, 'level=error msg="unable to signal init: invalid argument"')]


def test_relative_mount_destination_and_hook_path(pair, bundle):
    """runc 1.1 takes both: the mount goes below the root (with a warning), the
    hook's path starts from the bundle directory."""
    script = os.path.join(bundle.path, "relhook")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\necho ran >> {bundle.path}/hook-ran\n")
    os.chmod(script, 0o755)
    bundle.spec["mounts"].append({"destination": "relx", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["hooks"] = {"prestart": [{"path": "relhook"}]}
    outputs = []
    for rt in pair:
        res = run_in(rt, bundle, "grep -c ' /relx ' /proc/self/mountinfo")
        outputs.append((res.returncode, res.stdout, _msg(res.stderr)))
    warning = ('level=warning msg="mount destination relx is not absolute. Support for non-absolute mount '
               'destinations will be removed in a future release."')
    for code, out, err in outputs:  # (runc logs a second warning, the Go dump of its mount struct)
        assert (code, out, err.splitlines()[0]) == (0, "1\n", warning), err
    with open(os.path.join(bundle.path, "hook-ran")) as f:
        assert f.read() == "ran\nran\n"
