"""The json-file log's files and their rotation, as moby's loggerutils.LogFile.

A record is written while the file is below max-size; the write that finds it at or above
max-size rotates first, so a file exceeds max-size by less than one record. Rotation
(max-file >= 2) drops `<log>.<max-file - 1>[.gz]`, shifts `<log>.N[.gz]` to `.N+1[.gz]`,
renames `<log>` to `<log>.1` and starts a new `<log>`; max-file 1 unlinks `<log>` and starts
it again (a follower keeps reading the old one to its end). With compress, `<log>.1` is
gzipped to `<log>.1.gz` in a thread (moby's goroutine) whose gzip header carries
{"lastTime": ...} as moby's does; the current file is never compressed, and the next
rotation waits for that compression as moby's rotateMu makes it.
"""

import json
import os

FILE_MODE = 0o640


class LogFile:
    """Appends records to `path`, rotating it by size."""

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1, compress: bool = False) -> None:
        self.path = path
        self.max_size = max(0, int(max_size))  # bytes; 0: no rotation
        self.max_file = max(1, int(max_file))
        self.compress = bool(compress) and self.max_file > 1
        self.fd = self._open(os.O_APPEND)
        self.size = os.fstat(self.fd).st_size
        self._compressing = None  # threading.Thread gzipping <log>.1, when one runs

    def _open(self, flag: int) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flag, FILE_MODE)

    def append(self, data: bytes, ts: str) -> None:
        """Write whole records (`data` ends with a newline); `ts` is the newest one's time."""
        if not self.max_size:
            self._write(data)
            return
        while data:
            if self.size >= self.max_size:
                self._rotate(ts)
            room = self.max_size - self.size
            cut = data.find(b"\n", room - 1) + 1 if len(data) > room else len(data)
            chunk, data = (data, b"") if cut <= 0 else (data[:cut], data[cut:])
            self._write(chunk)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += len(data)

    def _rotate(self, ts: str) -> None:
        self._wait_compression()
        os.close(self.fd)
        ext = ".gz" if self.compress else ""
        if self.max_file < 2:
            _unlink(self.path)
        else:
            _unlink(f"{self.path}.{self.max_file - 1}{ext}")
            for i in range(self.max_file - 1, 1, -1):
                _rename(f"{self.path}.{i - 1}{ext}", f"{self.path}.{i}{ext}")
            _rename(self.path, self.path + ".1")
        self.fd = self._open(os.O_TRUNC)
        self.size = 0
        if self.compress:
            import threading  # lazily: the shim stays lean until it compresses
            self._compressing = threading.Thread(target=compress_file, args=(self.path + ".1", ts),
                                                 name="log-compress")
            self._compressing.start()

    def _wait_compression(self) -> None:
        if self._compressing is not None:
            self._compressing.join()
            self._compressing = None

    def close(self) -> None:
        os.close(self.fd)
        self._wait_compression()


def compress_file(name: str, last_time: str) -> None:
    """`name` -> `name.gz` (gzip, default level, FEXTRA {"lastTime"} as moby's), then unlink `name`;
    on failure the partial .gz goes and `name` stays, which readers then use."""
    import struct
    import zlib
    try:
        src = open(name, "rb")
    except FileNotFoundError:
        return
    with src:
        extra = json.dumps({"lastTime": last_time}, separators=(",", ":")).encode()
        # ID1 ID2 CM=deflate FLG=FEXTRA MTIME=0 XFL=0 OS=unknown (Go's gzip.Writer), XLEN, extra
        header = b"\x1f\x8b\x08\x04" + struct.pack("<IBBH", 0, 0, 255, len(extra)) + extra
        deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        crc = size = 0
        try:
            with open(name + ".gz", "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                out.write(header)
                while chunk := src.read(1 << 20):
                    crc, size = zlib.crc32(chunk, crc), size + len(chunk)
                    out.write(deflate.compress(chunk))
                out.write(deflate.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF))
        except OSError:
            _unlink(name + ".gz")
            return
    _unlink(name)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rename(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
    except FileNotFoundError:
        pass
