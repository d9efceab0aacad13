"""The disk spool on a real filesystem: FIFO across restarts, partial delivery, the size
limit (oldest first, counted, never exceeded; A36), max_age, torn and damaged files, the
directory lock, and a full disk (tmpfs, A35)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.exporters.spool import Spool, SpoolError
from borderwatch.exporters.spool_format import HEADER

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def batch(i: int, n: int = 3, width: int = 20) -> tuple[list[bytes], int, int]:
    """Batch i: n distinct lines with timestamps around NOW + i seconds."""
    ts = int((NOW + i) * 1000)
    lines = [f"m,b={i},l={k} v={'x' * width} {ts + k}".encode() for k in range(n)]
    return lines, ts, ts + n - 1


def segment_bytes_on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.seg"))


@contextlib.contextmanager
def opened(directory: Path, **kwargs) -> Iterator[Spool]:
    kwargs.setdefault("max_bytes", 1 << 20)
    kwargs.setdefault("max_age", 86400)
    kwargs.setdefault("clock", Clock())
    spool = Spool(directory, **kwargs)
    spool.open()
    try:
        yield spool
    finally:
        spool.close()


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (rec := spool.peek()) is not None:
        out += rec.lines
        assert spool.ack(rec) == len(rec.lines)
    return out


def test_fifo_across_restarts(tmp_path) -> None:
    batches = [batch(i) for i in range(10)]
    with opened(tmp_path, segment_bytes=300) as spool:
        for b in batches[:6]:
            assert spool.append(*b)
        assert spool.points == 18 and len(list(tmp_path.glob("*.seg"))) > 1
        first = spool.peek()
        assert first.lines == batches[0][0] and spool.oldest_ts_ms == batches[0][1]
        spool.ack(first)
    with opened(tmp_path, segment_bytes=300) as spool:  # a restart
        assert spool.points == 15 and spool.oldest_ts_ms == batches[1][1]
        for b in batches[6:]:
            spool.append(*b)
        assert drain(spool) == [x for b in batches[1:] for x in b[0]]
        assert spool.points == 0 and spool.bytes == 0 and spool.oldest_ts_ms is None
    assert not list(tmp_path.glob("*.seg"))  # delivered segments are deleted
    with opened(tmp_path) as spool:
        assert spool.peek() is None


def test_partial_delivery_survives_a_restart(tmp_path) -> None:
    lines, lo, hi = batch(0, n=10)
    with opened(tmp_path) as spool:
        spool.append(lines, lo, hi)
        rec = spool.peek()
        assert spool.ack(rec, 4) == 4
        assert spool.points == 6
    with opened(tmp_path) as spool:
        assert spool.points == 6
        rec = spool.peek()
        assert rec.lines == lines[4:]
        spool.ack(rec)
        assert spool.points == 0


def test_directory_is_locked_to_one_writer(tmp_path) -> None:
    with opened(tmp_path), pytest.raises(SpoolError, match="in use by another writer"):
        Spool(tmp_path, max_bytes=1 << 20, max_age=60).open()
    with opened(tmp_path):  # released by close()
        pass


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60),
       acks=st.sets(st.integers(min_value=0, max_value=59)))
def test_size_limit_is_never_exceeded_and_drops_oldest_first(tmp_path_factory, sizes,
                                                             acks) -> None:
    directory = tmp_path_factory.mktemp("spool")
    max_bytes = 64 * 1024
    appended: list[bytes] = []
    delivered: list[bytes] = []
    with opened(directory, max_bytes=max_bytes, segment_bytes=4096) as spool:
        for i, n in enumerate(sizes):
            lines, lo, hi = batch(i, n=n, width=200)
            assert spool.append(lines, lo, hi)
            appended += lines
            on_disk = segment_bytes_on_disk(directory)
            assert on_disk == spool.bytes <= max_bytes
            if i in acks and (rec := spool.peek()) is not None:
                delivered += rec.lines
                spool.ack(rec)
        remaining = drain(spool)
        dropped = spool.dropped.get("spool_full", 0)
    assert set(spool.dropped) <= {"spool_full"}
    assert len(delivered) + len(remaining) + dropped == len(appended)
    # what is left is in order and what went missing is older than anything left
    assert remaining == appended[len(appended) - len(remaining):]
    kept = set(delivered) | set(remaining)
    lost = [x for x in appended if x not in kept]
    assert len(lost) == dropped
    if lost and remaining:
        assert appended.index(lost[-1]) < appended.index(remaining[0])


def test_a_batch_larger_than_the_spool_is_dropped_and_counted(tmp_path) -> None:
    with opened(tmp_path, max_bytes=64 * 1024) as spool:
        assert spool.append(*batch(0))
        assert not spool.append(*batch(1, n=100, width=1000))
        assert spool.dropped == {"spool_full": 100} and spool.points == 3


def test_max_age_drops_old_points_and_counts_them(tmp_path) -> None:
    clock = Clock()
    with opened(tmp_path, max_age=3600, clock=clock, segment_bytes=4096) as spool:
        for i in range(0, 7200, 600):  # one batch every 10 min over 2 h
            spool.append(*batch(i))
        clock.t = NOW + 7200
        spool.expire()  # whole segments only: nothing younger goes
        rec = spool.peek()  # per record: the head is now within the hour
        assert rec.min_ts >= (clock.t - 3600) * 1000 - 3
        assert spool.dropped == {"max_age": 3 * 6}
        assert spool.points == 3 * 6


def test_a_record_dropped_while_being_sent_is_not_counted_twice(tmp_path) -> None:
    with opened(tmp_path, max_bytes=64 * 1024, segment_bytes=8192) as spool:
        spool.append(*batch(0, n=5, width=200))
        rec = spool.peek()
        while spool.dropped.get("spool_full", 0) == 0:  # fill: the leased one goes
            spool.append(*batch(1, n=5, width=200))
        assert spool.ack(rec) == 5  # it was delivered after all
        assert spool.dropped["spool_full"] % 5 == 0
        first_dropped = spool.dropped["spool_full"]
        assert spool.points + first_dropped + 5 == spool.appended


def test_torn_tail_is_cut_and_appends_go_on(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with opened(tmp_path) as spool:
        for i in range(3):
            spool.append(*batch(i))
    seg = next(tmp_path.glob("*.seg"))
    size = seg.stat().st_size
    with open(seg, "r+b") as fh:
        fh.truncate(size - 7)  # a crash in the middle of the last write
    with opened(tmp_path) as spool:
        assert "truncated record" in caplog.text
        spool.append(*batch(3))
        got = drain(spool)
    assert got == batch(0)[0] + batch(1)[0] + batch(3)[0]
    assert spool.dropped == {"corrupt": 3}  # the torn record's points, exactly
    with opened(tmp_path) as spool:  # counted once: the damage is gone from the file
        assert spool.dropped == {} and spool.peek() is None


def test_flipped_byte_drops_the_damaged_record_only(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with opened(tmp_path, segment_bytes=300) as spool:
        for i in range(4):
            spool.append(*batch(i))
    segments = sorted(tmp_path.glob("*.seg"))
    assert len(segments) >= 2
    data = bytearray(segments[0].read_bytes())
    data[HEADER.size + 5] ^= 0xFF  # inside the first record's payload
    segments[0].write_bytes(bytes(data))
    with opened(tmp_path, segment_bytes=300) as spool:
        assert "CRC mismatch" in caplog.text
        assert drain(spool) == [x for i in range(1, 4) for x in batch(i)[0]]
        assert spool.dropped == {"corrupt": 3}


# ----------------------------------------------------------------------------- A35

@pytest.fixture
def tiny_fs(tmp_path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only; CI runs as root)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_drops_oldest_then_resumes(tiny_fs, caplog) -> None:
    caplog.set_level(logging.INFO)
    spool_dir = tiny_fs / "spool"
    # the spool would allow 1 MiB but the filesystem holds 256 KiB
    with opened(spool_dir, max_bytes=1 << 20, segment_bytes=16 * 1024) as spool:
        for i in range(60):  # ~ 60 × 8 KiB
            assert spool.append(*batch(i, n=8, width=1000))
        assert spool.dropped.get("spool_full", 0) > 0  # the oldest went to make room
        assert spool.bytes <= 256 * 1024
        # another program fills the disk: nothing can be written at all
        hog = tiny_fs / "hog"
        with contextlib.suppress(OSError), open(hog, "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        while spool.points:  # the spool is delivered meanwhile, its files deleted
            spool.ack(spool.peek())
        with contextlib.suppress(OSError), open(hog, "ab") as fh:
            fh.write(b"\0" * (1 << 20))  # take what the deleted segments gave back
        assert not spool.append(*batch(100, n=8, width=1000))
        assert not spool.append(*batch(101, n=8, width=1000))
        assert spool.dropped["disk_error"] == 16
        assert caplog.text.count("cannot write to the spool") == 1  # once per episode
        os.unlink(hog)  # space is freed: spooling resumes
        assert spool.append(*batch(102, n=8, width=1000))
        assert "works again" in caplog.text
        assert drain(spool) == batch(102, n=8, width=1000)[0]
