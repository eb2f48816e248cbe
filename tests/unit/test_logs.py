"""The json-file log's rotation (shim/logfile.py) and its reader (services/containers/logs.py)
while the writer rotates under it."""

import gzip
import os
import threading
import time

from dockerd_py.services.containers import logs
from dockerd_py.shim.jsonlog import JSONLog


def _numbers(lines) -> list[int]:
    return [int(line.data.split()[1]) for line in lines if line is not None]


def test_compress_gzips_rotated_files_never_the_current(tmp_path):
    path = str(tmp_path / "c-json.log")
    log = JSONLog(path, max_size=300, max_file=4, compress=True)
    for i in range(60):
        log.write("stdout", f"line {i:02d}\n".encode())
    log.close()  # waits for the last compression
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz", "c-json.log.3.gz"]
    with open(path, "rb") as f:
        assert f.read(1) == b"{"
    with gzip.open(path + ".1.gz") as f:
        assert 300 <= len(f.read()) < 400
    got = _numbers(logs.read(path, logs.LogQuery(), lambda: False, 4))
    assert got == list(range(60 - len(got), 60)) and len(got) > 12  # 4 files of 4 or 5
    assert _numbers(logs.read(path, logs.LogQuery(tail=len(got) - 1), lambda: False, 4)) == got[1:]


def _write_slowly(path: str, count: int, max_file: int, compress: bool) -> None:
    log = JSONLog(path, max_size=400, max_file=max_file, compress=compress)
    for i in range(count):
        log.write("stdout", f"line {i:04d}\n".encode())
        if i % 5 == 0:
            time.sleep(0.002)
    log.close()


def test_follower_reads_every_line_once_however_far_behind(tmp_path):
    """Rotations many times faster than the follower polls: with every file still on disk
    (max-file 200), it goes from each file to the next one by their inodes."""
    path = str(tmp_path / "c-json.log")
    open(path, "wb").close()
    writer = threading.Thread(target=_write_slowly, args=(path, 1500, 200, False))
    writer.start()
    got = _numbers(logs.read(path, logs.LogQuery(follow=True), writer.is_alive, 200))
    writer.join()
    assert got == list(range(1500))


def test_follower_keeping_up_with_compressed_rotations(tmp_path):
    path = str(tmp_path / "c-json.log")
    open(path, "wb").close()

    def write() -> None:
        log = JSONLog(path, max_size=2000, max_file=3, compress=True)
        for i in range(150):
            log.write("stdout", f"line {i:04d}\n".encode())
            if i % 5 == 4:
                time.sleep(0.05)  # ~30 lines a file: a rotation every ~0.3 s
        log.close()

    writer = threading.Thread(target=write)
    writer.start()
    got = _numbers(logs.read(path, logs.LogQuery(follow=True), writer.is_alive, 3))
    writer.join()
    assert got == list(range(150))
