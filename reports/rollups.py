"""The history's hourly roll-ups summed in SQLite, for the capacity section.

Why not `HistoryReader.link_hours()`: a year of a 10,000-device network keeps 90 days of
roll-ups, several million rows, and building a Python object per row takes over a minute;
the summary needs a histogram and a few extremes per link, which SQLite computes in
a couple of seconds. The query reads the layout that history/schema.py documents, over
connections from its `open_read_only` (the same checks as the reader). With several files
the same (element, hour) counts once, the first file's row winning, as in the reader.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from history.schema import HistoryError, open_read_only
from reports.capacity import BINS, Battery, CapacityAccumulator, LinkLoad, RadioFade

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
        _links(conn, schemas, window, into)
        _radio(conn, schemas, window, into)
        _power(conn, schemas, window, into)
    except sqlite3.Error as exc:
        raise HistoryError(f"{paths[0]}: cannot read the hourly roll-ups ({exc})") from None
    finally:
        conn.close()


_BIN = f"CAST(MIN(MAX({{p}}, 0.0) * {BINS}, {BINS - 1}) AS INTEGER)"
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
            slot = load.hist.get(b)
            if slot is None:
                load.hist[b] = [count, largest]
            else:
                slot[0] += count
                slot[1] = max(slot[1], largest)
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
