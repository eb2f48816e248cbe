"""What the docker CLI prints for everyday mistakes, word for word as against Docker's
dockerd (measured side by side with dockerd 20.10; where API 1.47 changed a text, moby's
current one)."""

import json

import pytest

from .conftest import sleeper, uid
from .test_system import raw_request


def _fails(out, code: int, stderr: str) -> None:
    assert (out.returncode, out.stderr) == (code, stderr), out


def test_bad_names_at_create_and_rename(cli, container_cleanup):
    _fails(cli("create", "--name", "/", "busybox", check=False), 1,
           "Error response from daemon: Invalid container name (/), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n")
    a, b = sleeper(cli, container_cleanup), sleeper(cli, container_cleanup)
    _fails(cli("rename", a, "bad name", check=False), 1,
           "Error response from daemon: Error when allocating new name: Invalid container name (/bad name), "
           f"only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\nError: failed to rename container named {a}\n")
    taken = cli("rename", a, b, check=False)
    assert taken.returncode == 1
    assert taken.stderr.startswith(f'Error response from daemon: Error when allocating new name: Conflict. '
                                   f'The container name "/{b}" is already in use by container "')


def test_wait_condition_is_quoted_as_go_does(daemon, cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{n}/wait?condition=bogus")
    assert (status, json.loads(body)) == (400, {"message": 'invalid condition: "bogus"'})


@pytest.mark.parametrize("body, said", [
    ({"HostConfig": {"Memory": "x"}}, "string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": 1.5}}, "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"BlkioWeight": -1}},
     "number -1 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
    ({"HostConfig": {"NetworkMode": 5}},
     "number into Go struct field HostConfig.HostConfig.NetworkMode of type container.NetworkMode"),
    ({"HostConfig": {"Binds": [5]}}, "number into Go struct field HostConfig.HostConfig.Binds of type string"),
    ({"HostConfig": {"PortBindings": "x"}},
     "string into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap"),
    ({"HostConfig": {"RestartPolicy": "x"}},
     "string into Go struct field HostConfig.HostConfig.RestartPolicy of type container.RestartPolicy"),
    ({"HostConfig": {"Ulimits": "x"}},
     "string into Go struct field HostConfig.HostConfig.Ulimits of type []*units.Ulimit"),
    ({"HostConfig": {"Sysctls": {"a": 1}}}, "number into Go struct field HostConfig.HostConfig.Sysctls of type string"),
    ({"Labels": {"a": 5}}, "number into Go struct field ContainerConfigWrapper.Labels of type string"),
    ({"Volumes": ["x"]}, "array into Go struct field ContainerConfigWrapper.Volumes of type map[string]struct {}"),
])
def test_create_body_of_wrong_types_is_refused_as_gos_decoder(daemon, body, said):
    """Docker's decoder texts (its status is 500 there: here the 400 they are)."""
    status, _, out = raw_request(daemon, "POST", "/v1.47/containers/create", json.dumps({"Image": "busybox", **body}).encode(),
                                 {"Content-Type": "application/json"})
    assert (status, json.loads(out)) == (400, {"message": f"json: cannot unmarshal {said}"})


def test_yes_no_filters_read_as_dockers(cli, volumes):
    """images/volumes `dangling` and ps `is-task`: any true word wins; else refused, values as Go prints a list."""
    for args, said in [(("images", "--filter", "dangling=1"), "invalid filter 'dangling=[1]'"),
                       (("images", "--filter", "dangling=maybe", "--filter", "dangling=x"),
                        "invalid filter 'dangling=[maybe x]'"),
                       (("volume", "ls", "--filter", "dangling=maybe"), "invalid filter 'dangling=[maybe]'"),
                       (("ps", "--filter", "is-task=maybe"), "invalid filter 'is-task=[maybe]'")]:
        _fails(cli(*args, check=False), 1, f"Error response from daemon: {said}\n")
    assert cli("images", "--filter", "dangling=maybe", "--filter", "dangling=true").returncode == 0
    vol = uid("v")
    volumes.append(vol)
    cli("volume", "create", vol)
    assert vol in cli("volume", "ls", "-q", "--filter", "dangling=maybe", "--filter", "dangling=1").stdout.split()
    # prune: filters.GetBoolOrDefault, and the CLI adds its own dangling=true
    assert cli("image", "prune", "-f", "--filter", "dangling=maybe").returncode == 0
    _fails(cli("image", "prune", "-f", "--filter", "dangling=false", check=False), 1,
           "Error response from daemon: invalid filter 'dangling=false,true'\n")


def test_tag_named_like_a_digest_algorithm_is_refused(cli):
    ambiguous = "sha256:" + "0123456789" * 6 + "0123"
    _fails(cli("tag", "busybox", ambiguous, check=False), 1,
           "Error response from daemon: refusing to create an ambiguous tag using digest algorithm as name\n")
    assert "sha256" not in cli("images", "--format", "{{.Repository}}").stdout.split()


def test_mount_of_unknown_type(cli):
    for kind in ("bogus", "npipe"):
        _fails(cli("create", "--mount", f"type={kind},target=/x", "busybox", check=False), 1,
               f'Error response from daemon: invalid mount config for type "{kind}": mount type unknown\n')


def test_log_config_checked_at_create_and_at_start(cli, container_cleanup):
    for args, said in [(("--log-opt", "foo=bar"), "unknown log opt 'foo' for json-file log driver"),
                       (("--log-driver", "local", "--log-opt", "foo=bar"), "unknown log opt 'foo' for log driver local"),
                       (("--log-opt", "mode=bogus"), "logger: logging mode not supported: bogus"),
                       (("--log-opt", "max-buffer-size=4m"),
                        "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
                       (("--log-driver", "bogus"), 'error looking up logging plugin bogus: plugin "bogus" not found')]:
        _fails(cli("create", *args, "busybox", check=False), 1, f"Error response from daemon: {said}\n")
    for args, said in [(("--log-opt", "max-size=abc"), "invalid size: 'abc'"),
                       (("--log-opt", "max-file=0"), "max-file cannot be less than 1"),
                       (("--log-opt", "compress=true"),
                        "compress cannot be true when max-file is less than 2 or max-size is not set"),
                       (("--log-opt", "compress=maybe"), 'strconv.ParseBool: parsing "maybe": invalid syntax'),
                       (("--log-driver", "local", "--log-opt", "max-size=abc"),
                        "invalid value for max-size: abc: invalid size: 'abc'")]:
        n = uid()
        container_cleanup.append(n)
        _fails(cli("run", "--name", n, *args, "busybox", "true", check=False), 125,
               f"docker: Error response from daemon: failed to initialize logging driver: {said}\n\n"
               "Run 'docker run --help' for more information\n")
    n = uid()
    container_cleanup.append(n)
    assert cli("run", "--name", n, "--log-driver", "none", "busybox", "echo", "hi").stdout == "hi\n"
    _fails(cli("logs", n, check=False), 1,
           'Error response from daemon: configured logging driver does not support reading\n')


def test_commit_changes_refused_in_the_builders_words(cli, container_cleanup):
    c = sleeper(cli, container_cleanup)
    for change, said in [("ENV", "ENV requires at least one argument"), ("LABEL", "LABEL requires at least one argument"),
                         ("ENV a", "ENV must have two arguments"),
                         ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
                         ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
                         ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD")]:
        _fails(cli("commit", "--change", change, c, check=False), 1, f"Error response from daemon: {said}\n")


def test_top_says_the_first_line_of_ps_complaint(cli, container_cleanup):
    c = sleeper(cli, container_cleanup)
    _fails(cli("top", c, "-o", "bogus", check=False), 1,
           'Error response from daemon: ps: error: unknown user-defined format specifier "bogus"\n')


def test_logs_tail_that_is_no_number_means_all(cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    cli("run", "--name", n, "busybox", "sh", "-c", "echo one; echo two")
    assert cli("logs", "--tail", "abc", n).stdout == "one\ntwo\n"
    assert cli("logs", "--tail", "1", n).stdout == "two\n"


def test_events_window_and_filters(cli):
    _fails(cli("events", "--since", "2", "--until", "1", check=False), 1,
           "Error response from daemon: `since` time (2) cannot be after `until` time (1)\n")
    past = cli("events", "--filter", "bogus=1", "--since", "0", "--until", "1")  # a name it does not know: ignored
    assert (past.returncode, past.stdout) == (0, "")


def test_empty_container_reference_and_volume_body_types(daemon):
    status, _, body = raw_request(daemon, "POST", "/v1.47/commit")
    assert (status, json.loads(body)) == (400, {"message": 'invalid name or ID supplied: ""'})
    for sent, said in [({"Name": 5}, "number into Go struct field CreateOptions.Name of type string"),
                       ({"Labels": "x"}, "string into Go struct field CreateOptions.Labels of type map[string]string"),
                       ({"Labels": {"a": 1}}, "number into Go struct field CreateOptions.Labels of type string")]:
        status, _, body = raw_request(daemon, "POST", "/v1.47/volumes/create", json.dumps(sent).encode(),
                                      {"Content-Type": "application/json"})
        assert (status, json.loads(body)) == (400, {"message": f"invalid JSON: json: cannot unmarshal {said}"})


def test_save_of_what_is_not_there(cli):
    for name, said in [("nosuch", "No such image: nosuch"), ("abcdef", "No such image: abcdef"),
                       ("nosuch:1", "reference does not exist"),
                       ("busybox@sha256:" + "0123456789" * 6 + "0123", "reference does not exist")]:
        _fails(cli("save", name, check=False), 1, f"Error response from daemon: {said}\n")


def test_empty_entrypoint_means_none(cli, container_cleanup):
    _fails(cli("run", "--rm", "--entrypoint", "", "busybox", check=False), 125,
           "docker: Error response from daemon: No command specified\n\nRun 'docker run --help' for more information\n")
    n = uid()
    container_cleanup.append(n)
    assert cli("run", "--name", n, "--entrypoint", "", "busybox", "echo", "hi").stdout == "hi\n"
    shown = cli("inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", n).stdout
    assert shown == 'null ["echo","hi"]\n'


def test_prune_takes_one_until(cli):
    for what in ("container", "image", "network", "system"):
        _fails(cli(what, "prune", "-f", "--filter", "until=1h", "--filter", "until=2h", check=False), 1,
               "Error response from daemon: more than one until filter specified\n")


def test_images_reference_filter_lists_the_matching_tags_only(cli):
    tags = [f"{uid('r')}/app:v1", f"reg.local:5000/{uid('t')}/app:v2"]
    for tag in tags:
        cli("tag", "busybox", tag)
    try:
        listed = lambda *pats: cli("images", *[a for p in pats for a in ("--filter", f"reference={p}")],  # noqa: E731
                                   "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert listed(tags[0].split("/")[0] + "/*") == [tags[0]]
        assert tags[0] not in listed("*") and "busybox:latest" in listed("*")  # * stops at a slash
        assert listed("reg.local:5000/*/*") == [tags[1]]
        assert listed("[^a]usybox") == ["busybox:latest"] and listed("[!a]usybox") == []  # Go's classes
        assert listed("*app*") == []
        _fails(cli("images", "--filter", "reference=[[", check=False), 1,
               "Error response from daemon: syntax error in pattern\n")
    finally:
        cli("rmi", *tags)


def test_kill_signals_and_refusals_as_dockers(cli, container_cleanup):
    up = sleeper(cli, container_cleanup)
    down = uid()
    container_cleanup.append(down)
    cli("create", "--name", down, "busybox", "true")
    full = cli("inspect", "-f", "{{.Id}}", down).stdout.strip()
    assert cli("kill", "-s", "SIGRTMIN+3", up).returncode == 0  # moby's real-time names
    for sig, said in [("65", "the linux daemon does not support signal 65"),
                      ("32", "the linux daemon does not support signal 32"), ("BOGUS", "Invalid signal: BOGUS")]:
        _fails(cli("kill", "-s", sig, up, check=False), 1,
               f"Error response from daemon: cannot kill container: {up}: {said}\n")
    _fails(cli("kill", down, check=False), 1,
           f"Error response from daemon: cannot kill container: {down}: container {full} is not running\n")


def test_update_takes_a_swap_limit_alone(cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    assert cli("update", "--memory-swap", "300m", n).stdout == f"{n}\n"  # verifyPlatformContainerResources(update)
    assert cli("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", n).stdout == "0 314572800\n"


def test_cp_of_what_is_no_tar(cli, container_cleanup, tmp_path):
    import io
    import tarfile

    c = sleeper(cli, container_cleanup)
    _fails(cli("cp", "-", f"{c}:/tmp", input=b"notatar", check=False), 1,
           "Error response from daemon: unexpected EOF\n")
    _fails(cli("cp", "-", f"{c}:/tmp", input=bytes(range(256)) * 4, check=False), 1,
           "Error response from daemon: archive/tar: invalid tar header\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("cut.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    whole = buf.getvalue()
    _fails(cli("cp", "-", f"{c}:/tmp", input=whole[:514], check=False), 1,  # its data cut short
           "Error response from daemon: unexpected EOF\n")
    assert cli("cp", "-", f"{c}:/tmp", input=whole[:600]).returncode == 0  # only its padding cut: Go's reader ends there
    assert cli("exec", c, "cat", "/tmp/cut.txt").stdout == "hi\n"


def test_resize_without_a_tty_and_bad_detach_keys(daemon, cli, container_cleanup):
    c = sleeper(cli, container_cleanup)
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{c}/resize?h=10&w=20")
    assert (status, body) == (200, b"")  # nothing to size: fine, as Docker's
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{c}/attach?stream=1&stdout=1&detachKeys=bogus")
    assert (status, json.loads(body)) == (400, {"message": "Invalid detach keys (bogus) provided"})


def test_exec_commit_and_ports_bodies_of_wrong_types(daemon, cli, container_cleanup):
    c = sleeper(cli, container_cleanup)

    def post(path: str, body) -> tuple[int, dict]:
        status, _, out = raw_request(daemon, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return status, json.loads(out)

    unmarshal = "invalid JSON: json: cannot unmarshal "
    assert post(f"/v1.47/containers/{c}/exec", {"Cmd": "true"}) == \
        (400, {"message": unmarshal + "string into Go struct field ExecOptions.Cmd of type []string"})
    assert post(f"/v1.47/containers/{c}/exec", {"Cmd": ["true"], "Tty": "yes"}) == \
        (400, {"message": unmarshal + "string into Go struct field ExecOptions.Tty of type bool"})
    assert post(f"/v1.47/containers/{c}/exec", {"Cmd": [1]}) == \
        (400, {"message": unmarshal + "number into Go struct field ExecOptions.Cmd of type string"})
    assert post(f"/v1.47/commit?container={c}", []) == (400, {"message": "invalid JSON: expected an object"})
    for bindings, said in [("x", "string into Go struct field HostConfig.HostConfig.PortBindings of type []nat.PortBinding"),
                           (["x"], "string into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortBinding"),
                           ([{"HostPort": 80}],
                            "number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string")]:
        assert post("/v1.47/containers/create", {"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": bindings}}}) \
            == (400, {"message": f"json: cannot unmarshal {said}"})


@pytest.mark.parametrize("body, said", [
    ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": 5, "Target": "/x"}]}},
     "number into Go struct field Mount.HostConfig.Mounts.Source of type string"),
    ({"HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"SizeBytes": "x"}}]}},
     "string into Go struct field TmpfsOptions.HostConfig.Mounts.TmpfsOptions.SizeBytes of type int64"),
    ({"HostConfig": {"LogConfig": {"Type": "json-file", "Config": "x"}}},
     "string into Go struct field LogConfig.HostConfig.LogConfig.Config of type map[string]string"),
    ({"HostConfig": {"RestartPolicy": {"MaximumRetryCount": "x"}}},
     "string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int"),
    ({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "x"}]}},
     "string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64"),
    ({"NetworkingConfig": {"EndpointsConfig": {"bridge": "x"}}},
     "string into Go struct field NetworkingConfig.NetworkingConfig.EndpointsConfig of type network.EndpointSettings"),
    ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": "x"}}}},
     "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string"),
    ({"ExposedPorts": {"80/tcp": "x"}}, "string into Go struct field ContainerConfigWrapper.ExposedPorts of type struct {}"),
])
def test_nested_create_fields_of_wrong_types(daemon, body, said):
    status, _, out = raw_request(daemon, "POST", "/v1.47/containers/create",
                                 json.dumps({"Image": "busybox", **body}).encode(), {"Content-Type": "application/json"})
    assert (status, json.loads(out)) == (400, {"message": f"json: cannot unmarshal {said}"})


def test_update_restart_policy_of_wrong_type(daemon, cli, container_cleanup):
    c = sleeper(cli, container_cleanup)
    status, _, out = raw_request(daemon, "POST", f"/v1.47/containers/{c}/update",
                                 json.dumps({"RestartPolicy": {"Name": 5}}).encode(), {"Content-Type": "application/json"})
    assert (status, json.loads(out)) == (400, {"message": "invalid JSON: json: cannot unmarshal number into Go struct "
                                                          "field RestartPolicy.RestartPolicy.Name of type "
                                                          "container.RestartPolicyMode"})


def test_stop_with_a_huge_timeout_waits(daemon, cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    cli("run", "-d", "--name", n, "busybox", "sleep", "2")  # PID 1 without a handler: SIGTERM does nothing
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{n}/stop?t=99999999999999")
    assert (status, body) == (204, b"")  # it ended on its own, nothing overflowed


def test_mount_of_a_file_onto_a_directory_gets_dockers_hint(cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    ran = cli("run", "--name", n, "-v", "/etc/passwd:/etc:ro", "busybox", "true", check=False)
    assert ran.returncode == 125, ran
    assert ran.stderr.split("\n")[0].endswith(": not a directory: unknown: Are you trying to mount a directory onto a file "
                                              "(or vice-versa)? Check if the specified host path exists and is the "
                                              "expected type")
    assert cli("inspect", "-f", "{{.State.ExitCode}}", n).stdout == "127\n"


def test_paused_containers_die_of_sigkill(cli, container_cleanup):
    """As runc: SIGKILL to a paused container thaws it (cgroup v1 holds a frozen task's death)."""
    killed, removed = sleeper(cli, container_cleanup), sleeper(cli, container_cleanup)
    cli("pause", killed, removed)
    assert cli("kill", killed, timeout=20).stdout == f"{killed}\n"
    assert cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", killed).stdout == "exited 137\n"
    assert cli("rm", "-f", removed, timeout=20).stdout == f"{removed}\n"
