"""Torn and damaged spool segments (issue 11, point 5), property-based: whatever is done to
a segment (truncated, bytes flipped, a run zeroed, a record's length field flipped), every
intact record is replayed exactly once and in order, only the damaged records are lost,
and the `corrupt` counter equals their points exactly. Plus the upgrade from format 1."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_spool import batch, drain, opened

from borderwatch.exporters.spool_format import HEADER, LEGACY_HEADER, LEGACY_MAGIC

SEGMENT_BYTES = 2048

Op = tuple[str, float, int]

ops = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 3)),
    st.tuples(st.just("zero"), st.floats(0, 1, exclude_max=True), st.integers(1, 300)),
    st.tuples(st.just("length"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
)
truncations = st.none() | st.floats(0, 1, exclude_max=True)


def layout(directory: Path) -> list[tuple[Path, int, int]]:
    """(segment, start, end) of every record, oldest first, read with the documented
    format (not with the code under test): a 44-byte header whose bytes 8-11 are the body
    length."""
    records = []
    for path in sorted(directory.glob("*.seg")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            end = pos + HEADER.size + struct.unpack_from("<I", data, pos + 8)[0]
            records.append((path, pos, end))
            pos = end
    return records


def damage(data: bytes, records: list[tuple[int, int]], changes: list[Op],
           cut: float | None) -> bytes:
    out = bytearray(data)
    for kind, where, n in changes:
        pos = int(where * len(out))
        if kind == "flip":
            for i in range(pos, min(pos + n, len(out))):
                out[i] ^= 0xA5
        elif kind == "zero":
            out[pos:pos + n] = bytes(len(out[pos:pos + n]))
        else:  # a record's length field
            start, _ = records[int(where * len(records))]
            out[start + 8 + n % 4] ^= n
    if cut is not None:
        del out[int(cut * len(out)):]
    return bytes(out)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=30),
       delivered=st.integers(0, 6), partial=st.integers(0, 59),
       victim=st.integers(0, 1000), changes=st.lists(ops, max_size=3), cut=truncations)
def test_only_damaged_records_are_lost_and_counted_exactly(tmp_path_factory, sizes, delivered,
                                                           partial, victim, changes,
                                                           cut) -> None:
    directory = tmp_path_factory.mktemp("spool")
    batches = [batch(i, n=n) for i, n in enumerate(sizes)]
    delivered = min(delivered, len(batches) - 1)
    partial = partial % sizes[delivered]  # lines of the next record delivered
    with opened(directory, segment_bytes=SEGMENT_BYTES) as spool:
        for b in batches:
            assert spool.append(*b)
        for _ in range(delivered):  # delivery got this far before the damage
            spool.ack(spool.peek())
        if partial:
            spool.ack(spool.peek(), partial)
    records = layout(directory)  # fully delivered segments are deleted
    first = len(batches) - len(records)
    segments = sorted({path for path, _, _ in records})
    target = segments[victim % len(segments)]
    mine = [(first + i, start, end) for i, (path, start, end) in enumerate(records)
            if path == target]
    before = target.read_bytes()
    after = damage(before, [(s, e) for _, s, e in mine], changes, cut)
    target.write_bytes(after)
    changed = [i for i in range(len(after)) if after[i] != before[i]]
    lost = {i for i, start, end in mine if i >= delivered
            and (end > len(after) or any(start <= c < end for c in changed))}
    if target != segments[-1] and len(after) in {start for _, start, _ in mine}:
        # Cut exactly at a record boundary of an older segment: indistinguishable from a
        # segment that ended there (docs/influx.md); those records are lost uncounted.
        uncounted = {i for i, start, _ in mine if start >= len(after)}
    else:
        uncounted = set()
    with opened(directory, segment_bytes=SEGMENT_BYTES) as spool:
        replayed = drain(spool)
        corrupt = spool.dropped.get("corrupt", 0)

    def undelivered(i: int) -> list[bytes]:
        return batches[i][0][partial:] if i == delivered else batches[i][0]

    assert replayed == [x for i in range(delivered, len(batches)) if i not in lost
                        for x in undelivered(i)]
    assert corrupt == sum(len(undelivered(i)) for i in lost - uncounted)
    with opened(directory, segment_bytes=SEGMENT_BYTES) as spool:  # counted once
        assert spool.dropped == {} and spool.peek() is None


def test_damage_is_counted_once_while_the_rest_waits(tmp_path) -> None:
    """A damaged segment that is not delivered yet: counted at the first open only."""
    with opened(tmp_path, segment_bytes=SEGMENT_BYTES) as spool:
        for i in range(6):
            spool.append(*batch(i, n=10))
    path, start, _ = layout(tmp_path)[2]
    data = bytearray(path.read_bytes())
    data[start + 9] ^= 0xFF  # the third record's length field
    path.write_bytes(bytes(data))
    with opened(tmp_path, segment_bytes=SEGMENT_BYTES) as spool:
        assert spool.dropped == {"corrupt": 10} and spool.points == 50
    with opened(tmp_path, segment_bytes=SEGMENT_BYTES) as spool:
        assert spool.dropped == {} and spool.points == 50
        assert drain(spool) == [x for i in (0, 1, 3, 4, 5) for x in batch(i, n=10)[0]]


def legacy_record(lines: list[bytes], min_ts: int, max_ts: int) -> bytes:
    """A record as the spool wrote it before format 2 (magic BWS1, 32-byte header)."""
    import zlib

    body = b"\n".join(lines)
    return LEGACY_HEADER.pack(LEGACY_MAGIC, len(body), zlib.crc32(body), len(lines), min_ts,
                              max_ts) + body


def test_a_format_1_spool_is_replayed_after_the_upgrade(tmp_path) -> None:
    """An upgrade with a non-empty spool loses nothing: format-1 segments are read (and
    a partly delivered one resumes at its cursor), new records go to new segments."""
    old = [batch(i, n=4) for i in range(6)]
    (tmp_path / f"{1:020d}.seg").write_bytes(b"".join(legacy_record(*b) for b in old[:3]))
    (tmp_path / f"{2:020d}.seg").write_bytes(b"".join(legacy_record(*b) for b in old[3:]))
    first = legacy_record(*old[0])
    # the cursor of format 1: first record and one line of the second delivered
    (tmp_path / "cursor.json").write_text(f'{{"segment": 1, "offset": {len(first)}, '
                                          '"skip": 1}')
    with opened(tmp_path) as spool:
        assert spool.points == 4 * 5 - 1
        spool.append(*batch(9, n=2))
        got = drain(spool)
    assert got == old[1][0][1:] + [x for b in old[2:] for x in b[0]] + batch(9, n=2)[0]
    assert spool.dropped == {}


def test_a_damaged_format_1_segment_keeps_what_is_before_the_damage(tmp_path) -> None:
    old = [batch(i, n=4) for i in range(4)]
    data = bytearray(b"".join(legacy_record(*b) for b in old))
    data[len(legacy_record(*old[0])) * 2 + LEGACY_HEADER.size + 3] ^= 0xFF  # third record
    (tmp_path / f"{1:020d}.seg").write_bytes(bytes(data))
    with opened(tmp_path) as spool:
        assert drain(spool) == old[0][0] + old[1][0]
        # format 1 cannot resynchronise: the damaged record is counted, the one after it
        # is lost with the rest of the segment (its header cannot be trusted)
        assert spool.dropped == {"corrupt": 4}


CHILD = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_spool import batch, opened
from pathlib import Path
with opened(Path({directory!r}), segment_bytes=1 << 20, max_bytes=1 << 30) as spool:
    for i in range(10_000):
        spool.append(*batch(i, n=200, width=1000))  # ~200 KB: several write() calls
        print(i, flush=True)
"""


@pytest.mark.parametrize("after", [3, 17, 40])
def test_kill_9_while_appending_loses_nothing_that_was_stored(tmp_path, after) -> None:
    """A real crash (SIGKILL of a process appending): every append that returned is
    replayed once, in order; the one in flight is replayed whole or counted as corrupt
    with its points (or, torn inside its header, not at all: it was never stored)."""
    root = Path(__file__).resolve().parents[2]
    code = CHILD.format(root=str(root), tests=str(root / "tests" / "influx"),
                        directory=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if int(line) >= after:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    reported = after + sum(1 for _ in child.stdout)  # lines already in the pipe
    with opened(tmp_path, segment_bytes=1 << 20, max_bytes=1 << 30) as spool:
        replayed = drain(spool)
        corrupt = spool.dropped.get("corrupt", 0)
    whole = len(replayed) // 200
    assert reported + 1 <= whole <= reported + 2  # returned ones, maybe the one in flight
    assert replayed == [x for i in range(whole) for x in batch(i, n=200, width=1000)[0]]
    assert corrupt in (0, 200)


def test_damage_while_open_costs_that_record_only(tmp_path) -> None:
    """A byte flipped under a running spool: found when the record is read, its points
    (from the index) counted, the next record delivered."""
    with opened(tmp_path, segment_bytes=SEGMENT_BYTES) as spool:
        for i in range(4):
            spool.append(*batch(i, n=7))
        rec = spool.peek()
        assert spool.ack(rec, 2) == 2  # part of the first record delivered
        path, _, end = layout(tmp_path)[0]
        data = bytearray(path.read_bytes())
        data[end - 3] ^= 0x01  # in the first record's body
        path.write_bytes(bytes(data))
        assert drain(spool) == [x for i in (1, 2, 3) for x in batch(i, n=7)[0]]
        assert spool.dropped == {"corrupt": 5}
