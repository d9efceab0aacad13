"""The InfluxDB spool's write and replay cost at 10,000 devices' point rate: borderwatch's
segment files against SQLite in WAL mode (the alternative issue 11 asked to measure).

    .venv/bin/python bench/spool_write.py [--devices 10000] [--points 12] [--interval 60]
                                          [--flush 10] [--rounds 15] [--dir DIR]

While the store is down the writer spools once per flush interval: every call stores
devices × points / interval × flush points, in batches of 1,000, durably (one fsync or
one synchronous commit per call). Replay acknowledges one batch at a time. Reported:
median and worst wall time per call, process CPU per call, and the share of the flush
interval that one call uses. The disk is whatever holds --dir (default: a temporary
directory). Nothing passes or fails; timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from borderwatch.exporters.spool import Spool  # noqa: E402

BATCH = 1000


def batches_for(round_no: int, points: int) -> list[tuple[list[bytes], int, int]]:
    """`points` line-protocol lines (about 130 bytes, like an interface row) in batches."""
    ts = 1_800_000_000_000 + round_no * 10_000
    lines = [f"interface,device=dev{k // 12:05d},ifIndex={k % 12},ifName=eth{k % 12},"
             f"site=site{k // 1200:03d} up=1.0,receive_bytes={k * 7919 + round_no}u,"
             f"transmit_bytes={k * 104729}u {ts + k % 1000}".encode() for k in range(points)]
    return [(lines[i:i + BATCH], ts, ts + 999) for i in range(0, points, BATCH)]


class SegmentSpool:
    """borderwatch's own spool (exporters/spool.py)."""

    name = "segments (fsync)"

    def __init__(self, directory: Path) -> None:
        self.spool = Spool(directory, max_bytes=4 << 30, max_age=1e9, clock=lambda: 1.8e9)
        self.spool.open()

    def write(self, batches: list[tuple[list[bytes], int, int]]) -> None:
        assert all(self.spool.append_batches(batches))

    def replay_one(self) -> bool:
        rec = self.spool.peek()
        if rec is None:
            return False
        self.spool.ack(rec)
        return True

    def close(self) -> None:
        self.spool.close()


class SqliteSpool:
    """The same FIFO in one SQLite table, WAL journal."""

    def __init__(self, directory: Path, synchronous: str) -> None:
        self.name = f"sqlite WAL synchronous={synchronous}"
        self.db = sqlite3.connect(directory / "spool.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY, "
                        "min_ts INTEGER, max_ts INTEGER, points INTEGER, body BLOB)")

    def write(self, batches: list[tuple[list[bytes], int, int]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO batch (min_ts, max_ts, points, body) "
                            "VALUES (?, ?, ?, ?)",
                            [(lo, hi, len(lines), b"\n".join(lines)) for lines, lo, hi in batches])
        self.db.execute("COMMIT")

    def replay_one(self) -> bool:
        row = self.db.execute("SELECT id, body FROM batch ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return False
        row[1].split(b"\n")
        self.db.execute("DELETE FROM batch WHERE id = ?", (row[0],))
        return True

    def close(self) -> None:
        self.db.close()


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, process CPU s) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def run(make: Callable[[Path], object], base: Path, points: int, rounds: int,
        flush: float) -> str:
    directory = Path(tempfile.mkdtemp(dir=base))
    store = make(directory)
    writes = [timed(lambda r=r: store.write(batches_for(r, points))) for r in range(rounds)]
    size = sum(f.stat().st_size for f in directory.iterdir())
    replays = []
    while True:
        w, c = time.perf_counter(), time.process_time()
        if not store.replay_one():
            break
        replays.append((time.perf_counter() - w, time.process_time() - c))
    store.close()
    wall = [w for w, _ in writes]
    cpu = [c for _, c in writes]
    rw = [w for w, _ in replays]
    return (f"{store.name:28} write/call: median {statistics.median(wall) * 1e3:7.1f} ms, "
            f"max {max(wall) * 1e3:7.1f} ms, CPU {statistics.median(cpu) * 1e3:6.1f} ms "
            f"({statistics.median(wall) / flush:.2%} of the flush interval); "
            f"replay/batch: median {statistics.median(rw) * 1e3:5.2f} ms, CPU "
            f"{statistics.median([c for _, c in replays]) * 1e3:5.2f} ms; "
            f"{size / 2**20:.0f} MiB on disk for {rounds * points:,} points")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=12, help="points per device per poll")
    ap.add_argument("--interval", type=float, default=60.0, help="poll interval, s")
    ap.add_argument("--flush", type=float, default=10.0, help="writer flush interval, s")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--dir", type=Path, default=None, help="where the spools go")
    args = ap.parse_args()
    per_call = round(args.devices * args.points / args.interval * args.flush)
    print(f"{args.devices:,} devices × {args.points} points / {args.interval:g} s = "
          f"{per_call / args.flush:,.0f} points/s; one spool call per {args.flush:g} s "
          f"stores {per_call:,} points ({-(-per_call // BATCH)} batches); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        for make in (SegmentSpool, lambda d: SqliteSpool(d, "FULL"),
                     lambda d: SqliteSpool(d, "NORMAL")):
            print(run(make, Path(base), per_call, args.rounds, args.flush), flush=True)


if __name__ == "__main__":
    main()
