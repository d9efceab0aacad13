"""`HistoryReader`: the read API over one or more history files (what `borderwatch report`
builds on; the contract is in history/README.md).

Read-only: files are opened with SQLite's `mode=ro`, so a report never changes a history,
and a collector writing to it at the same time is not disturbed (WAL mode).

Holes are data: time in a requested period that no interval of an element covers is
"unknown", with the cause "collector-gap" when no collector run covered it (process not
running) or "not-in-inventory" when a run did but did not record the element. An open
interval (the collector is running, or was killed and not restarted yet) ends at its
file's last heartbeat: what happened after that is not known.
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from borderwatch.history.schema import HistoryError, open_read_only

__all__ = ["HistoryError", "HistoryReader", "Incident", "Interval", "LinkHour", "PowerHour",
           "RadioHour"]

KINDS = ("device", "link", "site")
UNKNOWN = "unknown"
GAP = "collector-gap"
NOT_IN_INVENTORY = "not-in-inventory"
NOT_POLLED_YET = "not-polled-yet"
# An element a hot reload took out of the inventory: its last interval ends at the reload
# and an "unknown" one with this cause follows (docs/reload.md).
REMOVED = "removed-from-inventory"
HOUR = 3600.0
_element_hour = operator.itemgetter(0, 1)


@dataclass(frozen=True, slots=True)
class Interval:
    """One element in one state over [start, end) (unix seconds)."""

    kind: str  # "device" | "link" | "site"
    element: str  # inventory id
    state: str  # device: up|down|unknown; link: up|down|degraded|unknown;
    # site: up|down|isolated|unknown
    cause: str | None  # root-cause element(s) joined by ","; unknown: why; else None
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Incident:
    """An outage (sites down or cut off) or a loss of redundancy, with its root cause."""

    incident_id: str
    kind: str  # "isolated" | "down" | "redundancy_lost"
    root_cause: tuple[str, ...]
    sites: tuple[str, ...]
    start: float
    end: float | None  # None while open


@dataclass(frozen=True, slots=True)
class LinkHour:
    """One link's utilisation in one hour: ratio of capacity, the busier direction."""

    link: str
    hour: float
    util_avg: float | None
    util_max: float | None
    util_p95: float | None


@dataclass(frozen=True, slots=True)
class RadioHour:
    """One radio/microwave/VSAT link's received signal in one hour (dBm, dB)."""

    link: str
    hour: float
    rsl_min: float | None
    rsl_avg: float | None
    rsl_p5: float | None
    snr_min: float | None
    fade_margin_min: float | None


@dataclass(frozen=True, slots=True)
class PowerHour:
    """One UPS / DC plant's hour: seconds on battery and the least charge (ratio 0..1)."""

    site: str
    device: str
    hour: float
    on_battery_seconds: float
    charge_min: float | None


Segment = tuple[float, float, str, str | None]  # start, end, state, cause
# what `HistoryReader.interval_rows` yields: an Interval's fields without its kind
IntervalRow = tuple[str, str, str | None, float, float]  # element, state, cause, start, end
_name = operator.itemgetter(0)


class _File:
    """One open history file: its connection and its collector runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_read_only(path)
        try:
            rows = self.conn.execute(
                "SELECT started, COALESCE(stopped, last_beat) FROM runs ORDER BY started"
            ).fetchall()
        except sqlite3.Error as exc:
            self.conn.close()
            raise HistoryError(f"{path}: corrupt history file ({exc})") from None
        self.runs: list[tuple[float, float]] = [(a, max(a, b)) for a, b in rows]
        self.last = max((b for _, b in self.runs), default=None)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: corrupt history file or unreadable ({exc})"
                               ) from None

    def timelines(self, kind: str, start: float, end: float
                  ) -> Iterator[tuple[str, list[Segment]]]:
        """Per element of `kind` (by name), its intervals in [start, end), holes filled as
        unknown, adjacent equal ones merged: streamed from one query, so a year of a big
        network is never one list.

        A LEFT JOIN, so that an element with no interval in the period still comes (all
        unknown); the (kind, name) and covering (element, start, ...) indexes give the
        order unsorted.
        """
        last = self.last if self.last is not None else start
        try:
            cursor = self.conn.execute(
                # clipped to the period in SQL: two calls less per row in Python
                'SELECT e.name, i.state, i.cause, MAX(i.start, ?), MIN(COALESCE(i."end", ?), ?) '
                "FROM elements e LEFT JOIN intervals i ON i.element = e.id "
                'AND i.start < ? AND COALESCE(i."end", ?) > ? '
                "WHERE e.kind = ? ORDER BY e.name, i.start",
                (start, last, end, end, last, start, kind))
            for name, rows in itertools.groupby(cursor, _name):
                yield name, self._fill(rows, start, end)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: corrupt history file or unreadable ({exc})"
                               ) from None

    def segments(self, kind: str, start: float, end: float
                 ) -> dict[str, list[Segment]]:
        """Per element of `kind`, its intervals in [start, end), holes filled as unknown."""
        return dict(self.timelines(kind, start, end))

    def _fill(self, rows: Iterable[tuple], start: float, end: float) -> list[Segment]:
        """(name, state, cause, a, b) rows in start order → one complete timeline of
        [start, end): holes filled, overlaps cut, adjacent equal segments merged (one
        pass and one list: this runs for every interval of a year's report)."""
        out: list[Segment] = []
        t = start
        for _, state, cause, a, b in rows:
            if state is None:  # the LEFT JOIN's row of an element without any
                continue
            if a < t:  # overlap (should not happen): the later record wins from t on
                a = t
            if b <= a:
                continue
            if a > t:
                _extend(out, self._hole(t, a))
            if out and out[-1][1] == a and out[-1][2] == state and out[-1][3] == cause:
                out[-1] = (out[-1][0], b, state, cause)
            else:
                out.append((a, b, state, cause))
            t = b
        if t < end:
            _extend(out, self._hole(t, end))
        return out

    def _hole(self, a: float, b: float) -> list[Segment]:
        """[a, b) with no record: not-in-inventory where a run covered it, else a gap."""
        out: list[Segment] = []
        t = a
        for ra, rb in self.runs:
            if rb <= t or ra >= b:
                continue
            if ra > t:
                out.append((t, ra, UNKNOWN, GAP))
                t = ra
            stop = min(rb, b)
            if stop > t:
                out.append((t, stop, UNKNOWN, NOT_IN_INVENTORY))
                t = stop
            if t >= b:
                break
        if t < b:
            out.append((t, b, UNKNOWN, GAP))
        return out


class HistoryReader:
    """Read-only view over one or more history files (shards, or a replaced server)."""

    def __init__(self, files: list[_File]) -> None:
        self._files = files

    @classmethod
    def open(cls, paths: Sequence[str | Path] | str | Path) -> HistoryReader:
        """Open every file (read-only); raises HistoryError naming the file that is bad."""
        if isinstance(paths, str | Path):
            paths = [paths]
        if not paths:
            raise HistoryError("no history file given")
        files: list[_File] = []
        try:
            for p in paths:
                files.append(_File(Path(p)))
        except BaseException:
            for f in files:
                f.conn.close()
            raise
        return cls(files)

    def close(self) -> None:
        """Close every file."""
        for f in self._files:
            f.conn.close()

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ queries

    def span(self) -> tuple[float, float] | None:
        """First and last recorded instant over all files (collector runs); None if empty."""
        runs = [r for f in self._files for r in f.runs]
        if not runs:
            return None
        return min(a for a, _ in runs), max(b for _, b in runs)

    def elements(self, kind: str) -> set[str]:
        """Ids of every element of `kind` ever recorded."""
        _check_kind(kind)
        return {n for f in self._files
                for (n,) in f.query("SELECT name FROM elements WHERE kind = ?", (kind,))}

    def intervals(self, kind: str, start: float, end: float) -> list[Interval]:
        """Every element of `kind` ever recorded, each covering [start, end) completely and
        without overlap, ordered by (element, start); no record means "unknown"."""
        return [Interval(kind, *row) for row in self.interval_rows(kind, start, end)]

    def interval_rows(self, kind: str, start: float, end: float) -> Iterator[IntervalRow]:
        """What `intervals` returns, as plain tuples (element, state, cause, start, end),
        streamed element by element."""
        for name, segs in self.timelines(kind, start, end):
            for a, b, state, cause in segs:
                yield name, state, cause, a, b

    def timelines(self, kind: str, start: float, end: float
                  ) -> Iterator[tuple[str, list[Segment]]]:
        """What `intervals` returns, one element at a time: (element, [(start, end, state,
        cause), ...]) by element. A report over a year of 10,000 devices reads the whole
        period in one pass, without an object per interval or one big list."""
        _check_kind(kind)
        if end <= start:
            return
        if len(self._files) == 1:
            yield from self._files[0].timelines(kind, start, end)
            return
        per_file = [f.segments(kind, start, end) for f in self._files]
        for name in sorted({n for segs in per_file for n in segs}):
            lists = [segs[name] if name in segs else self._files[i]._fill([], start, end)
                     for i, segs in enumerate(per_file)]
            yield name, _coalesce(_merge(lists))

    def incidents(self, start: float, end: float) -> list[Incident]:
        """Incidents overlapping [start, end), by start time (open ones have end None)."""
        seen: dict[str, Incident] = {}
        for f in self._files:
            for iid, kind, root, sites, a, b in f.query(
                    'SELECT id, kind, root_cause, sites, start, "end" FROM incidents '
                    'WHERE start < ? AND ("end" IS NULL OR "end" > ?)', (end, start)):
                prev = seen.get(iid)
                if prev is not None and prev.end is None:
                    continue  # the same incident in two files: the closed copy is newer
                if prev is None or b is None or (prev.end is not None and b > prev.end):
                    seen[iid] = Incident(iid, kind, _split(root), _split(sites), a, b)
        return sorted(seen.values(), key=lambda i: (i.start, i.incident_id))

    def link_hours(self, start: float, end: float) -> list[LinkHour]:
        """Hourly utilisation rows of hours overlapping [start, end), by (link, hour)."""
        rows = self._hours("SELECT e.name, h.hour, h.util_avg, h.util_max, h.util_p95 "
                           "FROM link_hours h JOIN elements e ON e.id = h.link", start, end)
        return [LinkHour(*r) for r in rows]

    def radio_hours(self, start: float, end: float) -> list[RadioHour]:
        """Hourly received-signal rows of hours overlapping [start, end), by (link, hour)."""
        rows = self._hours("SELECT e.name, h.hour, h.rsl_min, h.rsl_avg, h.rsl_p5, "
                           "h.snr_min, h.fade_margin_min "
                           "FROM radio_hours h JOIN elements e ON e.id = h.link", start, end)
        return [RadioHour(*r) for r in rows]

    def power_hours(self, start: float, end: float) -> list[PowerHour]:
        """Hourly power rows of hours overlapping [start, end), by (device, hour)."""
        rows = self._hours("SELECT e.name, h.hour, h.site, h.on_battery_seconds, h.charge_min "
                           "FROM power_hours h JOIN elements e ON e.id = h.device", start, end)
        return [PowerHour(site, dev, hour, secs, charge)
                for dev, hour, site, secs, charge in rows]

    def _hours(self, select: str, start: float, end: float) -> list[tuple]:
        """Rows (element, hour, ...) of hours overlapping the period, by (element, hour)."""
        sql = f"{select} WHERE h.hour < ? AND h.hour > ?"
        if len(self._files) == 1:  # the common case: no merging, one sort
            rows = self._files[0].query(sql, (end, start - HOUR))
            rows.sort(key=_element_hour)
            return rows
        merged: dict[tuple, tuple] = {}
        for f in self._files:
            for r in f.query(sql, (end, start - HOUR)):
                merged.setdefault((r[0], r[1]), r)  # first file wins for the same hour
        return [merged[k] for k in sorted(merged)]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def _split(text: str) -> tuple[str, ...]:
    return tuple(p for p in text.split(",") if p)


def _extend(out: list[Segment], segs: list[Segment]) -> None:
    """Append segments to a timeline, merging the first with the last if they are equal."""
    for seg in segs:
        if out and out[-1][1] == seg[0] and out[-1][2:] == seg[2:]:
            out[-1] = (out[-1][0], seg[1], seg[2], seg[3])
        else:
            out.append(seg)


def _coalesce(segs: Iterable[Segment]) -> list[Segment]:
    """Adjacent segments with the same state and cause become one."""
    out: list[Segment] = []
    for seg in segs:
        if out and out[-1][1] == seg[0] and out[-1][2:] == seg[2:]:
            out[-1] = (out[-1][0], seg[1], seg[2], seg[3])
        else:
            out.append(seg)
    return out


def _merge(lists: list[list[Segment]]) -> list[Segment]:
    """Several complete timelines of one element → one: a known state beats unknown (first
    file first); where all are unknown, the first file's cause."""
    cuts = sorted({t for segs in lists for a, b, _, _ in segs for t in (a, b)})
    idx = [0] * len(lists)
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        pick: Segment | None = None
        for i, segs in enumerate(lists):
            while idx[i] < len(segs) and segs[idx[i]][1] <= a:
                idx[i] += 1
            seg = segs[idx[i]]
            if pick is None or (pick[2] == UNKNOWN and seg[2] != UNKNOWN):
                pick = seg
        assert pick is not None
        out.append((a, b, pick[2], pick[3]))
    return out
