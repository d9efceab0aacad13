"""The on-disk store-and-forward spool of the InfluxDB writer: bounded, ordered, durable.

Layout of the spool directory (one writer per directory, enforced with a lock file):

* `NNNNNNNNNNNNNNNNNNNN.seg`: segment files, appended in order. Each holds records, one
  per spooled batch: a 32-byte header (magic `BWS1`, payload length, CRC-32 of the payload,
  points, oldest and newest point timestamp in ms) and the payload (line protocol lines
  joined by '\\n'). A new segment starts when the current one would pass `segment_bytes`.
* `cursor.json`: how far delivery got: segment, offset of the next record, lines of that
  record already delivered (a 413-split batch can be delivered in parts).
* `rejected.lp`: batches the server refused as malformed (400 etc.), for inspection; line
  protocol with `#` comment lines, at most REJECTED_MAX bytes (then rotated to `.1`).

Policies (the numbers are settings):

* Durability: appended batches are fsync'd before `append()`/`append_batches()` returns
  (one fsync per call; the writer spools at most once per flush interval while the server
  is down, so this is cheap); new and deleted segments fsync the directory.
  The cursor is replaced atomically (write + rename) after every
  acknowledged record and fsync'd on `close()`: after a power loss at most the records
  acknowledged since the last close may be sent again (InfluxDB overwrites identical
  points, so a repeat is harmless there).
* Size: the segment files never exceed `max_bytes` together. To make room, whole oldest
  segments are dropped first (Telegraf's and Zabbix's policy), and their undelivered
  points are counted as dropped with reason `spool_full`. A batch bigger than the whole
  spool is dropped itself.
* Age: records whose newest point is older than `max_age` are dropped (reason `max_age`).
* Disk errors (ENOSPC, EFBIG, EDQUOT): the partial write is truncated away, the oldest
  segment is dropped to make room and the write retried; when nothing older is left the
  batch is dropped (reason `disk_error`). Logged at WARNING once per episode.
* Corruption (a torn write at a crash, flipped bytes): the segment is cut at the last
  good record; points of a record that fails its CRC are dropped (reason `corrupt`).

Every method does blocking file I/O: the writer calls them through `asyncio.to_thread`.
The plain attributes `points`, `bytes`, `oldest_ts_ms` and `dropped` may be read from any
thread at any time without blocking (a scrape never waits for a disk).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HEADER = struct.Struct("<4sIIIqq")  # magic, payload length, crc32, points, min ts, max ts
MAGIC = b"BWS1"
SEGMENT_SUFFIX = ".seg"
CURSOR = "cursor.json"
LOCK = ".lock"
REJECTED = "rejected.lp"
REJECTED_MAX = 1 << 20  # bytes per rejected file (two files kept)
MAX_RECORD = 1 << 30  # a header claiming more is garbage
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class SpoolError(Exception):
    """The spool cannot be used (directory not writable, already locked by another writer)."""


@dataclass(slots=True)
class Segment:
    """One segment file as indexed at open (headers only) and kept up to date after."""

    seq: int
    path: Path
    size: int = 0  # bytes of valid records
    points: int = 0  # points of all its records
    max_ts: int | None = None  # newest point timestamp of all its records (ms)


@dataclass(frozen=True, slots=True)
class Record:
    """The next undelivered batch: its remaining lines and where it sits in the spool."""

    seq: int
    offset: int
    skip: int  # lines of this record delivered before (partial delivery)
    end: int  # offset of the record after it
    lines: list[bytes]  # the undelivered lines (after `skip`)
    min_ts: int
    max_ts: int


def segment_name(seq: int) -> str:
    """File name of segment `seq` (sorts in sequence order)."""
    return f"{seq:020d}{SEGMENT_SUFFIX}"


def default_segment_bytes(max_bytes: int) -> int:
    """Segments of 1/8 of the spool (at least 4 KiB, at most 4 MiB): drop granularity."""
    return max(4096, min(4 << 20, max_bytes // 8))


class Spool:
    """A bounded FIFO of line-protocol batches on disk; see the module docstring."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int,
                 max_age: float, segment_bytes: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.segment_bytes = min(segment_bytes or default_segment_bytes(max_bytes),
                                 max(1, max_bytes // 4))
        self._clock = clock
        self._lock = threading.Lock()
        self._segments: list[Segment] = []  # oldest first
        self._tail_fd: int | None = None  # open for append: the last segment
        self._next_seq = 1
        self._cursor = (0, 0, 0)  # (seq, offset, skip)
        self._consumed = 0  # points of the head segment before the cursor (skip included)
        self._lock_fd: int | None = None
        self._leased: Record | None = None  # handed out by peek(), not acked yet
        self._lease_dropped: str | None = None  # reason, when it was dropped while leased
        self._disk_episode = False
        # Read without the lock by anyone (self-metrics):
        self.points = 0  # undelivered points on disk
        self.bytes = 0  # bytes of the segment files
        self.oldest_ts_ms: int | None = None  # oldest undelivered point's timestamp
        self.dropped: dict[str, int] = {}  # reason → points dropped by the spool
        self.appended = 0  # points appended since open

    # ------------------------------------------------------------------ open / close

    def open(self) -> None:
        """Lock the directory, index the segments (headers only), load the cursor."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool directory {self.dir}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolError(f"spool directory {self.dir} is in use by another writer "
                             f"(locked)") from None
        self._lock_fd = fd
        with self._lock:
            self._cursor = self._read_cursor()
            self._next_seq = max(1, self._cursor[0])  # never reuse a delivered number
            found = sorted(p for p in self.dir.iterdir() if p.name.endswith(SEGMENT_SUFFIX)
                           and p.name[:-len(SEGMENT_SUFFIX)].isdigit())
            for path in found:
                seq = int(path.name[:-len(SEGMENT_SUFFIX)])
                self._next_seq = max(self._next_seq, seq + 1)
                if seq < self._cursor[0]:
                    self._unlink(path)  # delivered; a crash came before its deletion
                    continue
                self._segments.append(self._index(seq, path))
            if self._segments and self._segments[0].seq != self._cursor[0]:
                self._cursor = (self._segments[0].seq, 0, 0)
            self._consumed = self._consumed_points()
            self._drop_consumed_head()
            self._refresh()
        if self.points:
            log.info("spool %s holds %d points (%d bytes) from before the restart",
                     self.dir, self.points, self.bytes)

    def close(self) -> None:
        """Fsync and close the tail segment, persist the cursor, unlock the directory."""
        with self._lock:
            if self._tail_fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._tail_fd)
                os.close(self._tail_fd)
                self._tail_fd = None
            with contextlib.suppress(OSError):
                self._write_cursor(fsync=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    # ------------------------------------------------------------------ write side

    def append(self, lines: list[bytes], min_ts: int, max_ts: int) -> bool:
        """Store one batch durably (fsync'd); False if it had to be dropped (counted)."""
        return self.append_batches([(lines, min_ts, max_ts)])[0]

    def append_batches(self, batches: list[tuple[list[bytes], int, int]]) -> list[bool]:
        """Store batches in order with one fsync at the end; per batch, False if dropped."""
        stored = []
        with self._lock:
            if self._lock_fd is None:
                raise SpoolError("spool is closed")
            for lines, min_ts, max_ts in batches:
                stored.append(self._append_one(lines, min_ts, max_ts))
            if self._tail_fd is not None:
                try:
                    os.fsync(self._tail_fd)
                except OSError as exc:  # the data may be lost at a crash; say so
                    log.warning("fsync of the spool %s failed: %s", self.dir, exc.strerror)
            self._refresh()
        return stored

    def _append_one(self, lines: list[bytes], min_ts: int, max_ts: int) -> bool:
        if not lines:
            return True
        payload = b"\n".join(lines)
        record = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload), len(lines), min_ts,
                             max_ts) + payload
        if len(record) > self.max_bytes:
            self._count("spool_full", len(lines))
            log.warning("a batch of %d bytes is larger than the whole spool (%d bytes); "
                        "%d points dropped", len(record), self.max_bytes, len(lines))
            return False
        while True:
            self._make_room(len(record))
            try:
                self._write_tail(record, max_ts, len(lines))
            except OSError as exc:
                if exc.errno in DISK_FULL and self._segments:
                    self._drop_segment(0, "spool_full")  # oldest first, then retry
                    continue
                self._count("disk_error", len(lines))
                if not self._disk_episode:
                    self._disk_episode = True
                    log.warning("cannot write to the spool %s (%s): batches are dropped "
                                "(counted as disk_error) until writing works again",
                                self.dir, exc.strerror or exc)
                return False
            break
        if self._disk_episode:
            self._disk_episode = False
            log.info("writing to the spool %s works again", self.dir)
        self.appended += len(lines)
        return True

    def reject(self, lines: list[bytes], reason: str) -> None:
        """Keep a batch the server refused in rejected.lp (bounded; for a person to inspect)."""
        path = self.dir / REJECTED
        text = f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason}\n".encode() \
            + b"\n".join(lines) + b"\n"
        with self._lock:
            try:
                if path.exists() and path.stat().st_size + len(text) > REJECTED_MAX:
                    os.replace(path, self.dir / (REJECTED + ".1"))
                with open(path, "ab") as fh:
                    fh.write(text[:REJECTED_MAX])
            except OSError as exc:
                log.debug("cannot keep rejected points in %s: %s", path, exc.strerror)

    # ------------------------------------------------------------------ read side

    def peek(self) -> Record | None:
        """The oldest undelivered batch (expired and corrupt records skipped), or None."""
        with self._lock:
            if self._lock_fd is None:
                return None
            self._expire_segments()
            while self._segments:
                head = self._segments[0]
                _, offset, skip = self._cursor
                if offset >= head.size:
                    if not self._drop_consumed_head():
                        return None
                    continue
                try:
                    rec = self._read_record(head, offset, skip)
                except (OSError, ValueError) as exc:
                    log.warning("spool segment %s is damaged at byte %d (%s): the rest of it "
                                "is dropped", head.path.name, offset, exc)
                    self._drop_segment(0, "corrupt")
                    continue
                if rec.max_ts < self._cutoff():
                    self._advance(rec, len(rec.lines), "max_age")
                    continue
                self._leased = rec
                self._lease_dropped = None
                self._refresh()
                return rec
            self._refresh()
            return None

    def expire(self) -> None:
        """Drop whole segments whose newest point is older than max_age (counted)."""
        with self._lock:
            if self._lock_fd is None:
                return
            before = len(self._segments)
            self._expire_segments()
            if len(self._segments) != before:
                self._refresh()

    def ack(self, record: Record, lines_done: int | None = None) -> int:
        """Mark the first `lines_done` lines (default all) of a peeked record delivered.

        Returns the points newly acknowledged. If the record was dropped while it was being
        sent (spool full, too old), its delivered lines are taken back out of `dropped`.
        """
        done = len(record.lines) if lines_done is None else min(lines_done, len(record.lines))
        with self._lock:
            if self._leased is not record:
                return 0
            self._leased = None
            if self._lease_dropped is not None:
                reason = self._lease_dropped
                self.dropped[reason] = self.dropped.get(reason, 0) - done
                return done
            if self._cursor != (record.seq, record.offset, record.skip) or done <= 0:
                return 0
            self._advance(record, done, None)
            self._drop_consumed_head()
            self._refresh()
            return done

    # ------------------------------------------------------------------ internals

    def _cutoff(self) -> int:
        return int((self._clock() - self.max_age) * 1000)

    def _count(self, reason: str, points: int) -> None:
        if points > 0:
            self.dropped[reason] = self.dropped.get(reason, 0) + points

    def _advance(self, rec: Record, done: int, reason: str | None) -> None:
        """Move the cursor over `done` lines of `rec` (counted as dropped if reason)."""
        if reason is not None:
            self._count(reason, done)
        if rec.skip + done >= rec.skip + len(rec.lines):
            self._cursor = (rec.seq, rec.end, 0)
        else:
            self._cursor = (rec.seq, rec.offset, rec.skip + done)
        self._consumed += done
        self._write_cursor()

    def _drop_consumed_head(self) -> bool:
        """Delete the head segment if the cursor passed its end; True if one was deleted."""
        if not self._segments:
            return False
        head = self._segments[0]
        if self._cursor[0] != head.seq or self._cursor[1] < head.size:
            return False
        self._remove_segment(0)
        return True

    def _make_room(self, size: int) -> None:
        while self._segments and sum(s.size for s in self._segments) + size > self.max_bytes:
            self._drop_segment(0, "spool_full")

    def _drop_segment(self, index: int, reason: str) -> None:
        """Delete a segment, counting its undelivered points as dropped for `reason`."""
        seg = self._segments[index]
        undelivered = seg.points - (self._consumed if index == 0 else 0)
        self._count(reason, undelivered)
        if self._leased is not None and self._leased.seq == seg.seq:
            self._lease_dropped = reason
        if reason != "corrupt":
            log.debug("spool: dropped segment %s (%d points, %s)", seg.path.name, undelivered,
                      reason)
        self._remove_segment(index)

    def _remove_segment(self, index: int) -> None:
        seg = self._segments.pop(index)
        if index == len(self._segments) and self._tail_fd is not None:  # it was the tail
            os.close(self._tail_fd)
            self._tail_fd = None
        self._unlink(seg.path)
        if index == 0:
            nxt = self._segments[0].seq if self._segments else self._next_seq
            self._cursor = (nxt, 0, 0)
            self._consumed = 0
            self._write_cursor()

    def _expire_segments(self) -> None:
        cutoff = self._cutoff()
        while self._segments and self._segments[0].max_ts is not None \
                and self._segments[0].max_ts < cutoff:
            self._drop_segment(0, "max_age")

    def _write_tail(self, record: bytes, max_ts: int, points: int) -> None:
        tail = self._segments[-1] if self._segments else None
        if tail is None or (tail.size and tail.size + len(record) > self.segment_bytes):
            if self._tail_fd is not None:
                os.fsync(self._tail_fd)
                os.close(self._tail_fd)
                self._tail_fd = None
            tail = Segment(self._next_seq, self.dir / segment_name(self._next_seq))
            self._next_seq += 1
            fd = os.open(tail.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._segments.append(tail)
            self._tail_fd = fd
            self._fsync_dir()
            if len(self._segments) == 1:
                self._cursor = (tail.seq, 0, 0)
                self._consumed = 0
        if self._tail_fd is None:  # reopened after a restart
            self._tail_fd = os.open(tail.path, os.O_WRONLY | os.O_APPEND)
        fd = self._tail_fd
        try:
            view = memoryview(record)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, tail.size)  # never leave half a record behind
            if tail.size == 0:
                self._remove_segment(len(self._segments) - 1)
            raise
        tail.size += len(record)
        tail.points += points
        tail.max_ts = max_ts if tail.max_ts is None else max(tail.max_ts, max_ts)

    def _read_record(self, seg: Segment, offset: int, skip: int) -> Record:
        with open(seg.path, "rb") as fh:
            fh.seek(offset)
            header = fh.read(HEADER.size)
            _, length, crc, points, min_ts, max_ts = _unpack(header)
            payload = fh.read(length)
        if len(payload) != length or zlib.crc32(payload) != crc:
            raise ValueError("CRC mismatch" if len(payload) == length else "truncated")
        lines = payload.split(b"\n")
        if len(lines) != points:
            raise ValueError("line count does not match the header")
        return Record(seg.seq, offset, skip, offset + HEADER.size + length, lines[skip:],
                      min_ts, max_ts)

    def _index(self, seq: int, path: Path) -> Segment:
        """Index a segment by its headers; cut a torn or damaged tail off."""
        seg = Segment(seq, path)
        size = path.stat().st_size
        with open(path, "rb") as fh:
            while seg.size < size:
                header = fh.read(HEADER.size)
                try:
                    _, length, _, points, _, max_ts = _unpack(header)
                except ValueError as exc:
                    reason = str(exc)
                    break
                if seg.size + HEADER.size + length > size:
                    reason = "truncated record"
                    break
                fh.seek(length, os.SEEK_CUR)
                seg.size += HEADER.size + length
                seg.points += points
                seg.max_ts = max_ts if seg.max_ts is None else max(seg.max_ts, max_ts)
            else:
                return seg
        log.warning("spool segment %s: %s at byte %d; the %d bytes after it are dropped",
                    path.name, reason, seg.size, size - seg.size)
        self._count("corrupt", 1)  # at least one point; the rest cannot be known
        with open(path, "r+b") as fh:
            fh.truncate(seg.size)
            os.fsync(fh.fileno())
        return seg

    def _consumed_points(self) -> int:
        """Points of the head segment before the cursor (read from the headers)."""
        if not self._segments:
            return 0
        head = self._segments[0]
        seq, offset, skip = self._cursor
        total, pos = 0, 0
        with open(head.path, "rb") as fh:
            while pos < min(offset, head.size):
                _, length, _, points, _, _ = _unpack(fh.read(HEADER.size))
                fh.seek(length, os.SEEK_CUR)
                pos += HEADER.size + length
                total += points
        if pos != offset:  # the cursor points into the middle of a record: start over there
            self._cursor = (seq, pos if pos <= head.size else 0, 0)
            return total
        return total + skip

    def _read_cursor(self) -> tuple[int, int, int]:
        try:
            data = json.loads((self.dir / CURSOR).read_text())
            return int(data["segment"]), int(data["offset"]), int(data["skip"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0, 0

    def _write_cursor(self, fsync: bool = False) -> None:
        seq, offset, skip = self._cursor
        tmp = self.dir / (CURSOR + ".tmp")
        try:
            with open(tmp, "w") as fh:
                json.dump({"segment": seq, "offset": offset, "skip": skip}, fh)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, self.dir / CURSOR)
            if fsync:
                self._fsync_dir()
        except OSError as exc:
            # A full disk must not stop delivery; the in-memory cursor is right, and the
            # file is rewritten at the next ack. At worst a restart resends some points.
            log.debug("cannot write the spool cursor %s: %s", tmp, exc.strerror)

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _unlink(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            self._fsync_dir()

    def _refresh(self) -> None:
        """Update the lock-free attributes read by self-metrics."""
        self.bytes = sum(s.size for s in self._segments)
        self.points = max(0, sum(s.points for s in self._segments) - self._consumed)
        oldest = None
        if self._segments:
            offset = self._cursor[1]
            head = self._segments[0]
            if offset < head.size:
                with contextlib.suppress(OSError, ValueError), open(head.path, "rb") as fh:
                    fh.seek(offset)
                    oldest = _unpack(fh.read(HEADER.size))[4]
        self.oldest_ts_ms = oldest


def _unpack(header: bytes) -> tuple[bytes, int, int, int, int, int]:
    if len(header) != HEADER.size:
        raise ValueError("truncated header")
    magic, length, crc, points, min_ts, max_ts = HEADER.unpack(header)
    if magic != MAGIC or length > MAX_RECORD or points < 1 or points > length + 1:
        raise ValueError("bad record header")
    return magic, length, crc, points, min_ts, max_ts
