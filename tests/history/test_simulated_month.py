"""A month of scripted faults through the real NetworkState, topology analysis, recorder and
writer thread, on a simulated clock (no sleeping): the history must give exactly the seconds
of up / down / isolated / unknown per site that the script implies, worked out by hand.

The script (tests/history/month_network.py): a fibre cut behind the hub (p1 cut off 4.5 h),
a fibre cut of the hub's main uplink (redundancy lost, nobody cut off), the hub's
equipment dying (3 h: hub down, p1 and p2 cut off behind it), a mains failure at p3 (6 h on
battery, the last hour with the battery empty: p3 down 1 h), a VSAT rain fade (2 h, 30 min of
it without carrier: p3 cut off), a microwave fade (2 h degraded) and the collector killed
for two hours (then a minute before its first polls)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from month_network import (
    BUSY_HOUR,
    DEPLETED,
    HUB_FAIL,
    L1_CUT,
    L2_CUT,
    L6_FADE,
    LINKS,
    MAINS,
    MONTH,
    STEP,
    STOPPED,
    T0,
    VSAT_FADE,
    VSAT_LOSS,
    D,
    H,
    MonthNetwork,
    device_specs,
    topology,
)

from borderwatch.collector.state import NetworkState
from borderwatch.history.reader import HistoryReader
from borderwatch.history.recorder import Recorder
from borderwatch.history.writer import HistoryWriter

GAP = STOPPED[1] - STOPPED[0]  # 2 h with no collector running
FIRST_POLL = STEP  # after the restart, a minute until the first polls
UNKNOWN = GAP + FIRST_POLL


def dur(window: tuple[float, float]) -> float:
    return window[1] - window[0]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def run_month(path: Path) -> None:
    """Drive the month: poll, fold into state, observe; crash and restart once."""
    clock = Clock()
    net = MonthNetwork()
    topo = topology()

    def start(at: float) -> tuple[HistoryWriter, NetworkState, Recorder]:
        writer = HistoryWriter(path)
        writer.open(at)
        state = NetworkState(device_specs(), LINKS, clock)
        return writer, state, Recorder.from_topology(topo, writer.submit)

    writer, state, recorder = start(T0)
    t = T0
    while t < T0 + MONTH:
        clock.now = t
        if t == T0 + STOPPED[1]:  # restarted: observed before anything is polled
            writer, state, recorder = start(t)
            recorder.observe(state.device_snapshots(), state.link_snapshots(), t)
            t += FIRST_POLL
            continue
        for spec in device_specs():
            state.apply(net.poll(spec.device_id, t))
        recorder.observe(state.device_snapshots(), state.link_snapshots(), t)
        if t == T0 + STOPPED[0]:  # kill -9: nothing closed, the partial hour lost
            writer.close(None)
            t = T0 + STOPPED[1]
            continue
        t += STEP
    recorder.stop()
    writer.close(T0 + MONTH)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> HistoryReader:
    path = tmp_path_factory.mktemp("month") / "history.sqlite"
    run_month(path)
    reader = HistoryReader.open([path])
    yield reader
    reader.close()


def seconds(reader: HistoryReader, kind: str) -> dict[str, dict[tuple[str, str | None], float]]:
    out: dict[str, dict[tuple[str, str | None], float]] = defaultdict(lambda: defaultdict(float))
    for iv in reader.intervals(kind, T0, T0 + MONTH):
        out[iv.element][(iv.state, iv.cause)] += iv.end - iv.start
    return {k: dict(v) for k, v in out.items()}


def with_unknown(expected: dict[tuple[str, str | None], float]
                 ) -> dict[tuple[str, str | None], float]:
    """Add the collector's gap and its first minute, and the rest of the month as up."""
    full = {**expected, ("unknown", "collector-gap"): GAP,
            ("unknown", "not-polled-yet"): FIRST_POLL}
    full[("up", None)] = MONTH - sum(full.values())
    return full


def test_site_seconds(month: HistoryReader) -> None:
    got = seconds(month, "site")
    assert got == {
        "core": with_unknown({}),
        "hub": with_unknown({("down", "site:hub"): dur(HUB_FAIL)}),
        "p1": with_unknown({("isolated", "link:L2"): dur(L2_CUT),
                            ("isolated", "site:hub"): dur(HUB_FAIL)}),
        "p2": with_unknown({("isolated", "site:hub"): dur(HUB_FAIL)}),
        "p3": with_unknown({("down", "site:p3"): dur(DEPLETED),
                            ("isolated", "link:L4"): dur(VSAT_LOSS)}),
    }
    # the headline figures, spelled out
    assert got["p1"][("isolated", "link:L2")] == 4.5 * H
    assert got["p3"][("up", None)] == MONTH - 2 * H - 60 - 1 * H - 0.5 * H


def test_site_intervals_are_placed_right(month: HistoryReader) -> None:
    p1 = [iv for iv in month.intervals("site", T0, T0 + MONTH) if iv.element == "p1"]
    isolated = [(iv.start - T0, iv.end - T0, iv.cause) for iv in p1 if iv.state == "isolated"]
    assert isolated == [(*L2_CUT, "link:L2"), (*HUB_FAIL, "site:hub")]
    unknown = [(iv.start - T0, iv.end - T0, iv.cause) for iv in p1 if iv.state == "unknown"]
    assert unknown == [(STOPPED[0], STOPPED[1], "collector-gap"),
                       (STOPPED[1], STOPPED[1] + STEP, "not-polled-yet")]


def test_device_and_link_seconds(month: HistoryReader) -> None:
    devices = seconds(month, "device")
    assert devices["hub-r"] == with_unknown({("down", None): dur(HUB_FAIL)})
    assert devices["p1-r"] == with_unknown({("down", None): dur(HUB_FAIL) + dur(L2_CUT)})
    assert devices["p3-ups"] == with_unknown({("down", None): dur(DEPLETED) + dur(VSAT_LOSS)})
    links = seconds(month, "link")
    assert links["L1"] == with_unknown({("down", None): dur(L1_CUT) + dur(HUB_FAIL)})
    assert links["L6"] == with_unknown({("down", None): dur(HUB_FAIL),
                                        ("degraded", None): dur(L6_FADE)})
    assert links["L4"] == with_unknown({("down", None): dur(VSAT_LOSS)})
    # L2 and L3: both ends dark while the hub is dead, nobody can see them
    assert links["L3"] == with_unknown({("unknown", "not-seen"): dur(HUB_FAIL)})
    assert links["L2"] == with_unknown({("down", None): dur(L2_CUT),
                                        ("unknown", "not-seen"): dur(HUB_FAIL)})


def test_incidents(month: HistoryReader) -> None:
    got = [(i.kind, i.root_cause, i.sites, i.start - T0, i.end - T0 if i.end else None)
           for i in month.incidents(T0, T0 + MONTH)]
    assert got == [
        ("isolated", ("link:L2",), ("p1",), *L2_CUT),
        ("redundancy_lost", ("link:L1",), ("hub", "p1", "p2"), *L1_CUT),
        ("isolated", ("site:hub",), ("hub", "p1", "p2"), *HUB_FAIL),
        ("down", ("site:p3",), ("p3",), *DEPLETED),
        ("isolated", ("link:L4",), ("p3",), *VSAT_LOSS),
    ]


def test_power_hours(month: HistoryReader) -> None:
    start = T0 + MAINS[0] - H
    got = {(p.hour - T0 - MAINS[0]) / H: (p.on_battery_seconds, p.charge_min)
           for p in month.power_hours(start, T0 + MAINS[1] + H) if p.device == "p3-ups"}
    # On battery from 08:00; the UPS answers for the last time at 12:59 (dark from 13:00,
    # back on mains at 14:00), so hour 12 counts 59 minutes and hour 13 has no row.
    assert got == {-1: (0.0, 1.0), 0: (H, 0.8), 1: (H, 0.8), 2: (H, 0.5), 3: (H, 0.5),
                   4: (H - STEP, 0.1), 6: (0.0, 1.0)}
    assert {p.site for p in month.power_hours(start, start + H)} == {"p3"}


def test_radio_hours(month: HistoryReader) -> None:
    vsat = {(r.hour - T0 - VSAT_FADE[0]) / H: r.snr_min
            for r in month.radio_hours(T0 + VSAT_FADE[0] - H, T0 + VSAT_FADE[1] + H)
            if r.link == "L4"}
    assert vsat == {-1: 12.0, 0: 3.0, 1: 3.0, 2: 12.0}
    mw = {(r.hour - T0 - L6_FADE[0]) / H: (r.rsl_min, r.rsl_avg, r.rsl_p5, r.fade_margin_min)
          for r in month.radio_hours(T0 + L6_FADE[0] - H, T0 + L6_FADE[1] + H)
          if r.link == "L6"}
    assert mw == {-1: (-50.0, -50.0, -50.0, 0.0), 0: (-62.0, -62.0, -62.0, -12.0),
                  1: (-62.0, -62.0, -62.0, -12.0), 2: (-50.0, -50.0, -50.0, 0.0)}


def test_link_hours(month: HistoryReader) -> None:
    rows = {r.hour - T0: r for r in month.link_hours(T0 + BUSY_HOUR - H, T0 + BUSY_HOUR + 2 * H)
            if r.link == "L1"}
    # 30 of the busy hour's 60 samples at 0.5 of 1 Gbit/s, the rest at 0.1
    busy = rows[BUSY_HOUR]
    assert busy.util_avg == pytest.approx(0.3)
    assert busy.util_max == pytest.approx(0.5)
    assert busy.util_p95 == pytest.approx(0.5)
    quiet = rows[BUSY_HOUR + H]
    assert (quiet.util_avg, quiet.util_max) == (pytest.approx(0.1), pytest.approx(0.1))
    # the hour the collector was killed in is lost (partial roll-ups are in memory)
    assert not month.link_hours(T0 + STOPPED[0], T0 + STOPPED[0] + 1)
    assert len(month.link_hours(T0, T0 + 1 * D)) == 24


def test_span(month: HistoryReader) -> None:
    assert month.span() == (T0, T0 + MONTH)
    assert month.elements("site") == {"core", "hub", "p1", "p2", "p3"}
