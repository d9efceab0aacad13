"""Availability, outage runs, MTTR/MTBF and root-cause site-hours, streamed over intervals.

The reader streams state intervals element by element (a year of a big network does not fit
in memory as per-second arrays, and need not): each accumulator keeps a few numbers per
element and the bad runs it still needs, so a year costs one pass over the rows.

Vocabulary:
* an *outage run* of an element is a maximal stretch of adjacent bad intervals (site: down
  or isolated; link: down), even when the state or the cause changes inside it;
* MTTR = mean duration of the runs inside the period (clipped to it);
* MTBF = up time / number of runs (None without a run): "how long it works between
  failures", the planners' reading; unknown time is counted in neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

SITE_STATES = ("up", "down", "isolated", "unknown")
LINK_STATES = ("up", "degraded", "down", "unknown")
SITE_BAD = frozenset({"down", "isolated"})
LINK_BAD = frozenset({"down"})
MAX_SEGMENTS = 500  # per element, for the timeline; beyond it short runs are merged


@dataclass(slots=True)
class ElementStats:
    """What the report needs of one element over the period."""

    seconds: dict[str, float]
    unknown_causes: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    run_seconds: float = 0.0
    run_start: float | None = None  # the open run, if the last interval was bad
    last_end: float | None = None
    segments: list[list] = field(default_factory=list)  # [start, end, state] not up

    def mttr(self) -> float | None:
        """Mean time to repair over the runs seen (None without a run)."""
        return self.run_seconds / self.runs if self.runs else None

    def mtbf(self) -> float | None:
        """Up time per failure (None without a failure)."""
        return self.seconds.get("up", 0.0) / self.runs if self.runs else None


class StateAccumulator:
    """Sums seconds per state and outage runs for every element of one kind."""

    def __init__(self, states: tuple[str, ...], bad: frozenset[str],
                 keep_segments: bool = False) -> None:
        self.states = states
        self.bad = bad
        self.keep_segments = keep_segments
        self.stats: dict[str, ElementStats] = {}

    def add(self, element: str, state: str, cause: str | None, start: float,
            end: float) -> None:
        """One interval; adjacent bad intervals (also across calls) form one run."""
        self.add_timeline(element, ((start, end, state, cause),))

    def add_timeline(self, element: str, segments: Iterable[tuple]) -> None:
        """An element's (start, end, state, cause) intervals in time order (the reader's
        `timelines`): the loop every interval of a year's report goes through, so its
        state lives in locals and is written back once."""
        st = self.stats.get(element)
        if st is None:
            st = self.stats[element] = ElementStats({s: 0.0 for s in self.states})
        seconds, causes, bad = st.seconds, st.unknown_causes, self.bad
        keep = self.keep_segments
        runs, run_seconds, run_start, last_end = (st.runs, st.run_seconds, st.run_start,
                                                  st.last_end)
        for start, end, state, cause in segments:
            length = end - start
            if length <= 0:
                continue
            # states outside the vocabulary (a newer writer) count as unknown, never up
            key = state if state in seconds else "unknown"
            seconds[key] += length
            if key == "unknown":
                reason = cause or "unknown"
                causes[reason] = causes.get(reason, 0.0) + length
            if key in bad:
                if run_start is None or last_end != start:
                    if run_start is not None:  # the run before ended at last_end
                        runs += 1
                        run_seconds += last_end - run_start
                    run_start = start
            elif run_start is not None:
                runs += 1
                run_seconds += last_end - run_start
                run_start = None
            last_end = end
            if keep and key != "up":
                self._segment(st, start, end, key)
        st.runs, st.run_seconds, st.run_start, st.last_end = (runs, run_seconds, run_start,
                                                              last_end)

    def _segment(self, st: ElementStats, start: float, end: float, state: str) -> None:
        segs = st.segments
        if segs and segs[-1][1] == start and segs[-1][2] == state:
            segs[-1][1] = end
        elif len(segs) < MAX_SEGMENTS:
            segs.append([start, end, state])
        else:  # bounded: widen the last one (the chart cannot show more anyway)
            segs[-1][1] = end

    @staticmethod
    def _close(st: ElementStats) -> None:
        if st.run_start is not None and st.last_end is not None:
            st.runs += 1
            st.run_seconds += st.last_end - st.run_start
        st.run_start = None

    def finish(self) -> dict[str, ElementStats]:
        """Close the runs still open at the period's end; the stats per element."""
        for st in self.stats.values():
            self._close(st)
        return self.stats


@dataclass(slots=True)
class CauseCost:
    """Site-seconds one root-cause element cost: isolated behind it, or down with it."""

    isolated: float = 0.0
    down: float = 0.0
    sites: set[str] = field(default_factory=set)


class RootCauseAccumulator:
    """Attributes every down/isolated site-second to its root-cause element(s).

    A run with several joint causes ("link:L03,link:L05") splits its seconds equally among
    them, so that the ranking's total equals the site-seconds lost. A down site with no
    recorded cause is charged to itself.
    """

    def __init__(self) -> None:
        self.costs: dict[str, CauseCost] = {}

    def add(self, element: str, state: str, cause: str | None, start: float,
            end: float) -> None:
        """One site interval (the reader's row); only down and isolated time costs."""
        self.add_timeline(element, ((start, end, state, cause),))

    def add_timeline(self, element: str, segments: Iterable[tuple]) -> None:
        """A site's (start, end, state, cause) intervals (the reader's `timelines`)."""
        for start, end, state, cause in segments:
            if state not in SITE_BAD:
                continue
            causes = [c for c in (cause or "").split(",") if c] or [f"site:{element}"]
            share = (end - start) / len(causes)
            for name in causes:
                cost = self.costs.get(name)
                if cost is None:
                    cost = self.costs[name] = CauseCost()
                if state == "isolated":
                    cost.isolated += share
                else:
                    cost.down += share
                cost.sites.add(element)


def group_seconds(rows: Iterable[tuple[str, dict[str, float]]], states: tuple[str, ...]
                  ) -> dict[str, dict[str, float]]:
    """Sum per-element seconds into groups: [(group, seconds)] → {group: seconds}."""
    out: dict[str, dict[str, float]] = {}
    for group, seconds in rows:
        acc = out.setdefault(group, {s: 0.0 for s in states})
        for s in states:
            acc[s] += seconds.get(s, 0.0)
    return out


def percentages(seconds: dict[str, float]) -> dict[str, float]:
    """Each state's share of the total, in % (0 for an empty total)."""
    total = sum(seconds.values())
    return {s: (100.0 * v / total if total else 0.0) for s, v in seconds.items()}


def availability_pct(seconds: dict[str, float], *, known_only: bool = False) -> float | None:
    """Up (and degraded, which still carries traffic) over the period, in %.

    Unknown time counts against availability unless known_only: monitoring that did not
    see a site cannot vouch for it.
    """
    total = sum(seconds.values())
    if known_only:
        total -= seconds.get("unknown", 0.0)
    if total <= 0:
        return None
    return 100.0 * (seconds.get("up", 0.0) + seconds.get("degraded", 0.0)) / total
