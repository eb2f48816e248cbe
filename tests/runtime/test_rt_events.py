"""`events`: --stats (one sample of runc's shape), streaming, OOM, bad input."""

from __future__ import annotations

import json
import time

import pytest

from conftest import OOM_ON_GO, events_until_oom, reap, stats_keys


def _start(rt, bundle, script, memory=None):
    cid = rt.new_id()
    bundle.args("sh", "-c", script)
    if memory:
        bundle.spec["linux"]["resources"]["memory"] = {"limit": memory}
    bundle.write(cid)
    rt.ok("run", "--detach", "--bundle", bundle.path, cid)
    return cid


def test_stats_shape_matches_runc(pair, bundle):
    samples = []
    for rt in pair:
        cid = _start(rt, bundle, "sleep 30", memory=64 << 20)
        ev = json.loads(rt.ok("events", "--stats", cid))
        assert ev["type"] == "stats" and ev["id"] == cid
        samples.append(ev["data"])
    ours, runc = samples
    assert stats_keys(ours) - {".memory.cache"} == stats_keys(runc) - {".memory.cache"}
    assert ours["memory"]["usage"]["limit"] == runc["memory"]["usage"]["limit"] == 64 << 20
    assert ours["pids"] == runc["pids"] == {"current": 1}
    assert ours["cpuset"].get("cpus") == runc["cpuset"].get("cpus")  # none on cgroup v2
    assert ours["network_interfaces"] is runc["network_interfaces"] is None


def test_errors_match_runc(pair, bundle):
    results = []
    for rt in pair:
        cid = _start(rt, bundle, "true")
        rt.wait_status(cid, "stopped")
        stopped = rt.cmd("events", "--stats", cid)
        missing = rt.cmd("events", "--stats", "nosuchctr")
        running = _start(rt, bundle, "sleep 30")
        zero = rt.cmd("events", "--interval", "0", running)
        results.append((stopped.returncode, f"container with id {cid} is not running" in stopped.stderr,
                        missing.returncode, "container does not exist" in missing.stderr,
                        zero.returncode, "duration interval must be greater than 0" in zero.stderr))
    assert results[0] == results[1] == (1, True, 1, True, 1, True)


def test_streaming_stats_and_oom(pair, bundle, tmp_path):
    """A stats line every --interval; an OOM kill inside shows as an "oom" event."""
    outputs = []
    for rt in pair:
        cid = _start(rt, bundle, OOM_ON_GO.format(size=100), memory=32 << 20)
        outputs.append(events_until_oom(rt, cid, tmp_path / f"events-{rt.name}", "500ms", settle=1.5))
    for events in outputs:
        types = [e["type"] for e in events]
        assert "oom" in types, types
        assert types.count("stats") >= 3, types
        assert {"type": "oom", "id": events[types.index("oom")]["id"]} in events


def test_stream_ends_with_the_container(ours, bundle):
    """Ours ends the stream once the container's init exits (runc 1.1 streams on)."""
    cid = _start(ours, bundle, "sleep 3")
    t0 = time.monotonic()
    res = ours.cmd("events", "--interval", "200ms", cid, timeout=10)
    reap()
    assert res.returncode == 0
    assert time.monotonic() - t0 < 7
    assert all(json.loads(line)["type"] == "stats" for line in res.stdout.splitlines())


@pytest.mark.parametrize("text,seconds", [("5s", 5.0), ("1m30s", 90.0), ("250ms", 0.25), ("1.5h", 5400.0)])
def test_go_durations(text, seconds):
    from dockerd_runtime.commands.events import parse_duration
    assert parse_duration(text) == pytest.approx(seconds)
