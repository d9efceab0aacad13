"""Wall-clock steps on a simulated clock pair (issue 11, point 8): the steady clock runs on,
the wall clock jumps. Durations (reboot detection, staleness, rates, Alertmanager's endsAt)
must not see the jump; only wall times shown to people move with it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from borderwatch.alerts.notify.alertmanager import (
    MIN_ENDS_AHEAD,
    RESOLVE_MARGIN,
    AlertmanagerNotifier,
)
from borderwatch.alerts.notify.outbox import Outbox
from borderwatch.collector.clock import SteadyClock
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.state import EventKind, NetworkState
from borderwatch.collector.topology_spec import DeviceSpec

RX = "borderwatch_interface_receive_bytes_total"
ETH1 = (("ifIndex", "1"), ("ifName", "eth1"))
INTERVAL = 10.0
T0 = 1_795_000_000.0


class Pair:
    """Monotonic seconds and a wall clock that a test can step."""

    def __init__(self) -> None:
        self.elapsed = 1000.0
        self.step = 0.0

    def wall(self) -> float:
        return T0 + self.elapsed + self.step

    def clock(self) -> SteadyClock:
        return SteadyClock(elapsed=lambda: self.elapsed, wall=self.wall)


@pytest.mark.parametrize("step", [-3600.0, 7200.0])
def test_a_wall_step_reboots_nothing_hides_nothing_and_bends_no_rate(step: float) -> None:
    pair = Pair()
    state = NetworkState([DeviceSpec("d", "s", interval=INTERVAL)], [], clock=pair.clock())
    uptime, rx = 500.0, 1_000_000
    events = []
    for i in range(6):
        if i == 3:
            pair.step = step  # NTP steps the wall clock between two polls
        pair.elapsed += INTERVAL
        uptime += INTERVAL
        rx += 10_000 * int(INTERVAL)
        events += state.apply(PollResult(
            "d", pair.wall(), 0.01, True, sys_uptime_ticks=int(uptime * 100),
            samples=[Sample(RX, ETH1, rx, Kind.COUNTER, 64)]))
        snap = state.device("d")
        assert snap is not None and not snap.stale
        if i:
            assert snap.rates[RX][ETH1] == pytest.approx(10_000)
    assert [e for e in events if e.kind is EventKind.REBOOTED] == []
    assert snap.reboots == 0
    assert snap.last_success == pytest.approx(pair.wall())  # people see the wall time


async def test_alertmanager_times_stay_valid_and_ahead_across_steps(tmp_path: Path) -> None:
    """startsAt before endsAt, endsAt the margin ahead of the (unstepped) receiver clock,
    whatever our wall clock did since the alert started."""
    pair = Pair()
    clocks = pair.clock()
    am = AlertmanagerNotifier("am", "http://127.0.0.1:9", Outbox(tmp_path / "o.sqlite"),
                              resend_interval=60, clock=clocks)
    am._am_offset = 0.0  # the receiver's clock is the true one (read from its Date header)
    since = clocks.now()
    alert = {"labels": {"alertname": "x"}, "annotations": {}, "since": since}
    for step in (-3600.0, 7200.0):
        pair.step = step
        pair.elapsed += 30
        posted = am._timed(alert)
        starts, ends = (_ts(posted[k]) for k in ("startsAt", "endsAt"))
        assert starts == pytest.approx(since, abs=0.001)  # not moved by the step
        assert ends == pytest.approx(clocks.now() + MIN_ENDS_AHEAD, abs=0.001)
        assert starts < ends
    # a resolve decided this instant: its endsAt surely in Alertmanager's past (one in its
    # future would be merged away under the firing alert's later endsAt)
    resolved = am._timed(alert, ended=clocks.now())
    assert _ts(resolved["startsAt"]) < _ts(resolved["endsAt"]) <= clocks.now() - RESOLVE_MARGIN
    am.outbox.close()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()



def test_a_restart_in_the_same_boot_continues_the_timeline_despite_a_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved steady times stay comparable after a restart: the anchor is resumed within a
    boot (the wall clock stepped in between changes nothing), re-taken after a reboot."""
    import borderwatch.collector.clock as clock_module

    pair = Pair()
    monkeypatch.setattr(clock_module, "boot_id", lambda: "boot-1")
    first = SteadyClock(elapsed=lambda: pair.elapsed, wall=pair.wall)
    saved_at, mark = first.now(), first.mark()
    pair.step, pair.elapsed = -3600.0, pair.elapsed + 120  # stepped back, then restarted
    again = SteadyClock.resume(mark, elapsed=lambda: pair.elapsed, wall=pair.wall)
    assert again.now() - saved_at == pytest.approx(120)
    assert again.to_wall(saved_at) == pytest.approx(pair.wall() - 120)
    monkeypatch.setattr(clock_module, "boot_id", lambda: "boot-2")
    fresh = SteadyClock.resume(mark, elapsed=lambda: pair.elapsed, wall=pair.wall)
    assert fresh.now() == pytest.approx(pair.wall())  # a new boot: the wall clock's word
