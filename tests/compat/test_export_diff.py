"""`docker export` and `docker diff` through the real docker CLI and docker-py."""

import io
import subprocess
import tarfile
import uuid

from .conftest import DOCKER


def _name() -> str:
    return "ed" + uuid.uuid4().hex[:10]


def test_export_of_a_stopped_container_has_its_files(daemon, cli, client, container_cleanup):
    name = _name()
    cli("run", "--name", name, "busybox", "sh", "-c", "mkdir -p /made/deep && echo written > /made/deep/file")
    container_cleanup.append(name)
    proc = subprocess.run([DOCKER, "export", name], capture_output=True, env=daemon.env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as t:
        names = t.getnames()
        assert t.extractfile("made/deep/file").read() == b"written\n"
    assert "made" in names and "bin/busybox" in names and ".dockerenv" in names
    assert not any(n in ("", ".", "/", "./") or n.startswith(("/", "./")) for n in names)
    via_py = b"".join(client.containers.get(name).export())
    with tarfile.open(fileobj=io.BytesIO(via_py)) as t:
        assert t.extractfile("made/deep/file").read() == b"written\n"


def test_diff_shows_added_changed_and_deleted(cli, client, container_cleanup):
    name = _name()
    cli("run", "--name", name, "busybox", "sh", "-c",
        "mkdir -p /x/y && touch /x/y/z && rm /bin/ls && echo more >> /etc/passwd && chmod 700 /root")
    container_cleanup.append(name)
    lines = cli("diff", name).stdout.splitlines()
    assert lines == ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /root", "A /x", "A /x/y", "A /x/y/z"]
    changes = client.containers.get(name).diff()
    assert {"Path": "/bin/ls", "Kind": 2} in changes and {"Path": "/x/y/z", "Kind": 1} in changes
    assert {"Path": "/etc/passwd", "Kind": 0} in changes


def test_diff_of_a_replaced_directory_lists_what_it_hid(cli, container_cleanup):
    name = _name()
    cli("run", "--name", name, "busybox", "sh", "-c", "rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/new")
    container_cleanup.append(name)
    lines = cli("diff", name).stdout.splitlines()
    assert lines[:3] == ["C /usr", "C /usr/sbin", "D /usr/sbin/arping"]
    assert "D /usr/sbin/chroot" in lines and lines[-1] == "A /usr/sbin/new"


def test_diff_of_an_unchanged_container_is_empty(cli, client, container_cleanup):
    name = _name()
    cli("create", "--name", name, "busybox", "true")
    container_cleanup.append(name)
    assert cli("diff", name).stdout == ""
    assert client.containers.get(name).diff() is None
    missing = cli("diff", "no-such-" + name, check=False)
    assert missing.returncode != 0 and "No such container" in missing.stderr
