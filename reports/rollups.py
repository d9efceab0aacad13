"""The history's roll-ups summed for the capacity section.

Why not `HistoryReader.link_hours()`: a year of a 10,000-device network keeps 90 days of
roll-ups, several million rows, and building a Python object per row takes over a minute;
the summary needs a histogram and a few extremes per link. The queries read the layout that
history/schema.py documents, over connections from its `open_read_only` (the same checks as
the reader).

One file with day roll-ups (schema 2, history/daily.py): the full days of the period come
from the day rows (one per link and day), the partial first and last days from the hours,
and the largest value of each link's percentile bin from one pass over the hours that
keeps only those bins (no sort of millions of rows). The figures are those of the hours.

Several files, or a file of schema 1: the hours grouped in SQLite; the same (element, hour)
counts once, the first file's row winning, as in the reader.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from borderwatch.history import daily
from borderwatch.history.schema import HistoryError, open_read_only
from borderwatch.reports.capacity import Battery, CapacityAccumulator, LinkLoad, RadioFade

HOUR = 3600.0

_LINK_COLS = "h.util_avg AS a, h.util_max AS mx, h.util_p95 AS p"
_RADIO_COLS = "h.rsl_min AS r, h.snr_min AS s, h.fade_margin_min AS fm"
_POWER_COLS = "h.site AS site, h.on_battery_seconds AS b, h.charge_min AS c"


def _source(schemas: list[str], table: str, key: str, cols: str) -> str:
    """Rows of `table` from every file, one per (element, hour): the first file's."""
    parts = [f"SELECT {i} AS f, e.name AS name, h.hour AS hour, {cols} "
             f"FROM {db}.{table} h JOIN {db}.elements e ON e.id = h.{key} "
             "WHERE h.hour < :end AND h.hour > :start" for i, db in enumerate(schemas)]
    if len(parts) == 1:
        return f"({parts[0]})"
    # SQLite takes the bare columns from the row that has MIN(f): the first file's
    return f"(SELECT *, MIN(f) FROM ({' UNION ALL '.join(parts)}) GROUP BY name, hour)"


def summarise(paths: Sequence[str | Path], start: float, end: float,
              into: CapacityAccumulator) -> None:
    """Add the roll-ups of hours overlapping [start, end) to `into`."""
    conn = open_read_only(paths[0])
    try:
        schemas = ["main"]
        for i, path in enumerate(paths[1:], 1):
            open_read_only(path).close()  # identity and schema checks, as the reader does
            conn.execute(f"ATTACH DATABASE ? AS f{i}", (f"{Path(path).resolve().as_uri()}"
                                                       "?mode=ro",))
            schemas.append(f"f{i}")
        window = {"start": start - HOUR, "end": end}
        if len(schemas) == 1 and _has_days(conn) and _by_days(conn, window, into):
            return
        _links(conn, schemas, window, into)
        _radio(conn, schemas, window, into)
        _power(conn, schemas, window, into)
    except sqlite3.Error as exc:
        raise HistoryError(f"{paths[0]}: cannot read the hourly roll-ups ({exc})") from None
    finally:
        conn.close()


_BIN = daily.p95_bin_sql("{p}")
_KEYS = 256  # > BINS: link id and bin in one integer key, grouped in one pass


def _link_rows(conn: sqlite3.Connection, schemas: list[str], window: dict) -> list[tuple]:
    """(name, bin, count, largest p95, peak, sum of averages, hours with an average)."""
    if len(schemas) == 1:  # one file: group on the element number, names joined after
        # (one integer key instead of (name, bin): the grouping is most of the cost)
        names = dict(conn.execute("SELECT id, name FROM elements WHERE kind = 'link'"))
        rows = conn.execute(
            f"SELECT link * {_KEYS} + COALESCE({_BIN.format(p='util_p95')}, {_KEYS - 1}) "
            "AS k, COUNT(util_p95), MAX(util_p95), MAX(util_max), SUM(util_avg), "
            "COUNT(util_avg) FROM link_hours WHERE hour < :end AND hour > :start GROUP BY k",
            window)
        # bin _KEYS - 1 holds the hours without a p95 (count 0): peaks and averages only
        return [(names.get(k // _KEYS, str(k // _KEYS)), k % _KEYS if c else None, c, *rest)
                for k, c, *rest in rows]
    src = _source(schemas, "link_hours", "link", _LINK_COLS)
    return conn.execute(
        f"SELECT name, {_BIN.format(p='p')} AS bin, COUNT(p), MAX(p), MAX(mx), SUM(a), "
        f"COUNT(a) FROM {src} GROUP BY name, bin", window).fetchall()


def _links(conn: sqlite3.Connection, schemas: list[str], window: dict,
           into: CapacityAccumulator) -> None:
    for name, b, count, largest, peak, avg_sum, avg_n in _link_rows(conn, schemas, window):
        load = into.loads.get(name)
        if load is None:
            load = into.loads[name] = LinkLoad()
        if b is not None and count:
            load.hours += count
            load.counts[b] = load.counts.get(b, 0) + count
            prev = load.largest.get(b)
            load.largest[b] = largest if prev is None else max(prev, largest)
        if peak is not None:
            load.peak = peak if load.peak is None else max(load.peak, peak)
        if avg_n:
            load.avg_sum += avg_sum
            load.avg_hours += avg_n


def _radio(conn: sqlite3.Connection, schemas: list[str], window: dict,
           into: CapacityAccumulator) -> None:
    if len(schemas) == 1:  # grouped on the element number, names after (as _link_rows)
        names = dict(conn.execute("SELECT id, name FROM elements WHERE kind = 'link'"))
        rows = conn.execute(
            "SELECT link, COUNT(*), MIN(fade_margin_min), MIN(rsl_min), MIN(snr_min) "
            "FROM radio_hours WHERE hour < :end AND hour > :start GROUP BY link", window)
        rows = ((names.get(link, str(link)), *rest) for link, *rest in rows)
    else:
        src = _source(schemas, "radio_hours", "link", _RADIO_COLS)
        rows = conn.execute(f"SELECT name, COUNT(*), MIN(fm), MIN(r), MIN(s) FROM {src} "
                            "GROUP BY name", window)
    for name, hours, fm, rsl, snr in rows:
        into.radio[name] = RadioFade(hours, fm, rsl, snr)


def _power(conn: sqlite3.Connection, schemas: list[str], window: dict,
           into: CapacityAccumulator) -> None:
    src = _source(schemas, "power_hours", "device", _POWER_COLS)
    for name, site, seconds, charge in conn.execute(
            f"SELECT name, MIN(site), SUM(b), MIN(c) FROM {src} GROUP BY name", window):
        into.power[name] = Battery(site, seconds, charge)


# ---------------------------------------------------------------- one file with day rows

def _has_days(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                        "name IN ('link_days', 'radio_days', 'power_days')").fetchone()[0] == 3


# the partial days: two ranges of the (hour, ...) key, so that SQLite seeks both ends
_PARTIAL = ("((hour > :start AND hour < MIN(:end, :first)) OR "
            "(hour >= MAX(:stop, :start) AND hour < :end AND hour > :start))")
_DAYS = "day >= :first AND day < :stop"


def _by_days(conn: sqlite3.Connection, window: dict, into: CapacityAccumulator) -> bool:
    """Sum the period from day rows plus the partial days' hours; False (nothing added)
    if a link has too many hours for the day histograms' 16-bit lanes."""
    first, stop = daily.full_days(window["start"], window["end"])
    params = {**window, "first": first, "stop": stop}
    names = dict(conn.execute("SELECT id, name FROM elements WHERE kind IN ('link', 'device')"))
    # link -> [histogram lanes, hours, peak, sum of averages, hours with an average]
    per: dict[int, list] = {}
    for link, hours, peak, avg_sum, avg_hours in conn.execute(
            "SELECT link, SUM(hours), MAX(util_max), SUM(util_avg_sum), SUM(util_avg_hours) "
            f"FROM link_days WHERE {_DAYS} GROUP BY link", params):
        per[link] = [0, hours, peak, avg_sum or 0.0, avg_hours]
    shift, from_bytes = daily.LANE_BITS, int.from_bytes
    for link, lo, counts in conn.execute(  # the one Python step per day row: add its lanes
            f"SELECT link, p95_lo, p95_counts FROM link_days WHERE {_DAYS} "
            "AND p95_counts IS NOT NULL", params):
        per[link][0] += from_bytes(counts, "little") << (shift * lo)  # = daily.lanes()
    partial = daily.aggregate_link_hours(conn.execute(
        f"SELECT link, util_p95, util_max, util_avg FROM link_hours WHERE {_PARTIAL}", params))
    for link, (bins, peak, avg_sum, avg_hours) in partial.items():
        _add(per, link, sum(n << (shift * b) for b, n in bins.items()), sum(bins.values()),
             peak, avg_sum, avg_hours)
    if any(acc[1] > daily.LANE_MAX for acc in per.values()):
        return False
    loads: dict[int, LinkLoad] = {}
    for link, (lanes, hours, peak, avg_sum, avg_hours) in per.items():
        loads[link] = LinkLoad(hours=hours, counts=daily.unpack_lanes(lanes), peak=peak,
                               avg_sum=avg_sum, avg_hours=avg_hours)
    wanted = {link * _KEYS + b: load for link, load in loads.items()
              if (b := load.p95_bin()) is not None}
    for key, largest in conn.execute(
            f"SELECT link * {_KEYS} + {_BIN.format(p='util_p95')} AS k, MAX(util_p95) "
            "FROM link_hours WHERE hour > :start AND hour < :end AND util_p95 IS NOT NULL "
            "AND k IN (SELECT value FROM json_each(:keys)) GROUP BY k",
            {**window, "keys": json.dumps(sorted(wanted))}):
        wanted[key].largest[key % _KEYS] = largest
    for link, load in loads.items():
        into.loads[names.get(link, str(link))] = load
    for link, hours, fm, rsl, snr in conn.execute(
            "SELECT link, SUM(n), MIN(fm), MIN(r), MIN(s) FROM ("
            "SELECT link, hours AS n, fade_margin_min AS fm, rsl_min AS r, snr_min AS s "
            f"FROM radio_days WHERE {_DAYS} UNION ALL "
            "SELECT link, 1, fade_margin_min, rsl_min, snr_min "
            f"FROM radio_hours WHERE {_PARTIAL}) GROUP BY link", params):
        into.radio[names.get(link, str(link))] = RadioFade(hours, fm, rsl, snr)
    for device, site, seconds, charge in conn.execute(
            "SELECT device, MIN(site), SUM(b), MIN(c) FROM ("
            "SELECT device, site, on_battery_seconds AS b, charge_min AS c "
            f"FROM power_days WHERE {_DAYS} UNION ALL "
            "SELECT device, site, on_battery_seconds, charge_min "
            f"FROM power_hours WHERE {_PARTIAL}) GROUP BY device", params):
        into.power[names.get(device, str(device))] = Battery(site, seconds, charge)
    return True


def _add(per: dict[int, list], link: int, lanes: int, hours: int, peak: float | None,
         avg_sum: float | None, avg_hours: int) -> None:
    acc = per.get(link)
    if acc is None:
        per[link] = [lanes, hours, peak, avg_sum or 0.0, avg_hours]
        return
    acc[0] += lanes
    acc[1] += hours
    if peak is not None:
        acc[2] = peak if acc[2] is None else max(acc[2], peak)
    if avg_hours:
        acc[3] += avg_sum
        acc[4] += avg_hours
