"""Day roll-ups (schema 2): the writer keeps them equal to the hourly rows through replaced
hours, a restart within an hour and pruning; a schema-1 file is upgraded on open; and the
report's capacity figures from day rows plus partial days equal those summed by the hour,
for periods whose ends fall in the middle of UTC days.

The expected day rows are computed here from the hourly rows with plain Python, not with
history.daily's own aggregation."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import pytest

from borderwatch.history.reader import HistoryReader
from borderwatch.history.schema import SCHEMA_VERSION, create_or_open
from borderwatch.history.writer import (
    BEAT,
    LINK_HOUR,
    POWER_HOUR,
    RADIO_HOUR,
    HistoryWriter,
    Retention,
)
from borderwatch.reports.capacity import CapacityAccumulator
from borderwatch.reports.rollups import summarise

H = 3600.0
DAY = 86400.0
T0 = 1_800_000_000.0 // DAY * DAY  # a UTC midnight
LINKS = ("L1", "L2", "L3")


def _expected_days(path: Path) -> dict[str, set]:
    """Each day table's rows as the test computes them from the hourly rows."""
    conn = sqlite3.connect(path)
    links: dict[tuple, list] = {}
    for link, hour, avg, peak, p95 in conn.execute(
            "SELECT link, hour, util_avg, util_max, util_p95 FROM link_hours"):
        acc = links.setdefault((math.floor(hour / DAY) * DAY, link), [[], [], []])
        acc[0].append(p95)
        acc[1].append(peak)
        acc[2].append(avg)
    link_rows = set()
    for (day, link), (p95s, peaks, avgs) in links.items():
        bins: dict[int, int] = {}
        for v in p95s:
            if v is not None:
                b = min(int(max(v, 0.0) * 200), 199)
                bins[b] = bins.get(b, 0) + 1
        known = [v for v in avgs if v is not None]
        link_rows.add((day, link, sum(bins.values()), tuple(sorted(bins.items())),
                       max((v for v in peaks if v is not None), default=None),
                       round(sum(known), 9) if known else None, len(known)))
    radio = {r for r in conn.execute(
        "SELECT CAST(hour / 86400 AS INTEGER) * 86400.0 AS d, link, COUNT(*), MIN(rsl_min), "
        "MIN(snr_min), MIN(fade_margin_min) FROM radio_hours GROUP BY d, link")}
    power = {(*r[:3], round(r[3], 9), r[4]) for r in conn.execute(
        "SELECT CAST(hour / 86400 AS INTEGER) * 86400.0 AS d, device, MIN(site), "
        "SUM(on_battery_seconds), MIN(charge_min) FROM power_hours GROUP BY d, device")}
    conn.close()
    return {"link_days": link_rows, "radio_days": radio, "power_days": power}


def _stored_days(path: Path) -> dict[str, set]:
    conn = sqlite3.connect(path)
    link_rows = set()
    for day, link, hours, lo, counts, peak, avg_sum, avg_hours in conn.execute(
            "SELECT * FROM link_days"):
        bins = {}
        if counts is not None:
            for i in range(0, len(counts), 2):
                n = int.from_bytes(counts[i:i + 2], "little")
                if n:
                    bins[lo + i // 2] = n
        link_rows.add((day, link, hours, tuple(sorted(bins.items())), peak,
                       round(avg_sum, 9) if avg_sum is not None else None, avg_hours))
    radio = set(conn.execute("SELECT * FROM radio_days"))
    power = {(r[0], r[1], r[2], round(r[3], 9), r[4])
             for r in conn.execute("SELECT * FROM power_days")}
    conn.close()
    return {"link_days": link_rows, "radio_days": radio, "power_days": power}


def _write_hours(writer: HistoryWriter, rng: random.Random, first: float, last: float) -> None:
    """Roll-ups of every hour in [first, last), some with missing values."""
    hour = first
    while hour < last:
        for link in LINKS:
            p95 = None if rng.random() < 0.1 else rng.choice((0.0, 0.5, 0.95, 1.3,
                                                              rng.random()))
            writer.submit((LINK_HOUR, link, hour, None if rng.random() < 0.1 else
                           rng.random() * 0.5, rng.random(), p95))
            writer.submit((RADIO_HOUR, link, hour, -70 + rng.random(), -65.0, -68.0,
                           None if rng.random() < 0.3 else 20 * rng.random(),
                           rng.uniform(-3, 30)))
        if rng.random() < 0.4:
            writer.submit((POWER_HOUR, "ups1", "s1", hour, rng.random() * 3600,
                           None if rng.random() < 0.5 else rng.random()))
        writer.submit((BEAT, hour + H))
        hour += H


def _world(path: Path, *, retention: Retention | None = None) -> None:
    """Four days of roll-ups over two runs; the second starts within an hour the first one
    had already written (its link rows replace, its power seconds add)."""
    rng = random.Random(7)
    writer = HistoryWriter(path, retention=retention)
    writer.open(T0)
    _write_hours(writer, rng, T0, T0 + 2 * DAY + 5 * H)
    writer.close(T0 + 2 * DAY + 5 * H)
    writer = HistoryWriter(path, retention=retention)
    writer.open(T0 + 2 * DAY + 5 * H + 600)
    _write_hours(writer, rng, T0 + 2 * DAY + 4 * H, T0 + 4 * DAY + 3 * H)
    writer.close(T0 + 4 * DAY + 3 * H)


def test_the_writer_keeps_day_rows_equal_to_the_hours(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    _world(path)
    expected = _expected_days(path)
    assert len(expected["link_days"]) == 5 * len(LINKS)  # days 0-4, the last one partial
    assert _stored_days(path) == expected


def test_pruning_keeps_day_rows_equal_to_the_hours(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    _world(path, retention=Retention(rollup_keep_days=1.5))  # cuts a day in two
    conn = sqlite3.connect(path)
    first_hour = conn.execute("SELECT MIN(hour) FROM link_hours").fetchone()[0]
    conn.close()
    assert first_hour % DAY != 0  # the oldest day kept is a partial one
    assert _stored_days(path) == _expected_days(path)


def _downgrade_to_schema_1(path: Path) -> None:
    """What a file written before the day tables looks like."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE link_days; DROP TABLE radio_days; DROP TABLE power_days;"
        "DROP INDEX intervals_by_element_cover;"
        "CREATE INDEX intervals_by_element ON intervals (element, start);"
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    conn.close()


def _figures(paths: list[Path], start: float, end: float) -> tuple[dict, dict, dict]:
    acc = CapacityAccumulator()
    summarise(paths, start, end, acc)
    return ({k: v.figures() for k, v in acc.loads.items()}, acc.radio,
            {k: (b.site, round(b.on_battery_seconds, 6), b.charge_min)
             for k, b in acc.power.items()})


def test_a_schema_1_file_is_upgraded_when_the_writer_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    _world(path)
    expected = _expected_days(path)
    _downgrade_to_schema_1(path)
    before = _figures([path], T0, T0 + 5 * DAY)  # read by the hour (no day tables)
    with HistoryReader.open(path) as reader:  # a reader takes the old file as it is
        assert reader.span() is not None
    create_or_open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "intervals_by_element_cover" in indexes and "intervals_by_element" not in indexes
    conn.close()
    assert _stored_days(path) == expected
    _assert_same(_figures([path], T0, T0 + 5 * DAY), before)


@pytest.mark.parametrize(("start", "end"), [
    (T0 + 7 * H + 1234, T0 + 3 * DAY + 17 * H + 5),  # both ends mid-day
    (T0 - DAY, T0 + 9 * DAY),  # everything, by whole days
    (T0 + DAY + 17 * H, T0 + 2 * DAY + 17 * H),  # one Vietnam day: no full UTC day
    (T0 + 2 * DAY + 4 * H + 30, T0 + 2 * DAY + 4 * H + 60),  # inside one hour
    (T0 + DAY, T0 + 3 * DAY),  # ends on UTC midnights
])
def test_day_rows_give_the_figures_of_the_hours(tmp_path: Path, start: float,
                                                end: float) -> None:
    """Day rows plus the partial days' hours == the hours alone (the same file twice is
    read by the hour, each (link, hour) once)."""
    path = tmp_path / "history.sqlite"
    _world(path)
    fast = _figures([path], start, end)
    assert fast[0] and fast[1]
    _assert_same(fast, _figures([path, path], start, end))


def _assert_same(fast: tuple, slow: tuple) -> None:
    """Equal, except that a mean of hourly averages may differ in its last bits (the
    same values summed in another grouping)."""
    assert fast[0].keys() == slow[0].keys()
    for link, (hours, p95, peak, mean) in fast[0].items():
        s_hours, s_p95, s_peak, s_mean = slow[0][link]
        assert (hours, p95, peak) == (s_hours, s_p95, s_peak)
        assert mean == s_mean if s_mean is None else mean == pytest.approx(s_mean, rel=1e-12)
    assert fast[1:] == slow[1:]
