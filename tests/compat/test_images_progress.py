"""The JSON progress messages of `docker load` and `docker import`, as Docker's dockerd sends them.

What Docker 20.10 (reference daemon) sends, and these tests expect:
- load, quiet=0: per extracted layer `{"status":"Loading layer","progressDetail":{"current","total"},
  "progress":"[==>  ] a/b","id":<12 hex of the diff id>}` (total: the layer file's size; nothing for a
  layer already present), then `{"stream":"Loaded image: x\\n"}` lines; the ids of untagged images in
  one `stream` message. quiet=1 (the CLI's choice when stdout is not a terminal, and the API default):
  the `stream` lines only. Every load error: a 200 whose body is an `errorDetail` message.
- import from stdin: no progress, only `{"status":"sha256:..."}`; an error is an HTTP error.
- import from a URL: `{"status":"Downloading from <url>"}`, `Importing` bars without an id (total: the
  Content-Length), then the id; a fetch error is an HTTP error, a bad tar an `errorDetail` after the bars.
"""

import fcntl
import hashlib
import json
import os
import pty
import re
import struct
import termios
import uuid

import docker as docker_sdk
import pytest

from .conftest import DOCKER, inspect
from .test_image_layers import layer, member, merged_archive, store_state
from .test_images import save_archive
from ..rootfs import rootfs_tar_bytes

FULL_BAR = "[" + "=" * 50 + ">]"


def human(n: int) -> str:
    """go-units HumanSize, for the sizes these tests use."""
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.4g}{unit}"
    return f"{n}B"


def short(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:12]


def new_layers() -> list[bytes]:
    """Two layers no other test has: a big random file and a small one."""
    return [layer([member("big", data=os.urandom(24 << 20))]),
            layer([member("small", data=uuid.uuid4().bytes)])]


def run_in_pty(daemon, *args: str) -> tuple[int, str]:
    """The docker CLI on a 200-column terminal: (exit status, everything it drew)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, *args], daemon.env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:   # EIO: the CLI exited and closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_load_streams_a_loading_layer_bar_per_new_layer(daemon, client):
    repo = "prog" + uuid.uuid4().hex[:8]
    base = rootfs_tar_bytes()   # busybox:latest of the fixture has this layer already
    layers = new_layers()
    archive, image_id = save_archive([base, *layers], f"{repo}:latest", {})
    try:
        messages = list(client.api.load_image(archive, quiet=False))
        assert messages[-1] == {"stream": f"Loaded image: {repo}:latest\n"}
        bars = messages[:-1]
        assert all(list(m) == ["status", "progressDetail", "progress", "id"] and m["status"] == "Loading layer"
                   for m in bars), bars
        assert short(base) not in {m["id"] for m in bars}          # present: not loaded again, no bar
        assert [m["id"] for m in bars] == sorted((m["id"] for m in bars), key=[short(b) for b in layers].index)
        for blob in layers:
            mine = [m for m in bars if m["id"] == short(blob)]
            assert mine, f"no bar for layer {short(blob)}: {bars}"
            currents = [m["progressDetail"]["current"] for m in mine]
            assert currents == sorted(currents) and all(m["progressDetail"]["total"] == len(blob) for m in mine)
            last = mine[-1]
            assert last["progressDetail"] == {"current": len(blob), "total": len(blob)}
            assert last["progress"] == f"{FULL_BAR} {human(len(blob)):>8}/{human(len(blob))}"
            for m in mine[:-1]:
                assert re.fullmatch(r"\[=*> *\] +[0-9.]+[kM]?B/" + re.escape(human(len(blob))), m["progress"]), m
        assert inspect(daemon, repo)["Id"] == image_id
        # loaded again: every layer is present, so only the result line
        assert list(client.api.load_image(archive, quiet=False)) == [{"stream": f"Loaded image: {repo}:latest\n"}]
    finally:
        client.images.remove(repo)


def test_quiet_load_and_docker_py_images_load(daemon, client):
    repo = "quiet" + uuid.uuid4().hex[:8]
    archive, image_id = save_archive([rootfs_tar_bytes(), *new_layers()], f"{repo}:v1", {})
    try:
        assert list(client.api.load_image(archive, quiet=True)) == [{"stream": f"Loaded image: {repo}:v1\n"}]
        client.images.remove(f"{repo}:v1")
        images = client.images.load(archive)   # no quiet parameter: the daemon's default is quiet
        assert [i.id for i in images] == [image_id] and images[0].tags == [f"{repo}:v1"]
    finally:
        client.images.remove(f"{repo}:v1")


def test_cli_draws_the_bars_on_a_terminal_and_prints_only_the_result_elsewhere(daemon, cli):
    repo = "bars" + uuid.uuid4().hex[:8]
    layers = new_layers()
    archive, _ = save_archive([rootfs_tar_bytes(), *layers], f"{repo}:latest", {})
    path = f"{daemon.root}/{repo}.tar"
    with open(path, "wb") as f:
        f.write(archive)
    try:
        status, drawn = run_in_pty(daemon, "load", "-i", path)
        assert status == 0, drawn
        for blob in layers:
            assert f"{short(blob)}: Loading layer {FULL_BAR} {human(len(blob)):>8}/{human(len(blob))}" in drawn
        assert "\x1b[1A\x1b[2K\r" in drawn          # redrawn in place: one screen line per layer
        assert drawn.endswith(f"Loaded image: {repo}:latest\r\n")
        cli("rmi", repo)
        # not a terminal: the CLI asks quiet=1 and prints the result line alone
        assert cli("load", "-i", path).stdout == f"Loaded image: {repo}:latest\n"
    finally:
        os.unlink(path)
        cli("rmi", repo, check=False)


def untagged(*archives: bytes) -> bytes:
    """One archive holding the images of several `save_archive`s, without their tags."""
    def drop_tags(files: dict[str, bytes], manifests: list[dict]) -> None:
        for item in manifests:
            item["RepoTags"] = None
    return merged_archive(list(archives), drop_tags)


def test_untagged_images_are_listed_in_one_message(daemon, client, cli):
    one, one_id = save_archive([rootfs_tar_bytes()], "x:1", {"Cmd": ["one"]})
    two, two_id = save_archive([rootfs_tar_bytes(), new_layers()[1]], "x:1", {"Cmd": ["two"]})
    archive = untagged(one, two)
    try:
        assert list(client.api.load_image(archive, quiet=True)) == [
            {"stream": f"Loaded image ID: {one_id}\nLoaded image ID: {two_id}\n"}]
        assert cli("load", input=archive).stdout == f"Loaded image ID: {one_id}\nLoaded image ID: {two_id}\n"
    finally:
        cli("rmi", one_id, two_id, check=False)
    # no image at all: moby still writes the (empty) id text, `{}`, which the CLI prints as a blank line
    assert list(client.api.load_image(untagged(), quiet=True)) == [{}]
    assert cli("load", input=untagged()).stdout == "\n"


@pytest.mark.parametrize("quiet", [False, True])
def test_a_corrupt_layer_ends_the_stream_with_error_detail(daemon, client, cli, quiet):
    before = store_state(daemon, cli)
    repo = "corrupt" + uuid.uuid4().hex[:8]
    good = new_layers()[0]
    archive, _ = save_archive([rootfs_tar_bytes(), good], f"{repo}:latest", {})
    tampered = archive.replace(good[4096:4200], b"X" * 104)
    messages = list(client.api.load_image(tampered, quiet=quiet))
    error = messages[-1]
    assert list(error) == ["errorDetail", "error"] and error["error"] == error["errorDetail"]["message"]
    assert error["error"].startswith(f'invalid diffID for layer 1: expected "sha256:{hashlib.sha256(good).hexdigest()}"')
    if quiet:
        assert messages == [error]
    else:   # only bars of the layer that failed can come first
        assert all(m["status"] == "Loading layer" and m["id"] == short(good) for m in messages[:-1])
    assert store_state(daemon, cli) == before
    with pytest.raises(docker_sdk.errors.ImageLoadError, match="invalid diffID for layer 1"):
        client.images.load(tampered)
    assert store_state(daemon, cli) == before


def test_a_client_that_leaves_during_the_bars_leaves_the_store_as_it_was(daemon, cli):
    import socket
    import time

    before = store_state(daemon, cli)
    layers = [layer([member(f"f{i}", data=os.urandom(16 << 20))]) for i in range(6)]
    archive, _ = save_archive([rootfs_tar_bytes(), *layers], "gone:1", {})
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(daemon.socket_path)
        s.sendall(b"POST /v1.47/images/load?quiet=0 HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(archive) + archive)
        seen = b""
        while b"Loading layer" not in seen:
            chunk = s.recv(65536)
            assert chunk, seen
            seen += chunk
    tmp = os.path.join(daemon.root, "data", "tmp")
    deadline = time.monotonic() + 30
    while (store_state(daemon, cli) != before or os.listdir(tmp)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store_state(daemon, cli) == before and os.listdir(tmp) == []


def test_a_broken_archive_is_a_200_with_error_detail_and_the_cli_fails(daemon, client, cli):
    resp = client.api._post(client.api._url("/images/load"), params={"quiet": "0"}, data=b"not a tar" * 1000)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    lines = resp.text.splitlines()
    assert len(lines) == 1 and '"errorDetail"' in lines[0] and "invalid" in lines[0]
    proc = cli("load", input=b"not a tar" * 1000, check=False)
    # an in-band error: the CLI prints the message alone, not "Error response from daemon"
    # Docker's words: its chrootarchive's Go tar error
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.startswith(
        "Error processing tar file(exit status 1): archive/tar: invalid tar header")
    path = f"{daemon.root}/broken.tar"
    with open(path, "wb") as f:
        f.write(b"not a tar" * 1000)
    try:
        status, drawn = run_in_pty(daemon, "load", "-i", path)
    finally:
        os.unlink(path)
    assert status == 1 and drawn.startswith("Error processing tar file") and "Error response from daemon" not in drawn


def test_import_from_stdin_sends_only_the_image_id(daemon, client, cli):
    repo = "imp" + uuid.uuid4().hex[:8]
    rootfs = rootfs_tar_bytes()
    try:
        body = client.api.import_image(src=rootfs, repository=repo, tag="v1")
        image_id = inspect(daemon, f"{repo}:v1")["Id"]
        assert body == '{"status":"%s"}\r\n' % image_id  # moby's streamformatter line end
        out = cli("import", "-", f"{repo}:v3", input=rootfs).stdout
        assert out == inspect(daemon, f"{repo}:v3")["Id"] + "\n"
        bad = cli("import", "-", f"{repo}:bad", input=b"\x1f\x8b" + os.urandom(2000), check=False)
        assert bad.returncode == 1 and bad.stderr.startswith("Error response from daemon: ")
        assert cli("image", "inspect", f"{repo}:bad", check=False).returncode == 1
    finally:
        cli("rmi", f"{repo}:v1", f"{repo}:v3", check=False)


# -- import from a URL: Docker's `Downloading from`, `Importing` bars without an id, then the id ------------

@pytest.fixture
def web():
    """A loopback HTTP server: {path: body}; a path missing answers 404 with the body `nope`."""
    import http.server
    import threading

    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"nope\n"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield files, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_import_from_a_url_streams_dockers_progress(daemon, client, cli, web):
    files, where = web
    rootfs = rootfs_tar_bytes()
    files["/rootfs.tar"] = rootfs
    url = f"http://{where}/rootfs.tar"
    repo = "url" + uuid.uuid4().hex[:8]
    try:
        text = client.api.import_image_from_url(url, repository=repo, tag="v1")
        messages = [json.loads(line) for line in text.splitlines()]
        image = inspect(daemon, f"{repo}:v1")
        assert messages[0] == {"status": f"Downloading from {url}"}
        assert messages[-1] == {"status": image["Id"]}
        bars = messages[1:-1]
        assert bars and all(list(m) == ["status", "progressDetail", "progress"] and m["status"] == "Importing"
                            for m in bars), bars
        assert bars[-1]["progressDetail"] == {"current": len(rootfs), "total": len(rootfs)}
        assert bars[-1]["progress"] == f"{FULL_BAR} {human(len(rootfs)):>8}/{human(len(rootfs))}"
        assert image["Comment"] == f"Imported from {url}"
        # without a scheme: http, as in Docker
        text = client.api.import_image_from_url(f"{where}/rootfs.tar", repository=repo, tag="v4")
        assert text.splitlines()[0] == json.dumps({"status": f"Downloading from {url}"}, separators=(",", ":"))
        # not a terminal: the CLI leaves the bars out
        out = cli("import", "--change", "CMD [\"sh\"]", url, f"{repo}:v2").stdout
        assert out == f"Downloading from {url}\n{inspect(daemon, f'{repo}:v2')['Id']}\n"
        status, drawn = run_in_pty(daemon, "import", url, f"{repo}:v3")
        assert status == 0 and f"\x1b[2K\rImporting {FULL_BAR} {human(len(rootfs)):>8}/{human(len(rootfs))}\r" in drawn
        assert drawn.endswith(inspect(daemon, f"{repo}:v3")["Id"] + "\r\n")
    finally:
        cli("rmi", f"{repo}:v1", f"{repo}:v2", f"{repo}:v3", f"{repo}:v4", check=False)


def test_import_from_a_url_errors(daemon, client, cli, web):
    files, where = web
    files["/garbage.tar"] = b"\x1f\x8b" + os.urandom(3000)
    before = store_state(daemon, cli)
    # the server's error status passes through before any message, with Docker's text
    missing = cli("import", f"http://{where}/nosuch.tar", check=False)
    assert missing.returncode == 1
    assert missing.stderr == (f"Error response from daemon: failed to GET http://{where}/nosuch.tar "
                              "with status 404 Not Found: nope\n")
    with pytest.raises(docker_sdk.errors.NotFound):
        client.api.import_image_from_url(f"http://{where}/nosuch.tar")
    refused = cli("import", "http://127.0.0.1:1/x.tar", check=False)
    assert refused.stderr == ('Error response from daemon: Get "http://127.0.0.1:1/x.tar": '
                              "dial tcp 127.0.0.1:1: connect: connection refused\n")
    bad_change = cli("import", "--change", "BOGUS x", f"http://{where}/garbage.tar", check=False)
    assert bad_change.stderr == "Error response from daemon: bogus is not a valid change command\n"
    # a tar that is not one: after `Downloading from`, an in-band error; nothing is kept
    broken = cli("import", f"http://{where}/garbage.tar", check=False)
    assert broken.returncode == 1 and broken.stdout == f"Downloading from http://{where}/garbage.tar\n"
    assert broken.stderr and "Error response from daemon" not in broken.stderr
    text = client.api.import_image_from_url(f"http://{where}/garbage.tar")
    last = json.loads(text.splitlines()[-1])
    assert list(last) == ["errorDetail", "error"]
    assert store_state(daemon, cli) == before
