"""Leftover differences from Docker's dockerd, each as the user sees it through the CLI."""

import docker
import pytest

from .conftest import uid


def test_working_dir_that_is_a_file_is_refused_at_create(cli):
    n = uid()
    out = cli("run", "--name", n, "-w", "/etc/passwd", "busybox", "true", check=False)
    assert out.returncode == 125
    # moby's SetupWorkingDirectory at create: a plain error, so a 500, and no container left
    assert out.stderr.startswith("docker: Error response from daemon: Cannot mkdir: /etc/passwd is not a directory")
    assert n not in cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_working_dir_that_is_missing_or_a_directory_still_runs(cli):
    assert cli("run", "--rm", "-w", "/etc", "busybox", "pwd").stdout == "/etc\n"
    assert cli("run", "--rm", "-w", "/new/dir", "busybox", "pwd").stdout == "/new/dir\n"


def test_working_dir_that_is_a_file_is_a_500(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", working_dir="/etc/passwd")
    assert e.value.status_code == 500
    assert e.value.explanation == "Cannot mkdir: /etc/passwd is not a directory"


MISMATCH = ("image with reference busybox was found but does not match the specified platform: "
            "wanted linux/arm64, actual: linux/amd64")


def test_create_for_another_platform_is_not_found(cli, client):
    n = uid()
    out = cli("create", "--pull", "never", "--name", n, "--platform", "linux/arm64", "busybox", check=False)
    assert out.returncode == 1
    assert out.stderr == f"Error response from daemon: {MISMATCH}\n"
    with pytest.raises(docker.errors.NotFound) as e:  # a 404: the CLI's cue to pull the platform asked for
        client.api.create_container("busybox", "true", platform="linux/arm64")
    assert e.value.status_code == 404 and e.value.explanation == MISMATCH
    assert n not in cli("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_run_for_another_platform_is_not_found(cli):
    out = cli("run", "--rm", "--pull", "never", "--platform", "linux/arm64", "busybox", "true", check=False)
    assert out.returncode == 125
    assert out.stderr.startswith(f"docker: Error response from daemon: {MISMATCH}\n")


def test_run_for_the_images_platform_works(cli):
    assert cli("run", "--rm", "--platform", "linux/amd64", "busybox", "echo", "ok").stdout == "ok\n"


NO_DEVICE = 'error gathering device information while adding custom device "/dev/nosuch": no such file or directory'


def test_spec_error_at_start_is_the_daemons(cli, client, container_cleanup):
    out = cli("run", "--rm", "--device", "/dev/nosuch", "busybox", "true", check=False)
    assert out.returncode == 127  # the CLI's reading of "no such file or directory"
    assert out.stderr.startswith(f"docker: Error response from daemon: {NO_DEVICE}\n")
    c = client.containers.create("busybox", "true", devices=["/dev/nosuch:/dev/nosuch:rwm"])  # create takes it
    container_cleanup.append(c.id)
    with pytest.raises(docker.errors.APIError) as e:
        c.start()
    assert e.value.status_code == 500 and e.value.explanation == NO_DEVICE  # moby's createSpec: errdefs.System
    c.reload()
    assert (c.attrs["State"]["Status"], c.attrs["State"]["ExitCode"], c.attrs["State"]["Error"]) == \
        ("created", 128, NO_DEVICE)


def test_bad_capability_stays_a_400_at_create(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", cap_add=["NOPE"])
    assert e.value.status_code == 400 and e.value.explanation == 'invalid CapAdd: unknown capability: "CAP_NOPE"'


def test_working_dir_below_a_file_is_refused_at_create(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", working_dir="/etc/passwd/a/b")
    assert e.value.status_code == 500
    # Go's lstat error names the container's rootfs on the host, up to the part below the file
    assert e.value.explanation.startswith("lstat /") and \
        e.value.explanation.endswith("/etc/passwd/a: not a directory")
