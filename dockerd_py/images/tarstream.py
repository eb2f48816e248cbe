"""A lean streaming tar reader for the layer-extraction hot loop.

`tarfile` costs tens of microseconds of Python per member (TarInfo objects,
checksum twice, per-read buffering); a rootfs has thousands of members. This
reader parses the headers Docker's archive/tar understands (ustar, GNU long
names `L`/`K`, PAX `x`/`g` with SCHILY.xattr.*) straight from 1 MiB chunks
and hands payloads out as memoryview slices of those chunks, so file data is
copied once, into the file. Sparse files (GNU `S`, PAX GNU.sparse.*) are
refused: a layer keeping them could not be rebuilt byte for byte by `docker save`.

A stream that ends inside a member is an error; the archive ends at two zero
blocks, at end of stream on a header boundary, or (as with tarfile, which
this replaces) at a header with a bad checksum after the first one: the rest
is still hashed, so a damaged layer fails its diff id check.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Iterator

from .. import errors

BLOCK = 512
CHUNK = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)

REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT = b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"
REGULAR = (REG, AREG, CONT)
_NO_DATA = (LNK, SYM, CHR, BLK, DIR, FIFO)   # the size field of these says nothing about data
_KNOWN = REGULAR + _NO_DATA
_PAX, _PAX_GLOBAL, _LONGNAME, _LONGLINK, _SPARSE = b"x", b"g", b"L", b"K", b"S"


def _bad(msg: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(f"invalid tar: {msg}")


def _num(field: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 (high bit of the first byte)."""
    if field and field[0] & 0x80:
        n = int.from_bytes(field[1:], "big") | ((field[0] & 0x7F) << (8 * (len(field) - 1)))
        if field[0] == 0xFF:   # negative (two's complement)
            n -= 1 << (8 * len(field) - 1)
        return n
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise _bad(f"invalid number field {field!r}") from None


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(blk: bytes) -> bool:
    try:
        stored = _num(blk[148:156])
    except errors.InvalidParameter:
        return False
    unsigned = sum(blk) - sum(blk[148:156]) + 256   # the chksum field counts as 8 spaces
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in blk[:148] + blk[156:]) + 256
    return stored == signed


def _pax_time_ns(text: str) -> int:
    """A PAX time ("1700000000.123456789") in nanoseconds, exactly."""
    sec, _, frac = text.strip().partition(".")
    try:
        neg = sec.startswith("-")
        whole = int(sec or "0")
        ns = int((frac + "000000000")[:9]) if frac else 0
    except ValueError:
        raise _bad(f"invalid PAX time {text!r}") from None
    return whole * 1_000_000_000 + (-ns if neg else ns)


def _parse_pax(data: bytes, into: dict[str, bytes]) -> None:
    """PAX records "<len> <key>=<value>\\n" (values kept as bytes)."""
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos)
        if sp < 0:
            raise _bad("invalid PAX record")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise _bad("invalid PAX record") from None
        rec = data[sp + 1:pos + length]
        if length <= 0 or pos + length > len(data) or not rec.endswith(b"\n") or b"=" not in rec:
            raise _bad("invalid PAX record")
        key, value = rec[:-1].split(b"=", 1)
        into[key.decode("utf-8", "surrogateescape")] = value
        pos += length


class Member:
    """One tar entry, as far as layer extraction needs it."""

    __slots__ = ("name", "linkname", "type", "mode", "uid", "gid", "size", "mtime_ns", "atime_ns",
                 "devmajor", "devminor", "xattrs", "offset", "offset_data")

    def __init__(self) -> None:
        self.xattrs: list[tuple[str, bytes]] = []

    def isreg(self) -> bool:
        return self.type in REGULAR

    def isdir(self) -> bool:
        return self.type == DIR

    def issym(self) -> bool:
        return self.type == SYM

    def islnk(self) -> bool:
        return self.type == LNK


class TarStream:
    """Reads members from an uncompressed tar stream; payloads are consumed through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._buf = b""
        self._mv = memoryview(b"")
        self._pos = 0            # read position in _buf
        self._offset = 0         # stream offset of _buf[0]
        self._left = 0           # payload bytes of the current member not consumed yet
        self._pad = 0            # padding after that payload
        self._globals: dict[str, bytes] = {}
        self._done = False

    @property
    def offset(self) -> int:
        return self._offset + self._pos

    def _refill(self) -> bool:
        data = self._raw.read(CHUNK)
        if not data:
            return False
        self._offset += len(self._buf)
        self._buf, self._mv, self._pos = data, memoryview(data), 0
        return True

    def _take(self, n: int) -> bytes:
        """Exactly n bytes (fewer only at end of stream)."""
        end = self._pos + n
        if end <= len(self._buf):
            out = self._buf[self._pos:end]
            self._pos = end
            return out
        parts = [self._buf[self._pos:]]
        got = len(parts[0])
        self._pos = len(self._buf)
        while got < n and self._refill():
            part = self._buf[:n - got]
            self._pos = len(part)
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n:
            if self._pos >= len(self._buf) and not self._refill():
                raise _bad("unexpected EOF")
            step = min(n, len(self._buf) - self._pos)
            self._pos += step
            n -= step

    def chunks(self) -> Iterator[memoryview]:
        """The current member's payload, in slices of the read buffer (valid until the next one)."""
        while self._left:
            if self._pos >= len(self._buf) and not self._refill():
                raise _bad("unexpected EOF")
            step = min(self._left, len(self._buf) - self._pos)
            out = self._mv[self._pos:self._pos + step]
            self._pos += step
            self._left -= step
            yield out

    def write_to(self, fd: int) -> None:
        """Write the current member's payload to `fd`."""
        for view in self.chunks():
            while view:
                view = view[os.write(fd, view):]

    def _finish_member(self) -> None:
        self._skip(self._left + self._pad)
        self._left = self._pad = 0

    def _data(self, size: int) -> bytes:
        data = self._take(size)
        if len(data) < size:
            raise _bad("unexpected EOF")
        self._skip(-size % BLOCK)
        return data

    def __iter__(self) -> Iterator[Member]:
        while True:
            m = self.next()
            if m is None:
                return
            yield m

    def next(self) -> Member | None:
        """The next member (its payload unread), or None at the end of the archive."""
        self._finish_member()
        if self._done:
            return None
        start = self.offset
        pax: dict[str, bytes] = {}
        longname = longlink = None
        while True:
            blk = self._take(BLOCK)
            if not blk:
                self._done = True
                return None
            if len(blk) < BLOCK:
                raise _bad("unexpected EOF" if self.offset > len(blk) else "invalid tar header")
            if blk == _ZERO_BLOCK:
                if pax or longname is not None or longlink is not None:
                    raise _bad("unexpected EOF")
                nxt = self._take(BLOCK)
                if nxt and nxt != _ZERO_BLOCK:
                    raise _bad("invalid tar header")
                self._done = True
                return None
            if not _checksum_ok(blk):
                if self.offset == BLOCK:
                    raise errors.InvalidParameter("invalid tar header: bad checksum")
                self._done = True   # as tarfile: a bad header after the first one ends the archive
                return None
            kind = blk[156:157]
            size = _num(blk[124:136])
            if size < 0:
                raise _bad("negative size")
            if kind in (_PAX, _PAX_GLOBAL):
                target = self._globals if kind == _PAX_GLOBAL else pax
                _parse_pax(self._data(size), target)
                continue
            if kind in (_LONGNAME, _LONGLINK):
                text = _str(self._data(size))
                if kind == _LONGNAME:
                    longname = text
                else:
                    longlink = text
                continue
            break
        if kind == _SPARSE or any(k.startswith("GNU.sparse.") for k in pax):
            raise errors.InvalidParameter("invalid layer: sparse files are not supported")
        if kind not in _KNOWN:
            raise errors.InvalidParameter(f"unhandled tar header type {kind.decode('latin-1')!r}")
        if self._globals:
            pax = {**self._globals, **pax}
        m = Member()
        name = _str(blk[0:100])
        if blk[257:263] == b"ustar\x00":   # POSIX ustar: a prefix may hold the leading part
            prefix = _str(blk[345:500])
            if prefix:
                name = prefix + "/" + name
        if longname is not None:
            name = longname
        if "path" in pax:
            name = pax["path"].decode("utf-8", "surrogateescape")
        if kind == AREG and name.endswith("/"):
            kind = DIR
        if kind == DIR:
            name = name.rstrip("/")
        m.name = name
        m.type = kind
        m.linkname = (pax["linkpath"].decode("utf-8", "surrogateescape") if "linkpath" in pax
                      else longlink if longlink is not None else _str(blk[157:257]))
        m.mode = _num(blk[100:108])
        m.uid = int(pax["uid"]) if "uid" in pax else _num(blk[108:116])
        m.gid = int(pax["gid"]) if "gid" in pax else _num(blk[116:124])
        if "size" in pax:
            size = int(pax["size"])
        m.size = size
        m.mtime_ns = (_pax_time_ns(pax["mtime"].decode()) if "mtime" in pax
                      else _num(blk[136:148]) * 1_000_000_000)
        m.atime_ns = _pax_time_ns(pax["atime"].decode()) if "atime" in pax else m.mtime_ns
        m.devmajor = _num(blk[329:337])
        m.devminor = _num(blk[337:345])
        if pax:
            m.xattrs = [(k[13:], v) for k, v in pax.items() if k.startswith("SCHILY.xattr.")]
        m.offset = start
        m.offset_data = self.offset
        data_size = 0 if kind in _NO_DATA else size
        self._left, self._pad = data_size, -data_size % BLOCK
        return m
