"""HistoryWriter on its own: one writer per file (lock naming the holder), crash recovery on
a simulated clock, retention, a full queue, and bad files refused with a clear message —
also by `borderwatch run` itself (exit 1, no traceback)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from borderwatch.history.reader import HistoryError, HistoryReader, Interval
from borderwatch.history.writer import (
    BEAT,
    INCIDENT_OPEN,
    LINK_HOUR,
    STATE,
    HistoryLock,
    HistoryWriter,
    Retention,
)

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    first = HistoryWriter(path)
    first.open(1000.0)
    try:
        with pytest.raises(HistoryError, match=rf"being written by another borderwatch "
                                               rf"process \(pid {os.getpid()}\)"):
            HistoryWriter(path).open(1001.0)
    finally:
        first.close(1002.0)
    second = HistoryWriter(path)  # free again once the first one closed
    second.open(1003.0)
    second.close(1004.0)


def test_crash_closes_open_intervals_at_the_last_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    writer = HistoryWriter(path)
    writer.open(100.0)
    writer.submit((STATE, "site", "a", "up", None, 100.0))
    writer.submit((STATE, "site", "a", "isolated", "link:L1", 150.0))
    writer.submit((INCIDENT_OPEN, "i1", "isolated", ("link:L1",), ("a",), 150.0))
    writer.submit((BEAT, 170.0))
    writer.close(None)  # the drill: as kill -9 leaves it (the beat at 170 was the last)
    with HistoryReader.open([path]) as reader:  # before the restart: open up to the beat
        assert reader.intervals("site", 100, 200)[-2:] == [
            Interval("site", "a", "isolated", "link:L1", 150, 170),
            Interval("site", "a", "unknown", "collector-gap", 170, 200)]
        assert reader.incidents(100, 200)[0].end is None
    writer = HistoryWriter(path)
    writer.open(300.0)
    writer.submit((STATE, "site", "a", "up", None, 300.0))
    writer.close(400.0)
    with HistoryReader.open([path]) as reader:
        assert reader.intervals("site", 100, 400) == [
            Interval("site", "a", "up", None, 100, 150),
            Interval("site", "a", "isolated", "link:L1", 150, 170),
            Interval("site", "a", "unknown", "collector-gap", 170, 300),
            Interval("site", "a", "up", None, 300, 400)]
        (incident,) = reader.incidents(100, 400)
        assert (incident.start, incident.end) == (150, 170)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_retention_prunes_old_intervals_and_rollups(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    writer = HistoryWriter(path, retention=Retention(keep_days=10, rollup_keep_days=2))
    t0 = 1_000_000_000.0
    writer.open(t0)
    for day in range(20):  # a state change and an hourly row each day, beats hourly
        t = t0 + day * DAY
        writer.submit((STATE, "device", "d", "up" if day % 2 else "down", None, t))
        writer.submit((LINK_HOUR, "L1", t, 0.1, 0.2, 0.2))
        for hour in range(24):
            writer.submit((BEAT, t + hour * 3600))
    writer.close(t0 + 20 * DAY)
    with HistoryReader.open([path]) as reader:
        ivs = reader.intervals("device", t0, t0 + 20 * DAY)
        # everything that ended more than 10 days before the last prune is gone
        assert ivs[0] == Interval("device", "d", "unknown", "not-in-inventory", t0,
                                  ivs[1].start)
        assert t0 + 9 * DAY <= ivs[1].start <= t0 + 10 * DAY
        assert {r.hour for r in reader.link_hours(t0, t0 + 20 * DAY)} == {
            t0 + 18 * DAY, t0 + 19 * DAY}


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "history.sqlite", queue_max=3)
    # not opened: nothing drains the queue
    assert [writer.submit((BEAT, float(i))) for i in range(5)] == [True, True, True,
                                                                  False, False]
    assert writer.stats.dropped == 2


def test_not_a_history_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match=r"other\.sqlite: not a borderwatch history file"):
        HistoryWriter(other).open(0.0)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(8192))
    with pytest.raises(HistoryError, match=r"garbage\.sqlite: not a borderwatch history file, "
                                           r"or corrupt"):
        HistoryWriter(garbage).open(0.0)
    lock = HistoryLock(garbage)  # the lock is given back after a refusal
    lock.acquire()
    lock.release()


def test_a_file_locked_by_sqlite_is_reported_as_locked(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    writer = HistoryWriter(path)
    writer.open(0.0)
    writer.close(1.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError, match=r"history\.sqlite: the history file is locked "
                                               "by another process"):
            HistoryReader.open([path])
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_borderwatch_run_refuses_a_bad_history_without_a_traceback(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({
        "schema_version": 1,
        "credentials": {"c": {"version": "2c", "community_env": "BW_HISTORY_TEST_COMMUNITY"}},
        "sites": [{"id": "core", "name": "Core", "kind": "core", "devices": [
            {"id": "r1", "address": "127.0.0.1", "port": 9, "credential": "c"}]}],
    }))
    state = tmp_path / "state"
    state.mkdir()
    (state / "history.sqlite").write_text("these are my notes, not a database\n" * 200)
    proc = subprocess.run(
        [sys.executable, "-m", "borderwatch.cli", "run", "--inventory", str(inventory),
         "--listen", "127.0.0.1:0", "--state-dir", str(state)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "BW_HISTORY_TEST_COMMUNITY": "public"})
    assert proc.returncode == 1, proc.stderr
    assert "borderwatch: history: " in proc.stderr
    assert "history.sqlite: not a borderwatch history file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_self_metrics_count_and_are_documented(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from borderwatch.history.metrics import HistoryCollector

    writer = HistoryWriter(tmp_path / "history.sqlite", queue_max=2)
    registry = CollectorRegistry()
    registry.register(HistoryCollector(writer))
    for i in range(3):
        writer.submit((BEAT, float(i)))  # not opened: the third is dropped
    text = generate_latest(registry).decode()
    assert "borderwatch_history_records_dropped_total 1.0" in text
    assert "borderwatch_history_queue_length 2.0" in text
    writer.open(10.0)
    writer.sync()
    writer.close(11.0)
    text = generate_latest(registry).decode()
    assert "borderwatch_history_records_total 2.0" in text
    docs = (REPO / "docs" / "metrics.md").read_text()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names and all(f"`{n}`" in docs for n in names), names
