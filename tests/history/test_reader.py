"""HistoryReader over hand-made history files: holes are unknown (gap vs not in the
inventory), open intervals end at the last heartbeat, several files merge with a known state
beating unknown, and bad files give a HistoryError that names the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from borderwatch.history.reader import HistoryError, HistoryReader, Interval
from borderwatch.history.schema import create_or_open


def make(path: Path, runs: list[tuple[float, float, float | None]],
         rows: list[tuple[str, str, str, str | None, float, float | None]]) -> Path:
    """A history with these runs (started, last_beat, stopped) and intervals."""
    conn = create_or_open(path)
    for started, beat, stopped in runs:
        conn.execute("INSERT INTO runs (pid, host, started, last_beat, stopped) "
                     "VALUES (1, 'h', ?, ?, ?)", (started, beat, stopped))
    for kind, name, state, cause, a, b in rows:
        conn.execute("INSERT OR IGNORE INTO elements (kind, name) VALUES (?, ?)", (kind, name))
        (eid,) = conn.execute("SELECT id FROM elements WHERE kind = ? AND name = ?",
                              (kind, name)).fetchone()
        conn.execute('INSERT INTO intervals (element, state, cause, start, "end") '
                     "VALUES (?, ?, ?, ?, ?)", (eid, state, cause, a, b))
    conn.close()
    return path


def test_holes_are_unknown_gap_or_not_in_inventory(tmp_path: Path) -> None:
    path = make(tmp_path / "h.sqlite", runs=[(100, 190, 200), (300, 350, None)], rows=[
        ("site", "a", "up", None, 100, 200),
        ("site", "a", "isolated", "link:L1", 300, None),  # open: ends at the last beat
        ("site", "b", "down", "site:b", 150, 200),  # not in the first run's inventory before
    ])
    with HistoryReader.open([path]) as reader:
        assert reader.span() == (100, 350)
        assert reader.elements("site") == {"a", "b"}
        got = reader.intervals("site", 0, 400)
    assert got == [
        Interval("site", "a", "unknown", "collector-gap", 0, 100),
        Interval("site", "a", "up", None, 100, 200),
        Interval("site", "a", "unknown", "collector-gap", 200, 300),
        Interval("site", "a", "isolated", "link:L1", 300, 350),
        Interval("site", "a", "unknown", "collector-gap", 350, 400),
        Interval("site", "b", "unknown", "collector-gap", 0, 100),
        Interval("site", "b", "unknown", "not-in-inventory", 100, 150),
        Interval("site", "b", "down", "site:b", 150, 200),
        Interval("site", "b", "unknown", "collector-gap", 200, 300),
        Interval("site", "b", "unknown", "not-in-inventory", 300, 350),
        Interval("site", "b", "unknown", "collector-gap", 350, 400),
    ]


def test_period_clips_intervals(tmp_path: Path) -> None:
    path = make(tmp_path / "h.sqlite", runs=[(0, 1000, 1000)],
                rows=[("device", "d1", "up", None, 0, 500), ("device", "d1", "down", None,
                                                             500, 1000)])
    with HistoryReader.open([path]) as reader:
        assert reader.intervals("device", 400, 600) == [
            Interval("device", "d1", "up", None, 400, 500),
            Interval("device", "d1", "down", None, 500, 600)]
        assert reader.intervals("device", 600, 600) == []
        with pytest.raises(ValueError, match="kind must be one of"):
            reader.intervals("router", 0, 1)


def test_two_files_merge_known_beats_unknown(tmp_path: Path) -> None:
    old = make(tmp_path / "old.sqlite", runs=[(0, 100, 100)],
               rows=[("site", "a", "up", None, 0, 100)])
    new = make(tmp_path / "new.sqlite", runs=[(50, 200, 200)],
               rows=[("site", "a", "unknown", "not-polled-yet", 50, 60),
                     ("site", "a", "down", "site:a", 60, 200)])
    with HistoryReader.open([old, new]) as reader:
        assert reader.span() == (0, 200)
        got = reader.intervals("site", 0, 250)
    assert got == [
        Interval("site", "a", "up", None, 0, 100),  # old says up, new says down from 60
        Interval("site", "a", "down", "site:a", 100, 200),
        Interval("site", "a", "unknown", "collector-gap", 200, 250),
    ]


def test_not_a_history(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match=r"other\.sqlite: not a borderwatch history file"):
        HistoryReader.open([other])


def test_corrupt_file(tmp_path: Path) -> None:
    path = make(tmp_path / "h.sqlite", runs=[(0, 1, 1)], rows=[])
    data = bytearray(path.read_bytes())
    data[:100] = b"\xff" * 100  # the SQLite header gone
    path.write_bytes(bytes(data))
    with pytest.raises(HistoryError, match=r"h\.sqlite: not a borderwatch history file, or "
                                           r"corrupt"):
        HistoryReader.open([path])


def test_text_file_and_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 1000)
    with pytest.raises(HistoryError, match=r"notes\.txt: not a borderwatch history file"):
        HistoryReader.open([text])
    with pytest.raises(HistoryError, match=r"missing\.sqlite: no such history file"):
        HistoryReader.open([tmp_path / "missing.sqlite"])


def test_newer_schema(tmp_path: Path) -> None:
    path = make(tmp_path / "h.sqlite", runs=[], rows=[])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="schema version 99 is newer"):
        HistoryReader.open([path])


def test_interval_rows_stream_the_same_intervals_as_tuples(tmp_path: Path) -> None:
    """`interval_rows` (what a report streams) gives `intervals` without the objects, also
    for an element with no interval in the period (the query's LEFT JOIN must keep it)."""
    path = make(tmp_path / "h.sqlite", runs=[(0, 1000, 1000)], rows=[
        ("link", "L1", "up", None, 0, 100),  # nothing recorded after 100
        ("link", "L2", "up", None, 0, 600), ("link", "L2", "down", "link:L2", 600, None)])
    with HistoryReader.open([path]) as reader:
        rows = reader.interval_rows("link", 500, 800)
        assert not isinstance(rows, list)  # streamed
        rows = list(rows)
        assert rows == [(iv.element, iv.state, iv.cause, iv.start, iv.end)
                        for iv in reader.intervals("link", 500, 800)]
    assert rows == [
        ("L1", "unknown", "not-in-inventory", 500, 800),
        ("L2", "up", None, 500, 600),
        ("L2", "down", "link:L2", 600, 800),
    ]
