"""The spool's on-disk record format: encoding, and indexing a segment with resynchronisation.

A record (format 2, magic `BWS2`) is a 44-byte header and a body:

    magic "BWS2" | header CRC-32 | body length | points | first point's sequence number |
    oldest ts (ms) | newest ts (ms) | body CRC-32        (little endian; then the body)

The header CRC covers the 36 header bytes after it; the body CRC covers the body (line
protocol lines joined by '\\n'). Every point ever spooled has a sequence number one
higher than the one before it (across segments and restarts), and each header names its
first one. Why:

* The magic plus a header CRC let a reader find the next intact record after damage
  (scan for the magic, accept only a header whose CRC holds): one flipped byte or a
  flipped length costs that record, not the rest of the segment.
* The sequence numbers make the count of lost points exact even where a header is gone:
  the points between the last intact record before a damaged region and the first one
  after it are `next.seq - (prev.seq + prev.points)`, however many records the damage
  swallowed. Only a damaged region at the very end of the newest segment has nothing
  after it; there the count comes from what is left of its header (see `tail_points`).

Format 1 (magic `BWS1`, a 32-byte header without header CRC or sequence numbers, written
before 2026-12) is still read, so an upgrade keeps a non-empty spool; new records are
always format 2, in new segments. In a format-1 segment the first damage drops the rest
of that segment, as format 1 always did.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"BWS2"
HEADER = struct.Struct("<4sIIIQqqI")  # magic, header crc, length, points, seq, min, max, crc
LEGACY_MAGIC = b"BWS1"
LEGACY_HEADER = struct.Struct("<4sIIIqq")  # magic, length, crc32 of the body, points, min, max
MAX_RECORD = 1 << 30  # a header claiming a longer body is garbage


@dataclass(frozen=True, slots=True)
class Entry:
    """One intact record of a segment: where it is and what its header says."""

    offset: int  # of the header
    body: int  # offset of the body
    end: int  # offset after the body
    points: int
    seq: int  # sequence number of its first point
    min_ts: int
    max_ts: int
    crc: int  # CRC-32 of the body

    def raw(self, data: bytes) -> bytes:
        """The record's bytes (header and body) out of its segment's bytes."""
        return data[self.offset:self.end]


@dataclass(frozen=True, slots=True)
class Damage:
    """A damaged region [start, end) of a segment and the points it held.

    `points` is None when they cannot be known from this segment alone: damage at its end
    with no intact record after it (the caller asks the next segment, or `tail_points`).
    """

    start: int
    end: int
    points: int | None
    reason: str
    seq: int | None = None  # sequence number of its first point, if known


@dataclass(slots=True)
class Index:
    """What a segment holds: intact records, damaged regions, the sequence after the last."""

    entries: list[Entry]
    damages: list[Damage]
    next_seq: int | None  # first sequence number after the last intact record, or at the
    # start of the damage that ends the segment (None: unknown)
    first_seq: int | None = None  # of the first record whose header holds (None: none)
    legacy: bool = False


def encode(lines: list[bytes], seq: int, min_ts: int, max_ts: int) -> bytes:
    """One format-2 record holding `lines`, whose first point has sequence number `seq`."""
    body = b"\n".join(lines)
    rest = HEADER.pack(MAGIC, 0, len(body), len(lines), seq, min_ts, max_ts,
                       zlib.crc32(body))[8:]
    return MAGIC + struct.pack("<I", zlib.crc32(rest)) + rest + body


def body_lines(body: bytes, points: int) -> list[bytes] | None:
    """The lines of a record body; None if their number is not what the header says."""
    lines = body.split(b"\n")
    return lines if len(lines) == points else None


def _header(data: bytes, pos: int) -> Entry | None:
    """The format-2 header at `pos` if its magic and CRC hold (the body is not checked)."""
    raw = data[pos:pos + HEADER.size]
    if len(raw) != HEADER.size or raw[:4] != MAGIC:
        return None
    _, hcrc, length, points, seq, min_ts, max_ts, crc = HEADER.unpack(raw)
    if zlib.crc32(raw[8:]) != hcrc or length > MAX_RECORD or not 1 <= points <= length + 1:
        return None
    body = pos + HEADER.size
    return Entry(pos, body, body + length, points, seq, min_ts, max_ts, crc)


def _intact(data: bytes, e: Entry) -> bool:
    body = data[e.body:e.end]
    return len(body) == e.end - e.body and zlib.crc32(body) == e.crc \
        and body.count(b"\n") + 1 == e.points


def index(data: bytes, seq: int | None) -> Index:
    """Index a segment's bytes: intact records, and damaged regions with their points.

    `seq` is the sequence number expected at the start (the end of the previous segment),
    None if unknown. A damaged region is counted exactly from the sequence numbers around
    it; one whose header still holds is counted from its header.
    """
    if data[:4] == LEGACY_MAGIC:
        return _legacy_index(data, seq)
    entries: list[Entry] = []
    damages: list[Damage] = []
    pos, n = 0, len(data)
    gap: int | None = None  # start of a region without a valid header
    gap_seq = seq  # the sequence number at its start
    first_seq: int | None = None
    while pos < n:
        e = _header(data, pos)
        if e is None:
            if gap is None:
                gap, gap_seq = pos, seq
            nxt = data.find(MAGIC, pos + 1)
            pos = nxt if nxt >= 0 else n
            continue
        if first_seq is None:
            first_seq = e.seq
        if gap is not None:
            lost = None if gap_seq is None else max(0, e.seq - gap_seq)
            damages.append(Damage(gap, pos, lost, "damaged header", gap_seq))
            gap = None
        if _intact(data, e):
            entries.append(e)
            seq = e.seq + e.points
            pos = e.end
            continue
        # The header holds, so its point count is right; the body does not.
        damages.append(Damage(pos, min(e.end, n), e.points,
                              "truncated record" if e.end > n else "CRC mismatch", e.seq))
        seq = e.seq + e.points
        pos = min(e.end, n)
    if gap is not None:
        damages.append(Damage(gap, n, None, "damaged header", gap_seq))
    return _open_end(Index(entries, damages, seq, first_seq))


def _open_end(idx: Index) -> Index:
    """Damage reaching the end of a segment may have taken whole records after it (a cut
    exactly between two records leaves no trace): merge the damage after the last intact
    record into one region whose points the next sequence number will tell."""
    if not idx.damages or (idx.entries and idx.damages[-1].start < idx.entries[-1].end):
        return idx
    after = idx.entries[-1].end if idx.entries else -1
    trailing = [d for d in idx.damages if d.start >= after]
    start_seq = idx.entries[-1].seq + idx.entries[-1].points if idx.entries \
        else trailing[0].seq
    merged = Damage(trailing[0].start, trailing[-1].end, None,
                    ", ".join(dict.fromkeys(d.reason for d in trailing)), start_seq)
    return Index(idx.entries, [*idx.damages[:len(idx.damages) - len(trailing)], merged],
                 start_seq, idx.first_seq)


def tail_points(data: bytes, damage: Damage) -> int:
    """Points of a damaged region at the very end of the newest segment (nothing follows).

    Read from the point count of what is left of its header when that field survived and
    is plausible (a crash during an append leaves such a torn record: its append had not
    returned, so those points were never reported as spooled), else 1: at least one point
    was there.
    """
    raw = data[damage.start:damage.end]
    if raw[:4] == MAGIC and len(raw) >= 16:
        points = struct.unpack_from("<I", raw, 12)[0]
        if 1 <= points <= len(raw):
            return points
    return 1


def _legacy_index(data: bytes, seq: int | None) -> Index:
    """Index a format-1 segment: records up to the first damage; the rest is lost."""
    entries: list[Entry] = []
    seq = 0 if seq is None else seq
    pos, n = 0, len(data)
    while pos < n:
        raw = data[pos:pos + LEGACY_HEADER.size]
        reason = "truncated header"
        points: int | None = None
        if len(raw) == LEGACY_HEADER.size:
            magic, length, crc, points, min_ts, max_ts = LEGACY_HEADER.unpack(raw)
            body = pos + LEGACY_HEADER.size
            e = Entry(pos, body, body + length, points, seq, min_ts, max_ts, crc)
            if magic != LEGACY_MAGIC or length > MAX_RECORD or not 1 <= points <= length + 1:
                reason, points = "bad record header", None
            elif _intact(data, e):
                entries.append(e)
                seq += points
                pos = e.end
                continue
            else:
                reason = "truncated record" if e.end > n else "CRC mismatch"
        # Format 1 cannot resynchronise: the rest of the segment is lost.
        return Index(entries, [Damage(pos, n, points if points else 1, reason)], seq,
                     legacy=True)
    return Index(entries, [], seq, legacy=True)
