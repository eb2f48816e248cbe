"""`/events`: the container and image events a user sees in `docker events`."""

import json
import subprocess
import time
import uuid

from .conftest import DOCKER


def events_between(daemon, since: float, until: float, *filters: str) -> list[dict]:
    out = subprocess.run([DOCKER, "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                          "--format", "{{json .}}", *filters], env=daemon.env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_lifecycle_events_in_order(daemon, cli):
    n = "e" + uuid.uuid4().hex[:8]
    since = time.time()
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    cli("pause", n)
    cli("unpause", n)
    cli("rename", n, n + "x")
    cli("kill", n + "x")
    cli("rm", n + "x")
    time.sleep(0.2)
    events = events_between(daemon, since, time.time(), "--filter", "type=container")
    mine = [e for e in events if e["Actor"]["Attributes"].get("name") in (n, n + "x")]
    actions = [e["Action"] for e in mine]
    assert actions == ["create", "start", "pause", "unpause", "rename", "kill", "die", "destroy"], actions
    die = mine[actions.index("die")]
    assert die["Actor"]["Attributes"]["exitCode"] == "137"
    assert mine[actions.index("kill")]["Actor"]["Attributes"]["signal"] == "9"
    assert mine[actions.index("rename")]["Actor"]["Attributes"]["oldName"] == "/" + n
    assert all(e["Actor"]["Attributes"]["image"] == "busybox" for e in mine)


def test_stop_emits_kill_die_stop(daemon, cli):
    n = "e" + uuid.uuid4().hex[:8]
    cli("run", "-d", "--name", n, "busybox", "sleep", "300")
    since = time.time()
    cli("stop", "-t", "1", n)
    time.sleep(0.2)
    actions = [e["Action"] for e in events_between(daemon, since, time.time(), "--filter", f"container={n}")]
    assert actions[0] == "kill" and actions[-2:] == ["die", "stop"], actions
    cli("rm", n)


def test_image_events_and_event_filter(daemon, cli):
    from ..rootfs import rootfs_tar_bytes

    repo = "ev" + uuid.uuid4().hex[:8]
    since = time.time()
    cli("import", "-", repo, input=rootfs_tar_bytes())
    cli("tag", repo, f"{repo}:two")
    cli("rmi", f"{repo}:two")
    cli("rmi", repo)
    time.sleep(0.2)
    events = events_between(daemon, since, time.time(), "--filter", "type=image")
    # Docker tags the imported image before it logs the import
    assert [e["Action"] for e in events] == ["tag", "import", "tag", "untag", "untag", "delete"]
    only_tags = events_between(daemon, since, time.time(), "--filter", "type=image", "--filter", "event=tag")
    assert [e["Action"] for e in only_tags] == ["tag", "tag"]


def test_events_stream_live(daemon, cli):
    n = "e" + uuid.uuid4().hex[:8]
    proc = subprocess.Popen([DOCKER, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
                             "--filter", f"container={n}"], env=daemon.env, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        cli("run", "--rm", "--name", n, "busybox", "true")
        seen = []
        deadline = time.monotonic() + 15
        while "destroy" not in " ".join(seen) and time.monotonic() < deadline:
            seen.append(proc.stdout.readline().strip())
        assert [s.split()[0] for s in seen[:3]] == ["create", "attach", "start"] or \
            [s.split()[0] for s in seen[:2]] == ["create", "start"], seen
        assert seen[-1] == f"destroy {n}"
    finally:
        proc.terminate()
        proc.wait()


def test_info_counts_event_listeners(daemon, cli):
    def listeners() -> int:
        return int(cli("info", "--format", "{{.NEventsListener}}").stdout)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while listeners() != count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listeners() == count

    wait_for(0)  # a stream whose client left (an earlier test's) goes within its one-second heartbeat
    proc = subprocess.Popen([DOCKER, "events"], env=daemon.env, stdout=subprocess.DEVNULL)
    try:
        wait_for(1)
    finally:
        proc.terminate()
        proc.wait()
    wait_for(0)
