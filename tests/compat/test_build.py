"""docker build (legacy builder) through the CLI, docker compose and docker-py."""

import io
import os
import json
import shutil
import subprocess
import tarfile
import time

import pytest

from .conftest import TEST_HUB


MULTI = """\
# escape=\\
ARG BASE=busybox
FROM ${BASE} AS first
ARG GREETING=hello
ENV A=1 B="two words"
RUN echo "$GREETING from first" > /greeting && \\
    echo done
COPY app/ /app/
COPY --chown=daemon:daemon --chmod=640 one.txt /owned.txt
ADD bundle.tar.gz /unpacked/
WORKDIR /work
RUN pwd > /work/where

FROM scratch AS empty
COPY one.txt /

FROM busybox
LABEL org.example.kind=test "spaced key"="spaced value"
MAINTAINER someone <someone@example.com>
COPY --from=first /greeting /app/*.txt /copied/
COPY --from=empty /one.txt /from-scratch.txt
USER 0:0
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /copied/greeting"]
"""


def _bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"inside the archive\n"
        info = tarfile.TarInfo("inner/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _context(path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> str:
    (path / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return str(path)


def _inspect(cli, ref: str) -> dict:
    return json.loads(cli("image", "inspect", ref).stdout)[0]


@pytest.fixture
def images_cleanup(cli):
    made: list[str] = []
    yield made
    if made:
        cli("rmi", "-f", *made, check=False)


def test_multistage_every_instruction(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, MULTI, {"app/a.txt": "A\n", "app/b.txt": "B\n", "app/skip.md": "no\n",
                                      "one.txt": "one\n", "bundle.tar.gz": _bundle()})
    images_cleanup.append("multi:1")
    out = cli("build", "--build-arg", "GREETING=hi", "-t", "multi:1", ctx).stdout
    assert "Step 1/26 : ARG BASE=busybox" in out
    assert "Successfully tagged multi:1" in out
    assert "hi from first" not in out and "done\n" in out     # RUN output is streamed
    img = _inspect(cli, "multi:1")
    cfg = img["Config"]
    assert cfg["Labels"] == {"org.example.kind": "test", "spaced key": "spaced value"}
    assert img["Author"] == "someone <someone@example.com>"
    assert cfg["User"] == "0:0" and cfg["StopSignal"] == "SIGUSR1"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30_000_000_000,
                                  "Timeout": 3_000_000_000, "Retries": 2}
    assert cfg["Shell"] == ["/bin/sh", "-ec"] and cfg["OnBuild"] == ["RUN echo triggered > /triggered"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat /copied/greeting"]
    assert cli("run", "--rm", "multi:1").stdout == "hi from first\n"
    listing = cli("run", "--rm", "multi:1", "ls /copied; cat /from-scratch.txt").stdout.split()
    assert listing == ["a.txt", "b.txt", "greeting", "one"]
    history = cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", "multi:1").stdout.splitlines()
    assert history[0] == '/bin/sh -c #(nop)  CMD ["cat /copied/greeting"]'
    assert any(h.startswith("/bin/sh -c #(nop) COPY multi:") for h in history)


def test_first_stage_files_and_args(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, MULTI, {"app/a.txt": "A\n", "one.txt": "one\n", "bundle.tar.gz": _bundle()})
    images_cleanup.extend(["multi:first", "multi:also"])
    before = set(cli("ps", "-aq").stdout.split())
    out = cli("build", "--rm=false", "--no-cache", "--target", "first", "-t", "multi:first", "-t", "multi:also", ctx).stdout
    kept = set(cli("ps", "-aq").stdout.split()) - before
    assert len(kept) == 5 and "Removing intermediate container" not in out      # ARG, ENV, RUN, WORKDIR, RUN
    cli("rm", *kept)
    assert _inspect(cli, "multi:also")["Id"] == _inspect(cli, "multi:first")["Id"]
    assert "Step 10/10 : RUN pwd > /work/where" in out
    run = cli("run", "--rm", "multi:first", "sh", "-c",
              "cat /greeting /work/where /unpacked/inner/file.txt; stat -c '%u:%g %a' /owned.txt; echo $B").stdout
    assert run == "hello from first\n/work\ninside the archive\n1:1 640\ntwo words\n"
    history = cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", "multi:first").stdout.splitlines()
    assert "|1 GREETING=hello /bin/sh -c echo \"$GREETING from first\" > /greeting &&     echo done" in history
    assert "/bin/sh -c #(nop)  ENV A=1 B=two words" in history


def test_cache_hits_and_misses(cli, tmp_path, images_cleanup):
    dockerfile = "FROM busybox\nRUN echo step1 > /s1\nCOPY f1 /f1\nRUN echo step2 > /s2\nCOPY f2 /f2\nRUN cat /f1 /f2\n"
    ctx = _context(tmp_path, dockerfile, {"f1": "one\n", "f2": "two\n"})
    images_cleanup.append("cached:1")
    first = cli("build", "-t", "cached:1", ctx).stdout
    assert "Using cache" not in first
    second = cli("build", "-t", "cached:1", ctx).stdout
    assert second.count(" ---> Using cache") == 5 and "Running in" not in second
    assert first.splitlines()[-2] == second.splitlines()[-2]      # Successfully built <same id>
    (tmp_path / "f2").write_text("changed\n")
    third = cli("build", "-t", "cached:1", ctx).stdout
    assert third.count(" ---> Using cache") == 3                 # up to the COPY of the changed file
    assert "Running in" in third.split("Step 5/6")[1]
    assert cli("run", "--rm", "cached:1", "cat", "/f2").stdout == "changed\n"
    fresh = cli("build", "--no-cache", "-t", "cached:1", ctx).stdout
    assert "Using cache" not in fresh


def test_dockerignore(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nCOPY . /ctx/\n",
                   {".dockerignore": "**/*.log\nsecret\n!secret/keep\nDockerfile\n",
                    "a.log": "x", "sub/deep/b.log": "x", "sub/keep.txt": "k", "secret/key": "s", "secret/keep": "k"})
    images_cleanup.append("ignored:1")
    cli("build", "-t", "ignored:1", ctx)
    found = cli("run", "--rm", "ignored:1", "find", "/ctx", "-type", "f").stdout.split()
    assert sorted(found) == ["/ctx/.dockerignore", "/ctx/secret/keep", "/ctx/sub/keep.txt"]


def test_stdin_dockerfile_and_quiet_iidfile(cli, tmp_path, images_cleanup):
    (tmp_path / "file").write_text("from context\n")
    iid = tmp_path / "iid"
    proc = cli("build", "-q", "--iidfile", str(iid), "--label", "via=label", "--label", "spaced=a $b c",
               "-f", "-", str(tmp_path),
               input="FROM busybox\nCOPY file /file\n")
    image_id = iid.read_text().strip()   # -q: the CLI writes the streamed line, as with Docker
    images_cleanup.append(image_id)
    assert proc.stdout.strip() == image_id and image_id.startswith("sha256:")
    assert _inspect(cli, image_id)["Config"]["Labels"] == {"via": "label", "spaced": "a $b c"}
    assert cli("run", "--rm", image_id, "cat", "/file").stdout == "from context\n"


def test_failing_run(cli, tmp_path, daemon):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo before && exit 3\n")
    before = set(cli("ps", "-aq").stdout.split())
    proc = cli("build", "--force-rm", ctx, check=False)
    assert proc.returncode == 3
    assert "The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3" in proc.stderr
    assert "before" in proc.stdout
    assert set(cli("ps", "-aq").stdout.split()) == before         # --force-rm removed the container
    proc = cli("build", ctx, check=False)                          # without it Docker keeps it
    left = set(cli("ps", "-aq").stdout.split()) - before
    assert proc.returncode == 3 and len(left) == 1
    cli("rm", *left)


@pytest.mark.parametrize("dockerfile,message", [
    ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM busybox\nCOPY missing /x\n",
     "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist"),
    ("FROM busybox\nCOPY ../x /x\n", "COPY failed: forbidden path outside the build context: ../x ()"),
    ("FROM nosuchimage\nRUN true\n", TEST_HUB),   # pulled from Docker Hub (here a closed loopback port)
])
def test_bad_dockerfiles(cli, tmp_path, dockerfile, message):
    ctx = _context(tmp_path, dockerfile)
    proc = cli("build", ctx, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_context_not_a_tar(client):
    resp = client.api._post(client.api._url("/build"), data=b"this is not a tar archive at all" * 40,
                            headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 400
    assert "build context" in resp.json()["message"]


def test_build_args_and_predefined_proxy(cli, tmp_path, images_cleanup):
    dockerfile = ("ARG V=meta\nFROM busybox\nARG V\nARG OTHER=default\n"
                  "RUN echo \"$V $OTHER $HTTP_PROXY\" > /out\n")
    ctx = _context(tmp_path, dockerfile)
    images_cleanup.append("args:1")
    out = cli("build", "--build-arg", "OTHER=given", "--build-arg", "HTTP_PROXY=http://proxy:3128",
              "--build-arg", "UNUSED=1", "-t", "args:1", ctx).stdout
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out
    assert cli("run", "--rm", "args:1", "cat", "/out").stdout == "meta given http://proxy:3128\n"
    history = cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", "args:1").stdout.splitlines()
    assert history[0].startswith("|2 OTHER=given V=meta /bin/sh -c")     # the proxy arg is not recorded


def test_sdk_build_and_onbuild(client, tmp_path):
    _context(tmp_path, "FROM busybox\nONBUILD RUN echo triggered > /triggered\n")
    base, logs = client.images.build(path=str(tmp_path), tag="onbuild-base:1")
    child = None
    try:
        assert base.tags == ["onbuild-base:1"]
        assert any("Successfully built" in (m.get("stream") or "") for m in logs)
        fileobj = io.BytesIO(b"FROM onbuild-base:1\n")
        child, logs = client.images.build(fileobj=fileobj, rm=True)
        text = "".join(m.get("stream") or "" for m in logs)
        assert "# Executing 1 build trigger" in text
        assert client.containers.run(child.id, ["cat", "/triggered"], remove=True) == b"triggered\n"
        assert child.attrs["Config"]["OnBuild"] is None
    finally:
        if child is not None:
            client.images.remove(child.id, force=True)
        client.images.remove("onbuild-base:1", force=True)


def test_sdk_build_error(client, tmp_path):
    import docker

    _context(tmp_path, "FROM busybox\nRUN exit 7\n")
    with pytest.raises(docker.errors.BuildError) as info:
        client.images.build(path=str(tmp_path), forcerm=True)
    assert "returned a non-zero code: 7" in str(info.value)


def test_compose_build(cli, tmp_path, daemon, images_cleanup):
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM busybox\nARG WHO\nRUN echo \"built for $WHO\" > /who\nCMD [\"cat\", \"/who\"]\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    build:\n      context: ./app\n      args:\n        WHO: compose\n"
        "    image: composebuilt:1\n")
    images_cleanup.append("composebuilt:1")
    cli("compose", "-f", str(tmp_path / "compose.yaml"), "-p", "buildtest", "build", timeout=120)
    assert cli("run", "--rm", "composebuilt:1").stdout == "built for compose\n"


def test_build_prune(cli):
    out = cli("builder", "prune", "-f").stdout
    assert "Total reclaimed space: 0B" in out


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_compressed_context(client, mode):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY payload /payload\n"), ("payload", b"packed\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, encoding=mode[2:])
    try:
        assert client.containers.run(image.id, ["cat", "/payload"], remove=True) == b"packed\n"
    finally:
        client.images.remove(image.id, force=True)


def test_dockerfile_only_from_stdin_and_scratch(cli, tmp_path, images_cleanup):
    out = cli("build", "-q", "-", input="FROM busybox\nRUN echo made > /made\n").stdout.strip()
    images_cleanup.append(out)
    assert cli("run", "--rm", out, "cat", "/made").stdout == "made\n"
    ctx = _context(tmp_path, "FROM busybox AS tools\nFROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\n"
                             "COPY --from=0 /bin/busybox /again\nWORKDIR /w\nENV A=1\n"
                             "ENTRYPOINT [\"/bin/busybox\"]\n")
    scratch = cli("build", "-q", ctx).stdout.strip()
    images_cleanup.append(scratch)
    assert cli("run", "--rm", scratch, "sh", "-c", "pwd; ls /again; echo $A").stdout == "/w\n/again\n1\n"
    assert len(_inspect(cli, scratch)["RootFS"]["Layers"]) == 3


def test_history_ids_follow_the_parents(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nENV X=1\nRUN echo x > /x\n")
    images_cleanup.append("hist:1")
    out = cli("build", "-t", "hist:1", ctx).stdout
    step_ids = [line.split()[-1] for line in out.splitlines() if line.startswith(" ---> ") and "Running" not in line]
    ids = cli("history", "-q", "hist:1").stdout.split()
    assert ids[:3] == list(reversed(step_ids))       # RUN, ENV, busybox
    assert "<missing>" not in ids


def test_buildkit_only_flags_and_no_match(cli, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN --mount=type=cache,target=/x true\n")
    proc = cli("build", ctx, check=False)
    assert proc.returncode != 0 and "the --mount option requires BuildKit" in proc.stderr
    ctx = _context(tmp_path, "FROM busybox\nCOPY *.nomatch /x/\n")
    proc = cli("build", ctx, check=False)
    assert proc.returncode != 0 and "COPY failed: no source files were specified" in proc.stderr


def test_intermediate_images_hidden_unless_all(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nENV STEP=1\nENV STEP=2\n")   # ids: STEP=2, STEP=1, busybox
    images_cleanup.append("layered:1")
    cli("build", "-t", "layered:1", ctx)
    ids = cli("history", "-q", "--no-trunc", "layered:1").stdout.split()[:3]
    listed = cli("images", "-q", "--no-trunc").stdout
    everything = cli("images", "-aq", "--no-trunc").stdout
    assert ids[0] in listed and ids[1] not in listed and ids[2] in listed
    assert all(i in everything for i in ids)


def test_client_going_away_cancels_the_run(cli, tmp_path, daemon):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo started && sleep 60\n")
    before = set(cli("ps", "-aq").stdout.split())
    proc = subprocess.Popen([shutil.which("docker") or "/usr/local/bin/docker", "build", ctx], env=daemon.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line == "started\n":      # the RUN is running (not the Step line)
                break
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while set(cli("ps", "-aq").stdout.split()) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(cli("ps", "-aq").stdout.split()) == before


def test_cache_from_limits_the_cache(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo cached-from > /c\n")
    images_cleanup.append("cachesrc:1")
    cli("build", "-t", "cachesrc:1", ctx)
    assert "Using cache" in cli("build", "--cache-from", "cachesrc:1", ctx).stdout
    assert "Using cache" not in cli("build", "--cache-from", "busybox", ctx).stdout


def test_network_option_and_bad_tag(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nRUN ls /sys/class/net > /nets\n")
    image = cli("build", "-q", "--network", "none", ctx).stdout.strip()
    images_cleanup.append(image)
    assert cli("run", "--rm", image, "cat", "/nets").stdout == "lo\n"
    proc = cli("build", "-t", "Bad:Tag:x", ctx, check=False)
    assert proc.returncode != 0 and "invalid" in proc.stderr


def test_run_containers_get_the_build_limits(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nRUN (cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                             "cat /sys/fs/cgroup/memory.max) > /limit\n")
    image = cli("build", "-q", "--memory", "64m", ctx).stdout.strip()
    images_cleanup.append(image)
    assert cli("run", "--rm", image, "cat", "/limit").stdout == f"{64 * 1024 * 1024}\n"


def test_squash_refused_as_without_experimental(client, tmp_path):
    import docker

    _context(tmp_path, "FROM busybox\n")
    with pytest.raises(docker.errors.APIError) as info:
        list(client.api.build(path=str(tmp_path), squash=True, decode=True))
    assert info.value.status_code == 400 and "squash is only supported with experimental mode" in str(info.value)


def test_copy_follows_a_linked_source_under_its_own_name(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nCOPY link.txt linkdir /a/\n", {"target.txt": "real\n", "realdir/f": "f\n"})
    os.symlink("target.txt", tmp_path / "link.txt")
    os.symlink("realdir", tmp_path / "linkdir")
    image = cli("build", "-q", ctx).stdout.strip()
    images_cleanup.append(image)
    assert cli("run", "--rm", image, "sh", "-c", "ls /a; cat /a/link.txt").stdout == "f\nlink.txt\nreal\n"


def test_links_in_sources_and_destinations_resolve_as_in_docker(cli, tmp_path, images_cleanup):
    """Links are followed inside the context or the image, as if each were `/` (Docker 20.10 and 28);
    a wildcard never matches through a link to a directory."""
    ctx = _context(tmp_path, "FROM busybox\nRUN ln -s /nonexist/deep /lnk && ln -s /tmp /tlnk && ln -s /gone /gl\n"
                             "COPY etc/x /lnk/sub/\nCOPY etc/x /tlnk\nCOPY etc/x /gl\n"
                             "RUN mv /etc/passwd /etc/pw && ln -s /etc/pw /etc/passwd\nCOPY --chown=daemon etc/x /owned\n",
                   {"etc/x": "inside\n"})
    os.symlink("/etc", tmp_path / "etclink")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    image = cli("build", "-q", ctx).stdout.strip()
    images_cleanup.append(image)
    out = cli("run", "--rm", image, "sh", "-c", "cat /nonexist/deep/sub/x /tmp/x /gone; readlink /tlnk; readlink /gl; "
                                                "stat -c %U /owned").stdout
    assert out == "inside\ninside\ninside\n/tmp\n/gone\ndaemon\n"
    for dockerfile, message in [
        ("COPY etclink/* /g/", "COPY failed: no source files were specified"),   # the host's /etc is never listed
        ("COPY loop1 /g", "COPY failed: forbidden path outside the build context: loop1 ()"),
        ("COPY etc/x/y /g", "COPY failed: forbidden path outside the build context: etc/x/y ()"),
        ("COPY --from=busybox /etc/passwd/x /g", "COPY failed: forbidden path outside the build context: etc/passwd/x ()"),
    ]:
        (tmp_path / "Dockerfile.bad").write_text(f"FROM busybox\n{dockerfile}\n")
        proc = cli("build", "-f", str(tmp_path / "Dockerfile.bad"), ctx, check=False)
        assert proc.returncode == 1 and message in proc.stderr, (dockerfile, proc.stderr)
    (tmp_path / "Dockerfile.bad").write_text("FROM busybox\nCOPY etc/x /etc/passwd/sub/\n")
    proc = cli("build", "-f", str(tmp_path / "Dockerfile.bad"), ctx, check=False)
    assert proc.returncode == 1 and "failed to copy files: lstat /" in proc.stderr
    assert "/merged/etc/passwd/sub: not a directory" in proc.stderr


def test_add_copies_what_is_not_a_tar(cli, tmp_path, images_cleanup):
    import gzip

    ctx = _context(tmp_path, "FROM busybox\nADD data.gz plain.txt /n/\n",
                   {"data.gz": gzip.compress(b"just text\n"), "plain.txt": "plain\n"})
    image = cli("build", "-q", ctx).stdout.strip()
    images_cleanup.append(image)
    assert cli("run", "--rm", image, "sh", "-c", "ls /n; zcat /n/data.gz").stdout == "data.gz\nplain.txt\njust text\n"


def test_run_heredocs(cli, tmp_path, images_cleanup):
    ctx = _context(tmp_path, "FROM busybox\nRUN <<EOT\necho from heredoc > /h\necho second >> /h\nEOT\n"
                             "RUN cat <<EOF > /g\nline $HOME\nEOF\n")
    image = cli("build", "-q", ctx).stdout.strip()
    images_cleanup.append(image)
    assert cli("run", "--rm", image, "cat", "/h", "/g").stdout == "from heredoc\nsecond\nline /root\n"
