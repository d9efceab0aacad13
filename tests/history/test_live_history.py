"""`borderwatch run` as a real process against the lab's real snmpsim agents (the alert-quality
network of lab/quality.py, without its `alerts:` section: the history needs none):

* a fibre cut (lab fault cut-link Q01, core — Đồng Đăng hub) shows up as an isolated interval
  of the hub and the three gates behind it, root cause link:Q01, lasting as long as the cut
  (within what a poll interval, a failing poll and an observation tick allow);
* a second collector pointed at the same state directory is refused, naming the holder's PID;
* `kill -9` of the collector: the next start closes its intervals at its last heartbeat, the
  time until the restart is a collector gap (unknown), and the file passes
  `PRAGMA integrity_check`.

The scenario itself is the session fixture `live_fibre_cut` (tests/live_fibre_cut.py): it
runs once, and tests/reports/test_report_live.py reads the same history.
"""

from __future__ import annotations

import sqlite3

import pytest
from live_fibre_cut import CUT_OFF, FAIL_TIME, TICK, LiveRun

from borderwatch.history.reader import HistoryReader, Interval
from borderwatch.lab.quality import INTERVAL

pytestmark = pytest.mark.slow



@pytest.fixture
def live(live_fibre_cut: LiveRun) -> LiveRun:
    """The session's live fibre cut (tests/live_fibre_cut.py, shared with the report test)."""
    return live_fibre_cut


def isolated_by(reader: HistoryReader, site: str, cause: str, start: float, end: float
                ) -> list[Interval]:
    return [iv for iv in reader.intervals("site", start, end)
            if iv.element == site and iv.state == "isolated" and iv.cause == cause]


def test_fibre_cut_isolates_the_sites_behind_it_with_the_link_as_root_cause(live: LiveRun
                                                                           ) -> None:
    # The lab applies a fault by restarting agents, which takes seconds on a loaded
    # machine: each fault is somewhere between its command and the lab's answer. On top,
    # detection waits for the next poll of the sites and for it to fail, the repair for
    # the next poll that answers, each then for the next observation tick.
    margin = INTERVAL + FAIL_TIME + TICK
    shortest = live.restore_sent - live.cut - margin
    longest = live.restored - live.cut_sent + margin
    with HistoryReader.open([live.path]) as reader:
        for site in CUT_OFF:
            got = isolated_by(reader, site, "link:Q01", live.cut_sent - 60, live.restored + 60)
            assert len(got) == 1, (site, got)
            (iv,) = got
            assert live.cut_sent <= iv.start <= live.cut + margin, (site, iv, live)
            assert live.restore_sent <= iv.end <= live.restored + margin, (site, iv, live)
            assert shortest <= iv.end - iv.start <= longest, (site, iv, live)
        others = {iv.element for iv in reader.intervals("site", live.cut - 60,
                                                         live.restored + 60)
                  if iv.state not in ("up", "unknown")}
        assert others == set(CUT_OFF)  # nobody else: the core, Lộc Bình, Bắc Xa stayed up
        # The first incident is the cut; while the lab restarts the agents one by one on
        # the repair, the history may see the sites come back in steps (their own causes).
        incidents = [i for i in reader.incidents(live.cut - 60, live.restored + 60)
                     if i.kind == "isolated"]
        assert (incidents[0].root_cause, incidents[0].sites) == (
            ("link:Q01",), tuple(sorted(CUT_OFF)))
        links = [iv for iv in reader.intervals("link", live.cut - 60, live.restored + 60)
                 if iv.element == "Q01" and iv.state == "down"]
        assert len(links) == 1


def test_second_collector_on_the_same_state_dir_is_refused(live: LiveRun) -> None:
    assert live.second_rc == 1
    assert "is using state directory" in live.second_err
    assert f"pid {live.killed_pid}" in live.second_err
    assert "Traceback" not in live.second_err


def test_kill_9_closes_intervals_at_the_last_heartbeat(live: LiveRun) -> None:
    assert live.integrity == "ok"
    conn = sqlite3.connect(f"{live.path.as_uri()}?mode=ro", uri=True)
    runs = conn.execute("SELECT pid, started, last_beat, stopped FROM runs ORDER BY id"
                        ).fetchall()
    open_rows = conn.execute('SELECT COUNT(*) FROM intervals WHERE "end" IS NULL').fetchone()
    conn.close()
    assert open_rows == (0,)  # the restarted collector stopped cleanly
    killed = next(r for r in runs if r[0] == live.killed_pid)
    restarted = runs[-1]
    _, _, beat, stopped = killed
    assert stopped == beat  # closed at its last heartbeat by the next start
    assert live.restored < beat <= live.killed  # it kept beating until it died
    assert "previous collector stopped without closing" in live.restart_err
    with HistoryReader.open([live.path]) as reader:
        for iv in reader.intervals("site", beat - 1, restarted[1] + 1):
            if iv.start == beat:
                assert (iv.state, iv.cause, iv.end) == ("unknown", "collector-gap",
                                                         restarted[1]), iv
            if iv.end == beat:
                assert iv.state == "up"
