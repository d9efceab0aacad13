"""The report's streamed availability (the reader's one-pass timelines into the
accumulators) against an oracle that looks at the history minute by minute, for periods
whose ends fall in the middle of days: partial first and last days, a collector gap, a
crashed run whose open intervals end at its last heartbeat, an element that joins the
inventory late (not-in-inventory), and a run still open at the end of the file.

The oracle reads the raw tables itself: the state at a minute is the interval that covers
it (an open one up to the file's last heartbeat), else unknown, "not-in-inventory" inside a
collector run and "collector-gap" outside. Every change happens on a whole minute, so
counting minutes is exact."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from borderwatch.history.reader import HistoryReader
from borderwatch.history.writer import BEAT, STATE, HistoryWriter
from borderwatch.reports.availability import (
    LINK_BAD,
    LINK_STATES,
    SITE_BAD,
    SITE_STATES,
    RootCauseAccumulator,
    StateAccumulator,
)

M = 60.0
H = 3600.0
T0 = 1_800_000_000.0 // 86400 * 86400 + 3 * H  # 03:00 UTC: the days start mid-run
SITE_CHOICES = (("up", None), ("down", "site:{e}"), ("isolated", "link:L1"),
                ("isolated", "link:L1,site:hub"), ("unknown", "not-polled-yet"))
LINK_CHOICES = (("up", None), ("down", None), ("degraded", None), ("unknown", "not-seen"))


def _write(path: Path, rng: random.Random) -> None:
    """Run 1 [T0, T0+30h) crashes (open intervals end at its last beat); a gap until
    T0+33h; run 2 from T0+33h is left open at T0+70h; site c only from T0+40h."""
    elements = [("site", "a"), ("site", "b"), ("link", "L1"), ("link", "L2")]
    for first, last, names in ((T0, T0 + 30 * H, elements),
                               (T0 + 33 * H, T0 + 70 * H, [*elements, ("site", "c")])):
        writer = HistoryWriter(path)
        writer.open(first)
        events = []
        for kind, name in names:
            born = T0 + 40 * H if name == "c" else first
            times = sorted({born} | {born + M * rng.randrange(1, int((last - born) / M))
                                     for _ in range(rng.randint(3, 25))})
            for t in times:
                choices = SITE_CHOICES if kind == "site" else LINK_CHOICES
                state, cause = rng.choice(choices)
                events.append((t, (STATE, kind, name, state, cause and cause.format(e=name),
                                   t)))
        events.sort(key=lambda e: e[0])
        for _, op in events:
            writer.submit(op)
        writer.submit((BEAT, last))
        writer.close(None)  # as kill -9 leaves it: everything still open


def _oracle(path: Path, kind: str, start: float, end: float) -> dict[str, list[tuple]]:
    """element → (state, cause) of every minute of [start, end)."""
    conn = sqlite3.connect(path)
    runs = conn.execute("SELECT started, COALESCE(stopped, last_beat) FROM runs").fetchall()
    last = max(b for _, b in runs)
    rows = conn.execute(
        'SELECT e.name, i.state, i.cause, i.start, COALESCE(i."end", ?) FROM intervals i '
        "JOIN elements e ON e.id = i.element WHERE e.kind = ?", (last, kind)).fetchall()
    conn.close()
    out: dict[str, list[tuple]] = {}
    for name in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == name and r[4] > r[3]]
        minutes = []
        t = start
        while t < end:
            covering = [(s, c) for _, s, c, a, b in mine if a <= t < b]
            assert len(covering) <= 1
            if covering:
                minutes.append(covering[0])
            elif any(a <= t < b for a, b in runs):
                minutes.append(("unknown", "not-in-inventory"))
            else:
                minutes.append(("unknown", "collector-gap"))
            t += M
        out[name] = minutes
    return out


def _expected(minutes: list[tuple], states: tuple[str, ...], bad: frozenset[str]
              ) -> tuple[dict, dict, int, float]:
    seconds = dict.fromkeys(states, 0.0)
    causes: dict[str, float] = {}
    runs = 0
    was_bad = False
    for state, cause in minutes:
        seconds[state] += M
        if state == "unknown":
            causes[cause or "unknown"] = causes.get(cause or "unknown", 0.0) + M
        runs += state in bad and not was_bad
        was_bad = state in bad
    return seconds, causes, runs, sum(M for s, _ in minutes if s in bad)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("start", "end"), [
    (T0 + 5 * H + 7 * M, T0 + 61 * H + 13 * M),  # both ends mid-day, across the gap
    (T0 - 2 * H, T0 + 80 * H),  # before the first run and after the last beat
    (T0 + 29 * H + 50 * M, T0 + 34 * H + 1 * M),  # the crash, the gap, the restart
])
def test_streamed_seconds_equal_a_minute_by_minute_oracle(tmp_path: Path, seed: int,
                                                          start: float, end: float) -> None:
    path = tmp_path / "history.sqlite"
    _write(path, random.Random(seed))
    with HistoryReader.open(path) as reader:
        for kind, states, bad in (("site", SITE_STATES, SITE_BAD),
                                  ("link", LINK_STATES, LINK_BAD)):
            acc = StateAccumulator(states, bad)
            costs = RootCauseAccumulator()
            for element, segments in reader.timelines(kind, start, end):
                acc.add_timeline(element, segments)
                if kind == "site":
                    costs.add_timeline(element, segments)
            stats = acc.finish()
            oracle = _oracle(path, kind, start, end)
            assert stats.keys() == oracle.keys()
            cost: dict[str, float] = {}
            for element, minutes in oracle.items():
                seconds, causes, runs, run_seconds = _expected(minutes, states, bad)
                st = stats[element]
                assert st.seconds == seconds, element
                assert st.unknown_causes == causes, element
                assert (st.runs, st.run_seconds) == (runs, run_seconds), element
                for state, cause in minutes:
                    if kind == "site" and state in SITE_BAD:
                        names = (cause or f"site:{element}").split(",")
                        for name in names:
                            cost[name] = cost.get(name, 0.0) + M / len(names)
            assert {k: v.isolated + v.down for k, v in costs.costs.items()} == pytest.approx(
                cost, abs=1e-6)
