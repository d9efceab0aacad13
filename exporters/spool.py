"""The on-disk store-and-forward spool of the InfluxDB writer: bounded, ordered, durable.

Layout of the spool directory (one writer per directory, enforced with a lock file):

* `NNNNNNNNNNNNNNNNNNNN.seg`: segment files, appended in order. Each holds records, one
  per spooled batch, in the format of exporters/spool_format.py (sync marker, header CRC,
  body CRC, point sequence numbers). A new segment starts when the current one would
  pass `segment_bytes`.
* `cursor.json`: how far delivery got: segment, offset of the next record, lines of that
  record already delivered (a 413-split batch can be delivered in parts), and the
  sequence number of the next undelivered point.
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
* Corruption (a torn write at a crash, flipped or zeroed bytes, a damaged length): found
  when the spool is opened, which reads every segment and checks every record. Only the
  damaged records are lost: the reader resynchronises on the next intact record, counts
  the lost points exactly (reason `corrupt`; see spool_format.py for the one estimated
  case) and rewrites the segment without them, so that nothing is counted twice. Damage
  that appears while the spool is open is found when the record is read (its points,
  from the index, are counted the same way).

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
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from borderwatch.exporters import spool_format
from borderwatch.exporters.spool_format import Entry

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".seg"
CURSOR = "cursor.json"
LOCK = ".lock"
REJECTED = "rejected.lp"
REJECTED_MAX = 1 << 20  # bytes per rejected file (two files kept)
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class SpoolError(Exception):
    """The spool cannot be used (directory not writable, already locked by another writer)."""


@dataclass(slots=True)
class Segment:
    """One segment file: the index of its intact records, kept up to date after open."""

    seq: int
    path: Path
    entries: list[Entry] = field(default_factory=list)
    size: int = 0  # bytes of the file
    points: int = 0  # points of all its records
    max_ts: int | None = None  # newest point timestamp of all its records (ms)
    legacy: bool = False  # format 1: read, never appended to

    def add(self, entry: Entry) -> None:
        """Index one more record (appended, or found at open)."""
        self.entries.append(entry)
        self.points += entry.points
        self.max_ts = entry.max_ts if self.max_ts is None else max(self.max_ts, entry.max_ts)


@dataclass(frozen=True, slots=True)
class Record:
    """The next undelivered batch: its remaining lines and where it sits in the spool."""

    seq: int  # segment
    index: int  # of the record in its segment
    skip: int  # lines of this record delivered before (partial delivery)
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
        self._next_seq = 1  # next segment number
        self._next_point = 0  # sequence number of the next point appended
        self._cursor = (0, 0, 0)  # (segment, record index, skip)
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
        """Lock the directory, read and check every segment, load the cursor."""
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
            try:
                self._load()
            except OSError as exc:
                self._lock_fd = None
                os.close(fd)
                raise SpoolError(f"spool directory {self.dir}: cannot read it: "
                                 f"{exc.strerror or exc}") from None
            self._refresh()
        if self.points:
            log.info("spool %s holds %d points (%d bytes) from before the restart",
                     self.dir, self.points, self.bytes)

    def _load(self) -> None:
        """Index every segment (resynchronising over damage, counting it), place the cursor."""
        cur_seg, cur_offset, cur_skip, cur_point, cur_end = self._read_cursor()
        self._next_seq = max(1, cur_seg)  # never reuse a delivered number
        for left in self.dir.glob("*.tmp"):  # a rewrite cut short by a crash
            if left.stem.isdigit():
                self._unlink(left)
        found = sorted(p for p in self.dir.iterdir() if p.name.endswith(SEGMENT_SUFFIX)
                       and p.name[:-len(SEGMENT_SUFFIX)].isdigit())
        indexed: list[tuple[Segment, bytes, spool_format.Index]] = []
        # Damage running to the end of a segment with no intact record after it: counted
        # from the first sequence number found after it, in this or a later segment.
        open_damage: list[tuple[bytes, spool_format.Index]] = []
        carry: int | None = cur_point  # sequence number expected next
        for path in found:
            seq = int(path.name[:-len(SEGMENT_SUFFIX)])
            self._next_seq = max(self._next_seq, seq + 1)
            if seq < cur_seg:
                self._unlink(path)  # delivered; a crash came before its deletion
                continue
            data = path.read_bytes()
            idx = spool_format.index(data, carry)
            if open_damage and idx.first_seq is not None:
                self._settle(open_damage, idx.first_seq)
            if idx.damages and idx.damages[-1].points is None:
                open_damage.append((data, idx))
            carry = None if idx.legacy else idx.next_seq
            seg = Segment(seq, path, size=len(data), legacy=idx.legacy)
            for entry in idx.entries:
                seg.add(entry)
            indexed.append((seg, data, idx))
        if indexed:
            self._settle_newest(indexed[-1], open_damage, cur_end)
        self._cursor = (cur_seg, 0, 0)
        for seg, data, idx in indexed:
            head = not self._segments
            offset = cur_offset if head and seg.seq == cur_seg else 0
            if head:
                self._place_cursor(seg, offset, cur_skip if seg.seq == cur_seg else 0)
            if idx.damages:
                self._count_damage(seg, idx, offset,
                                   cur_point if head and seg.seq == cur_seg else None)
                try:
                    self._rewrite(seg, data)
                except OSError as exc:  # e.g. a full disk: read it in place, damage and all
                    log.warning("cannot rewrite the damaged spool segment %s (%s): its "
                                "damage will be counted again at the next start",
                                seg.path.name, exc.strerror or exc)
            self._segments.append(seg)
            ends = [e.seq + e.points for e in seg.entries]
            self._next_point = max([self._next_point, *ends])
            if idx.next_seq is not None and not idx.legacy:
                self._next_point = max(self._next_point, idx.next_seq)
        # Not cur_end: points lost at the end were counted now and must not be again.
        self._next_point = max(self._next_point, cur_point or 0)
        if not self._segments:
            self._cursor = (self._next_seq, 0, 0)
        self._consumed = self._consumed_points()
        self._drop_consumed_head()
        self._write_cursor()

    @staticmethod
    def _settle(open_damage: list[tuple[bytes, spool_format.Index]], next_seq: int) -> None:
        """Count open damage from the sequence number of the next intact record: all its
        points go to the first region (the others are its continuation)."""
        first = True
        for _, idx in open_damage:
            d = idx.damages[-1]
            points = 0
            if first and idx.next_seq is not None:
                points = max(0, next_seq - idx.next_seq)
            first = False
            idx.damages[-1] = spool_format.Damage(d.start, d.end, points, d.reason, d.seq)
        open_damage.clear()

    def _settle_newest(self, newest: tuple[Segment, bytes, spool_format.Index],
                       open_damage: list[tuple[bytes, spool_format.Index]],
                       end: int | None) -> None:
        """Count damage at the end of the newest segment from the sequence number the
        cursor file says the next append would have had (written after every append), or,
        without one, from what is left of the damaged header."""
        seg, _, idx = newest
        if open_damage:
            start = open_damage[0][1].next_seq
            if end is not None and start is not None:
                self._settle(open_damage, end)
            else:
                tail_data, tail_idx = open_damage[0]
                self._settle(open_damage, 0)
                d = tail_idx.damages[-1]
                tail_idx.damages[-1] = spool_format.Damage(
                    d.start, d.end, spool_format.tail_points(tail_data, d), d.reason, d.seq)
        elif not idx.legacy and end is not None and idx.next_seq is not None \
                and end > idx.next_seq:  # cut exactly at a record boundary
            idx.damages.append(spool_format.Damage(seg.size, seg.size, end - idx.next_seq,
                                                   "records missing at the end",
                                                   idx.next_seq))

    def _place_cursor(self, seg: Segment, offset: int, skip: int) -> None:
        """Point the cursor at the record at `offset` (or the first one after it)."""
        for i, entry in enumerate(seg.entries):
            if entry.offset >= offset:
                keep = skip if entry.offset == offset and skip < entry.points else 0
                self._cursor = (seg.seq, i, keep)
                return
        self._cursor = (seg.seq, len(seg.entries), 0)

    def _count_damage(self, seg: Segment, idx: spool_format.Index, cursor_offset: int,
                      cursor_point: int | None) -> None:
        """Count the points of damaged regions not yet delivered, and say where they were.

        In the head segment, points before the cursor were delivered before the damage
        happened: a region is counted from the cursor's sequence number on when both are
        known, else not at all when it lies wholly before the cursor's offset.
        """
        lost = 0
        for d in idx.damages:
            points = d.points or 0
            if cursor_point is not None and d.seq is not None:
                points = max(0, min(points, d.seq + points - cursor_point))
            elif d.start < cursor_offset and d.end <= cursor_offset:
                continue  # delivered before the damage happened
            if not points:
                continue
            lost += points
            log.warning("spool segment %s is damaged at bytes %d-%d (%s): %d points lost; "
                        "reading goes on at the next intact record", seg.path.name, d.start,
                        d.end, d.reason, points)
        self._count("corrupt", lost)

    def _rewrite(self, seg: Segment, data: bytes) -> None:
        """Replace a damaged segment by its intact records, so its damage is counted once."""
        if seg.legacy and seg.entries:
            # Keep format 1 as it was, cut at the damage (its records are read in place).
            body = data[:seg.entries[-1].end]
            entries = seg.entries
        else:
            body = b"".join(e.raw(data) for e in seg.entries)
            entries, pos = [], 0
            for e in seg.entries:
                shift = pos - e.offset
                entries.append(Entry(pos, e.body + shift, e.end + shift, e.points, e.seq,
                                     e.min_ts, e.max_ts, e.crc))
                pos = e.end + shift
        tmp = seg.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, seg.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fsync_dir()
        seg.entries = entries
        seg.size = len(body)

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
            self._write_cursor()  # its `end` lets a restart count records lost at the tail
            self._refresh()
        return stored

    def _append_one(self, lines: list[bytes], min_ts: int, max_ts: int) -> bool:
        if not lines:
            return True
        record = spool_format.encode(lines, self._next_point, min_ts, max_ts)
        if len(record) > self.max_bytes:
            self._count("spool_full", len(lines))
            log.warning("a batch of %d bytes is larger than the whole spool (%d bytes); "
                        "%d points dropped", len(record), self.max_bytes, len(lines))
            return False
        while True:
            self._make_room(len(record))
            try:
                self._write_tail(record, len(lines), min_ts, max_ts)
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
        self._next_point += len(lines)
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
                _, index, skip = self._cursor
                if index >= len(head.entries):
                    if not self._drop_consumed_head():
                        return None
                    continue
                entry = head.entries[index]
                try:
                    lines = self._read_lines(head, entry)
                except (OSError, ValueError) as exc:
                    log.warning("spool segment %s is damaged at byte %d (%s): %d points of "
                                "that record lost", head.path.name, entry.offset, exc,
                                entry.points - skip)
                    self._advance(entry, entry.points - skip, "corrupt")
                    continue
                rec = Record(head.seq, index, skip, lines[skip:], entry.min_ts, entry.max_ts)
                if rec.max_ts < self._cutoff():
                    self._advance(entry, len(rec.lines), "max_age")
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
            if self._cursor != (record.seq, record.index, record.skip) or done <= 0:
                return 0
            self._advance(self._segments[0].entries[record.index], done, None)
            self._drop_consumed_head()
            self._refresh()
            return done

    # ------------------------------------------------------------------ internals

    def _cutoff(self) -> int:
        return int((self._clock() - self.max_age) * 1000)

    def _count(self, reason: str, points: int) -> None:
        if points > 0:
            self.dropped[reason] = self.dropped.get(reason, 0) + points

    def _advance(self, entry: Entry, done: int, reason: str | None) -> None:
        """Move the cursor over `done` points of the head record (counted if reason)."""
        if reason is not None:
            self._count(reason, done)
        seg, index, skip = self._cursor
        if skip + done >= entry.points:
            self._cursor = (seg, index + 1, 0)
        else:
            self._cursor = (seg, index, skip + done)
        self._consumed += done
        self._write_cursor()

    def _drop_consumed_head(self) -> bool:
        """Delete the head segment if the cursor passed its end; True if one was deleted."""
        if not self._segments:
            return False
        head = self._segments[0]
        if self._cursor[0] != head.seq or self._cursor[1] < len(head.entries):
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

    def _write_tail(self, record: bytes, points: int, min_ts: int, max_ts: int) -> None:
        tail = self._segments[-1] if self._segments else None
        if tail is None or tail.legacy or \
                (tail.size and tail.size + len(record) > self.segment_bytes):
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
        body = tail.size + spool_format.HEADER.size
        tail.add(Entry(tail.size, body, tail.size + len(record), points, self._next_point,
                       min_ts, max_ts, zlib.crc32(record[spool_format.HEADER.size:])))
        tail.size += len(record)

    def _read_lines(self, seg: Segment, entry: Entry) -> list[bytes]:
        """The lines of an indexed record; ValueError if it no longer checks out."""
        with open(seg.path, "rb") as fh:
            fh.seek(entry.body)
            body = fh.read(entry.end - entry.body)
        if len(body) != entry.end - entry.body:
            raise ValueError("truncated")
        if zlib.crc32(body) != entry.crc:
            raise ValueError("CRC mismatch")
        lines = spool_format.body_lines(body, entry.points)
        if lines is None:
            raise ValueError("line count does not match the header")
        return lines

    def _consumed_points(self) -> int:
        """Points of the head segment before the cursor."""
        if not self._segments or self._segments[0].seq != self._cursor[0]:
            return 0
        _, index, skip = self._cursor
        return sum(e.points for e in self._segments[0].entries[:index]) + skip

    def _cursor_position(self) -> tuple[int, int, int, int]:
        """(segment, offset, skip, sequence number of the next undelivered point)."""
        seq, index, skip = self._cursor
        head = self._segments[0] if self._segments else None
        if head is not None and head.seq == seq and index < len(head.entries):
            entry = head.entries[index]
            return seq, entry.offset, skip, entry.seq + skip
        offset = head.size if head is not None and head.seq == seq else 0
        return seq, offset, 0, self._next_point

    def _read_cursor(self) -> tuple[int, int, int, int | None, int | None]:
        """(segment, offset, skip, next undelivered point, next point to append); the
        last two are None in a cursor file written before format 2."""
        try:
            data = json.loads((self.dir / CURSOR).read_text())
            point, end = data.get("seq"), data.get("end")
            return (int(data["segment"]), int(data["offset"]), int(data["skip"]),
                    None if point is None else int(point), None if end is None else int(end))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 0, 0, 0, None, None

    def _write_cursor(self, fsync: bool = False) -> None:
        seq, offset, skip, point = self._cursor_position()
        tmp = self.dir / (CURSOR + ".tmp")
        try:
            with open(tmp, "w") as fh:
                json.dump({"segment": seq, "offset": offset, "skip": skip, "seq": point,
                           "end": self._next_point}, fh)
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
        """Update the lock-free attributes read by self-metrics (no file I/O)."""
        self.bytes = sum(s.size for s in self._segments)
        self.points = max(0, sum(s.points for s in self._segments) - self._consumed)
        oldest = None
        if self._segments:
            head = self._segments[0]
            index = self._cursor[1]
            if self._cursor[0] == head.seq and index < len(head.entries):
                oldest = head.entries[index].min_ts
        self.oldest_ts_ms = oldest
