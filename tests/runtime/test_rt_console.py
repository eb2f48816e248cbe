"""process.terminal: the pty master arrives over --console-socket (SCM_RIGHTS)."""

from __future__ import annotations

import os
import select
import socket
import time

from conftest import reap


def _receive(listener: socket.socket) -> int:
    conn, _ = listener.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert len(fds) == 1
    return fds[0]


def _read_until(fd: int, marker: bytes, until: float) -> bytes:
    out = b""
    while marker not in out and time.monotonic() < until:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            out += os.read(fd, 4096)
    return out


def _read_all(fd: int, until: float) -> bytes:
    out = b""
    while time.monotonic() < until:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: slave closed
                break
            if not chunk:
                break
            out += chunk
    return out


def test_console_socket(rt, bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    cid = rt.new_id()
    bundle.spec["process"]["terminal"] = True
    bundle.spec["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.args("sh", "-c", "tty; stty size; [ -c /dev/console ] && echo console-ok; read x; echo got-$x").write(cid)
    rt.ok("create", "--bundle", bundle.path, "--console-socket", sock_path, cid)
    master = _receive(listener)
    listener.close()
    try:
        rt.ok("start", cid)
        out = _read_until(master, b"console-ok", time.monotonic() + 5)  # typed before: the tty echoes it first
        os.write(master, b"abc\n")
        out = (out + _read_all(master, time.monotonic() + 5)).decode().replace("\r", "")
        lines = [line for line in out.splitlines() if line]
        assert lines[0].startswith("/dev/pts/")
        assert "30 100" in lines
        assert "console-ok" in lines and "got-abc" in lines
        rt.wait_status(cid, "stopped")
    finally:
        os.close(master)
        reap()


def test_terminal_without_socket_fails(rt, bundle):
    cid = rt.new_id()
    bundle.spec["process"]["terminal"] = True
    bundle.args("true").write(cid)
    res = rt.cmd("create", "--bundle", bundle.path, cid)
    assert res.returncode == 1 and "console socket" in res.stderr
    assert os.listdir(rt.root) == [] if os.path.exists(rt.root) else True


def test_run_foreground_terminal(rt, bundle):
    """`run` of a terminal container without --console-socket proxies the pty
    to our own terminal (runc needs a controlling terminal for that)."""
    import fcntl
    import pty
    import subprocess
    import termios

    master, slave = pty.openpty()

    def ctty():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    cid = rt.new_id()
    bundle.spec["process"]["terminal"] = True
    bundle.args("sh", "-c", "tty; echo hi; exit 5").write(cid)
    proc = subprocess.Popen([rt.binary, "--root", rt.root, "run", "--bundle", bundle.path, cid],
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty)
    os.close(slave)
    out = _read_all(master, time.monotonic() + 10).decode().replace("\r", "")
    rc = proc.wait(10)
    os.close(master)
    reap()
    assert rc == 5, out
    lines = [line for line in out.splitlines() if line]
    assert lines[0].startswith("/dev/pts/") and "hi" in lines
