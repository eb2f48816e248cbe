"""Stats parsing of cgroup v1 and v2 files (the live v1 path is tested in tests/compat/test_stats.py;
this host has no v2 controllers, so the v2 reader is checked on files laid out as the kernel writes them)."""

from dockerd_py.services.containers import stats


def _write(d, files: dict[str, str]) -> str:
    for name, text in files.items():
        (d / name).write_text(text)
    return str(d)


def test_v2_files(tmp_path):
    d = _write(tmp_path, {
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                    "throttled_usec 20\n",
        "memory.current": "4096000\n", "memory.max": "max\n",
        "memory.stat": "anon 100\nfile 200\ninactive_file 50\nzswap 7\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        "pids.current": "3\n", "pids.max": "max\n"})
    s = stats._v2_stats(d)
    assert s["cpu_usage"] == {"total_usage": 1_500_000, "usage_in_kernelmode": 500_000, "usage_in_usermode": 1_000_000}
    assert s["throttling"] == {"periods": 4, "throttled_periods": 1, "throttled_time": 20_000}
    assert s["memory"]["usage"] == 4096000 and s["memory"]["limit"] == 0 and s["memory"]["failcnt"] == 0
    assert len(s["memory"]["stats"]) == 31  # moby's fixed key set, 0 where the kernel has no such key
    assert {k: v for k, v in s["memory"]["stats"].items() if v} == {"anon": 100, "file": 200, "inactive_file": 50}
    assert s["blkio"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}, {"major": 8, "minor": 0, "op": "write", "value": 8192}]
    assert s["blkio"]["io_serviced_recursive"] is None
    assert s["pids"] == {"current": 3, "limit": 0}


def test_v1_files(tmp_path):
    dirs = {}
    for controller, files in {
        "cpuacct": {"cpuacct.usage": "3000000000\n", "cpuacct.usage_percpu": "1000000000 2000000000 \n",
                    "cpuacct.stat": "user 250\nsystem 50\n"},
        "cpu": {"cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 777\n"},
        "memory": {"memory.usage_in_bytes": "1000\n", "memory.max_usage_in_bytes": "2000\n",
                   "memory.limit_in_bytes": "67108864\n", "memory.failcnt": "0\n",
                   "memory.stat": "cache 5\nrss 6\ntotal_cache 5\ntotal_rss 6\nswap 0\n"},
        "blkio": {"blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\nTotal 30\n"},
        "pids": {"pids.current": "2\n", "pids.max": "50\n"},
    }.items():
        sub = tmp_path / controller
        sub.mkdir()
        dirs[controller] = _write(sub, files)
    s = stats._v1_stats(dirs)
    assert s["cpu_usage"]["total_usage"] == 3_000_000_000
    assert s["cpu_usage"]["percpu_usage"] == [1_000_000_000, 2_000_000_000]
    assert s["cpu_usage"]["usage_in_usermode"] == 250 * 10**9 // stats._CLK_TCK
    assert s["throttling"] == {"periods": 10, "throttled_periods": 2, "throttled_time": 777}
    m = s["memory"]
    assert (m["usage"], m["max_usage"], m["limit"]) == (1000, 2000, 67108864)
    assert m["stats"]["cache"] == 5 and m["stats"]["total_rss"] == 6 and "swap" not in m["stats"]
    assert s["blkio"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 10}, {"major": 8, "minor": 0, "op": "Write", "value": 20}]
    assert s["blkio"]["io_queue_recursive"] == []
    assert s["pids"] == {"current": 2, "limit": 50}


def test_empty_answer_shape():
    e = stats.empty("/x", "abc")
    assert e["read"] == e["preread"] == "0001-01-01T00:00:00Z"
    assert e["blkio_stats"]["io_service_bytes_recursive"] is None and e["memory_stats"] == {}
    assert e["cpu_stats"] == e["precpu_stats"] and e["name"] == "/x" and e["id"] == "abc"
