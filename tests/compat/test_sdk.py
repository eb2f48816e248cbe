"""The same foundation through docker-py, as SDK users drive it."""

import uuid

import docker as sdk
import pytest


def test_run_detach_logs_wait_remove(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 5"], detach=True,
                              name="sdk" + uuid.uuid4().hex[:8])
    try:
        assert c.wait(timeout=30)["StatusCode"] == 5
        assert c.logs(stdout=True, stderr=False) == b"out\n"
        assert c.logs(stdout=False, stderr=True) == b"err\n"
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 5
    finally:
        c.remove(force=True)
    with pytest.raises(sdk.errors.NotFound):
        client.containers.get(c.id)


def test_run_returns_output_and_raises_on_failure(client):
    assert client.containers.run("busybox", ["echo", "sdk"], remove=True) == b"sdk\n"
    with pytest.raises(sdk.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo boom >&2; exit 9"], remove=True)
    assert e.value.exit_status == 9


def test_list_and_get_by_prefix(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, labels={"suite": "sdk"})
    try:
        assert c.id in [x.id for x in client.containers.list(filters={"label": "suite=sdk"})]
        assert client.containers.get(c.id[:8]).id == c.id
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)


def test_images_list_and_get(client):
    busybox = client.images.get("busybox")
    assert "busybox:latest" in busybox.tags
    assert busybox.id in [i.id for i in client.images.list()]
    assert busybox.attrs["Config"]["Cmd"] == ["sh"]


def test_events_generator(client):
    import time

    since = time.time()
    client.containers.run("busybox", ["true"], remove=True)
    events = client.events(since=since, until=time.time() + 0.5, decode=True, filters={"type": "container"})
    actions = [e["Action"] for e in events]
    assert "create" in actions and "die" in actions and "destroy" in actions


def test_attach_with_logs_replays_output(client, daemon):
    """attach?logs=1 replays the log as frames. Read on a raw socket: docker-py's attach
    loses bytes that arrive with the 101 headers (its buffered reader keeps them)."""
    import socket
    import struct

    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2"], detach=True)
    try:
        c.wait(timeout=30)
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.socket_path)
        s.sendall(f"POST /v1.47/containers/{c.id}/attach?logs=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                  "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 UPGRADED")
        frames = []
        while body:
            stream, size = struct.unpack(">BxxxI", body[:8])
            frames.append((stream, body[8:8 + size]))
            body = body[8 + size:]
        assert frames == [(1, b"one\n"), (2, b"two\n")]
    finally:
        c.remove(force=True)
