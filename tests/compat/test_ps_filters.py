"""`docker ps --filter` as Docker's dockerd answers it (measured against dockerd 20.10,
texts of moby's daemon/list.go): every filter it accepts, its refusals even with no
container to look at, and which filters show stopped containers without -a."""

import pytest

from .conftest import sleeper, uid


def _names(cli, *args: str) -> set[str]:
    return set(cli("ps", *args, "--format", "{{.Names}}").stdout.split())


def test_accepted_filters_select_as_docker(cli, volumes, container_cleanup):
    vol = uid("v")
    volumes.append(vol)
    with_vol = sleeper(cli, container_cleanup, "-v", f"{vol}:/data", "-p", "127.0.0.1::8080", "--expose", "9000")
    plain = sleeper(cli, container_cleanup)
    stopped = uid()
    container_cleanup.append(stopped)
    cli("run", "--name", stopped, "busybox", "sh", "-c", "exit 3", check=False)

    assert with_vol in _names(cli, "--filter", f"volume={vol}")
    assert with_vol in _names(cli, "--filter", "volume=/data")
    assert plain not in _names(cli, "--filter", f"volume={vol}")
    assert with_vol in _names(cli, "--filter", "expose=8080")
    assert with_vol in _names(cli, "--filter", "expose=8000-8100/tcp")
    assert with_vol not in _names(cli, "--filter", "expose=8080/udp")
    port = cli("port", with_vol, "8080").stdout.strip().rsplit(":", 1)[1]
    assert with_vol in _names(cli, "--filter", f"publish={port}")
    assert with_vol not in _names(cli, "--filter", "publish=8080")
    assert {with_vol, plain} <= _names(cli, "--filter", "isolation=default")  # Linux: matches every container
    assert {with_vol, plain} <= _names(cli, "--filter", "isolation=whatever")
    assert {with_vol, plain} <= _names(cli, "--filter", "is-task=false")
    assert _names(cli, "-a", "--filter", "is-task=true") == set()
    # exited and since do not imply -a: only `status` does
    assert stopped not in _names(cli, "--filter", "exited=3")
    assert stopped in _names(cli, "-a", "--filter", "exited=3")
    assert stopped not in _names(cli, "--filter", f"since={with_vol}")
    assert stopped in _names(cli, "-a", "--filter", f"since={with_vol}")


@pytest.mark.parametrize("flt, said", [
    ("exited=abc", 'strconv.Atoi: parsing "abc": invalid syntax'),
    ("is-task=maybe", "invalid filter 'is-task=[maybe]'"),
    ("publish=abc", 'error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax'),
    ("publish=99999", 'error while looking up for publish 99999: strconv.ParseUint: parsing "99999": value out of range'),
    ("expose=abc/xyz", 'error while looking up for expose abc/xyz: strconv.ParseUint: parsing "abc": invalid syntax'),
    ("publish=1:2", "filter for 'publish' should not contain ':': 1:2"),
])
def test_bad_values_are_refused_with_dockers_text(cli, flt, said):
    out = cli("ps", "--filter", flt, check=False)  # refused before any container is looked at
    assert (out.returncode, out.stdout, out.stderr) == (1, "", f"Error response from daemon: {said}\n")
