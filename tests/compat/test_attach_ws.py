"""Attach over a websocket, as docker-py's attach_socket(ws=True) does it, over tcp."""

import time
import uuid

import pytest


@pytest.fixture
def tcp_client(daemon):
    import docker as docker_sdk

    c = docker_sdk.DockerClient(base_url=daemon.extra["tcp"], version="auto", timeout=60)
    yield c
    c.close()


def test_websocket_attach_echoes_stdin(tcp_client, container_cleanup):
    ct = tcp_client.containers.create("busybox", ["cat"], stdin_open=True, name="ws" + uuid.uuid4().hex[:10])
    container_cleanup.append(ct.id)
    ws = ct.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}, ws=True)
    ws.settimeout(20)
    ct.start()
    ws.send_binary(b"hello over a websocket\n")
    assert ws.recv() == b"hello over a websocket\n"
    ws.send("and text frames\n")
    assert ws.recv() == b"and text frames\n"
    ws.close()  # StdinOnce (docker-py sets it with stdin_open): closing ends cat's stdin
    assert ct.wait(timeout=20)["StatusCode"] == 0


def test_websocket_attach_replays_logs_and_streams_both_outputs(tcp_client, container_cleanup):
    ct = tcp_client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; sleep 1; echo late"], detach=True)
    container_cleanup.append(ct.id)
    deadline = time.monotonic() + 10
    while b"err" not in ct.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    ws = ct.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1}, ws=True)
    ws.settimeout(20)
    messages = []
    while (message := ws.recv()):
        messages.append(message)
    assert messages == [b"out\n", b"err\n", b"late\n"]  # unframed: one message per write, stdout and stderr alike
