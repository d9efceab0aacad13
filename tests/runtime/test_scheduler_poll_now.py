"""`Scheduler.poll_now` (a trap's confirming poll) on a fake clock: it starts at once, it
leaves the device's grid alone, a tick it overlaps is "covered" (not an overrun), it waits
for a poll in flight (that one may predate the event), and repeated calls are bounded."""

from __future__ import annotations

import pytest
from test_scheduler_cadence import FakeClock, Recorder, settle

from borderwatch.collector.scheduler import (
    EXTRA_POLL_GAP,
    Job,
    Scheduler,
    first_tick,
    stable_offset,
)

INTERVAL = 10.0


async def _started(duration: float = 0.0) -> tuple[FakeClock, Recorder, Scheduler, float]:
    clock = FakeClock()
    rec = Recorder(clock, duration)
    sched = Scheduler([Job("d1", INTERVAL, 8.0, rec)], clock=clock)
    sched.start()
    await settle()
    first = first_tick(clock.now, clock.wall(), stable_offset("d1", INTERVAL), INTERVAL)
    return clock, rec, sched, first


async def test_poll_now_starts_at_once_and_keeps_the_grid() -> None:
    clock, rec, sched, first = await _started()
    await clock.advance(first - clock.now + 1.0)  # one regular poll, 1 s ago
    assert rec.starts == [pytest.approx(first)]
    assert sched.poll_now("d1")
    await settle()
    assert rec.starts[-1] == pytest.approx(first + 1.0)
    await clock.advance(2 * INTERVAL)
    assert rec.starts[2:] == [pytest.approx(first + INTERVAL), pytest.approx(first + 2 * INTERVAL)]
    st = sched.stats["d1"]
    assert (st.extra_polls, st.overruns, st.covered_ticks) == (1, 0, 0)
    await sched.stop()


async def test_a_tick_during_the_extra_poll_is_covered_not_an_overrun() -> None:
    clock, rec, sched, first = await _started(duration=3.0)
    await clock.advance(first - clock.now + INTERVAL - 1.0)  # 1 s before the second tick
    assert sched.poll_now("d1")
    await clock.advance(INTERVAL + 1.0)  # past the covered tick and the one after it
    st = sched.stats["d1"]
    assert (st.covered_ticks, st.overruns, st.extra_polls) == (1, 0, 1)
    # the grid goes on: the tick after the covered one polls as planned
    assert rec.starts[-1] == pytest.approx(first + 2 * INTERVAL)
    await sched.stop()


async def test_a_poll_in_flight_is_followed_by_the_extra_poll() -> None:
    clock, rec, sched, first = await _started(duration=3.0)
    await clock.advance(first - clock.now + 1.0)  # the regular poll runs until first + 3
    assert sched.poll_now("d1")
    await settle()
    assert len(rec.starts) == 1  # not two polls of one device at once
    await clock.advance(2.5)
    assert rec.starts == [pytest.approx(first), pytest.approx(first + 3.0)]
    assert rec.max_in_flight == 1
    assert sched.stats["d1"].extra_polls == 1
    await sched.stop()


async def test_repeated_calls_start_a_bounded_number_of_polls() -> None:
    clock, _rec, sched, first = await _started()
    await clock.advance(first - clock.now + 0.5)
    gap = min(INTERVAL / 2, EXTRA_POLL_GAP)
    started = 0
    for _ in range(100):  # a trap every 0.1 s for 10 s
        started += sched.poll_now("d1")
        await clock.advance(0.1)
    st = sched.stats["d1"]
    assert started == st.extra_polls <= 10.0 / gap + 1
    assert st.extra_skipped == 100 - started
    assert st.overruns == 0
    await sched.stop()


async def test_unknown_device_or_stopped_scheduler_polls_nothing() -> None:
    _clock, _rec, sched, _first = await _started()
    assert not sched.poll_now("nope")
    await sched.stop()
    assert not sched.poll_now("d1")
