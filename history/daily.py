"""Daily roll-ups: each UTC day's hourly roll-up rows summed per element.

Why: a report over months reads the roll-ups of every hour of every link (90 days of a
10,000-device network are 6.7 million link rows), and grouping them into each link's p95
histogram was the largest part of a year's report. A day row holds what the report merges
(counts, sums, extremes, and the day's histogram of hourly p95 values), so full days cost
one row per element and only the partial first and last days are read by the hour.

Invariant, kept by the writer in the same transaction as the hourly rows it writes or
prunes: the day rows of day D are exactly the aggregate of the hourly rows whose `hour` lies
in [D, D + DAY). The writer simply recomputes every day it touched (`recompute_day`), so a
replaced hour (a restart in the same hour) or a pruned morning cannot leave a stale sum.

The histogram: bin b counts the hourly p95 values v with `p95_bin(v) == b` (0.5 % of
capacity per bin, values above 100 % in the last). It is stored as little-endian unsigned
16-bit counts from bin `p95_lo` on (`p95_counts`, 2 bytes per bin up to the day's highest),
so that a reader adds a day to a link's total as one big integer (`lanes`): 16-bit lanes
added in C instead of a Python loop per bin. Lanes cannot carry into each other while a
link's total hours stay below 65,536 (7 years of hours), which the reader checks.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable

DAY = 86400.0
BINS = 200  # histogram bins over 0..100 % of capacity (values above 100 % go in the last)
LANE_BITS = 16
LANE_MAX = (1 << LANE_BITS) - 1

DDL = """
CREATE TABLE IF NOT EXISTS link_days (
    day REAL NOT NULL,
    link INTEGER NOT NULL REFERENCES elements(id),
    hours INTEGER NOT NULL,          -- hours with a p95
    p95_lo INTEGER,                  -- lowest bin of p95_counts (NULL: no p95 that day)
    p95_counts BLOB,                 -- 16-bit LE counts per bin from p95_lo
    util_max REAL, util_avg_sum REAL, util_avg_hours INTEGER NOT NULL,
    PRIMARY KEY (day, link)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS radio_days (
    day REAL NOT NULL,
    link INTEGER NOT NULL REFERENCES elements(id),
    hours INTEGER NOT NULL,
    rsl_min REAL, snr_min REAL, fade_margin_min REAL,
    PRIMARY KEY (day, link)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS power_days (
    day REAL NOT NULL,
    device INTEGER NOT NULL REFERENCES elements(id),
    site TEXT NOT NULL,              -- MIN(site) of the day's hours
    on_battery_seconds REAL NOT NULL,
    charge_min REAL,
    PRIMARY KEY (day, device)
) WITHOUT ROWID;
"""

DAY_TABLES = ("link_days", "radio_days", "power_days")
HOUR_TABLES = ("link_hours", "radio_hours", "power_hours")


def day_of(hour: float) -> float:
    """Start of the UTC day an hour row belongs to (the SQL below uses the same rule)."""
    return float(int(hour // DAY) * DAY)


def p95_bin(value: float) -> int:
    """The histogram bin of an hourly p95 value (ratio of capacity)."""
    return min(int(max(value, 0.0) * BINS), BINS - 1)


def p95_bin_sql(column: str) -> str:
    """`p95_bin` as an SQL expression (identical results: truncation of the same product)."""
    return f"CAST(MIN(MAX({column}, 0.0) * {BINS}, {BINS - 1}) AS INTEGER)"


def lanes(lo: int, counts: bytes) -> int:
    """A day's stored histogram as one integer: bin b's count in bits 16 b .. 16 b + 15."""
    return int.from_bytes(counts, "little") << (LANE_BITS * lo)


def unpack_lanes(total: int) -> dict[int, int]:
    """bin → count of a sum of `lanes` values (empty bins left out)."""
    out = {}
    b = 0
    while total:
        count = total & LANE_MAX
        if count:
            out[b] = count
        total >>= LANE_BITS
        b += 1
    return out


def _pack(bins: dict[int, int]) -> tuple[int, bytes]:
    lo, hi = min(bins), max(bins)
    counts = bytearray(2 * (hi - lo + 1))
    for b, n in bins.items():
        if n > LANE_MAX:  # > 65,535 hour rows of one link in one day: not hourly data
            raise ValueError(f"{n} hourly p95 values in one day's bin")
        counts[2 * (b - lo):2 * (b - lo) + 2] = n.to_bytes(2, "little")
    return lo, bytes(counts)


def recompute_day(conn: sqlite3.Connection, day: float) -> None:
    """Replace the day rows of `day` by the aggregate of its hourly rows (inside the
    caller's transaction)."""
    window = (day, day + DAY)
    for table in DAY_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE day = ?", (day,))
    links = aggregate_link_hours(conn.execute(
        "SELECT link, util_p95, util_max, util_avg FROM link_hours "
        "WHERE hour >= ? AND hour < ?", window))
    conn.executemany("INSERT INTO link_days VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     _link_rows(day, links.items()))
    conn.execute(
        "INSERT INTO radio_days SELECT ?, link, COUNT(*), MIN(rsl_min), MIN(snr_min), "
        "MIN(fade_margin_min) FROM radio_hours WHERE hour >= ? AND hour < ? GROUP BY link",
        (day, *window))
    conn.execute(
        "INSERT INTO power_days SELECT ?, device, MIN(site), SUM(on_battery_seconds), "
        "MIN(charge_min) FROM power_hours WHERE hour >= ? AND hour < ? GROUP BY device",
        (day, *window))


def aggregate_link_hours(rows: Iterable[tuple]) -> dict[object, list]:
    """(link, util_p95, util_max, util_avg) rows → link: [bin → hours, largest util_max,
    sum of util_avg, hours with an average] (the day rows' content, also what a reader adds
    for the hours of a partial day)."""
    links: dict[object, list] = {}
    for link, p95, peak, avg in rows:
        acc = links.get(link)
        if acc is None:
            acc = links[link] = [{}, None, 0.0, 0]
        if p95 is not None:
            b = p95_bin(p95)
            acc[0][b] = acc[0].get(b, 0) + 1
        if peak is not None:
            acc[1] = peak if acc[1] is None else max(acc[1], peak)
        if avg is not None:
            acc[2] += avg
            acc[3] += 1
    return links


def full_days(after: float, before: float) -> tuple[float, float]:
    """[first, stop): the days D whose every hour h satisfies after < h < before (so their
    day rows stand for exactly those hours); (inf, inf) when there is none."""
    first = (after // DAY + 1) * DAY
    stop = (before // DAY) * DAY
    if stop <= first:
        return math.inf, math.inf
    return first, stop


def _link_rows(day: float, links: Iterable[tuple[int, list]]) -> Iterable[tuple]:
    for link, (bins, peak, avg_sum, avg_hours) in links:
        lo, counts = _pack(bins) if bins else (None, None)
        yield (day, link, sum(bins.values()), lo, counts, peak,
               avg_sum if avg_hours else None, avg_hours)


def rebuild(conn: sqlite3.Connection) -> int:
    """Recompute the day rows of every day that has hourly rows (a file written before the
    day tables existed); returns the number of days."""
    days: set[float] = set()
    for table in HOUR_TABLES:
        days.update(day_of(h) for (h,) in conn.execute(f"SELECT DISTINCT hour FROM {table}"))
    for day in sorted(days):
        recompute_day(conn, day)
    return len(days)
