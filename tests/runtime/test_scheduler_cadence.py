"""Cadence logic of the scheduler on a fake clock: grid, stagger, overrun skip, shutdown.

These are the pure parts; the same behaviour against real agents (dead devices, delay
proxy, SIGTERM) is in test_service_*.py.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging

import pytest

from borderwatch.collector.scheduler import (
    Job,
    LagStats,
    Scheduler,
    first_tick,
    next_tick,
    stable_offset,
)


class FakeClock:
    """A clock that only moves when the test says so; sleepers wake in time order."""

    def __init__(self, mono: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = mono
        self._wall0, self._mono0 = wall, mono
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self._wall0 + (self.now - self._mono0)

    async def sleep_until(self, when: float) -> None:
        if when <= self.now:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (when, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose time has come, in order."""
        end = self.now + seconds
        await settle()
        while self._timers and self._timers[0][0] <= end:
            when, _, fut = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not fut.done():
                fut.set_result(None)
            await settle()
        self.now = end
        await settle()


async def settle() -> None:
    """Let every ready task run until the loop is idle (no real time passes)."""
    for _ in range(50):
        await asyncio.sleep(0)


class Recorder:
    """A poll function that takes `duration` fake seconds and records start times."""

    def __init__(self, clock: FakeClock, duration: float = 0.0) -> None:
        self.clock, self.duration = clock, duration
        self.starts: list[float] = []
        self.deadlines: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, deadline: float) -> None:
        self.starts.append(self.clock.monotonic())
        self.deadlines.append(deadline)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.clock.sleep_until(self.clock.monotonic() + self.duration)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize(("device", "interval"), [("dd-agg1", 60.0), ("ls-core-pe1", 10.0),
                                                  ("x", 1.0), ("tk-mw1", 300.0)])
def test_stable_offset_is_deterministic_and_inside_interval(device: str, interval: float) -> None:
    off = stable_offset(device, interval)
    assert 0.0 <= off < interval
    assert off == stable_offset(device, interval)


def test_stable_offsets_are_spread() -> None:
    """300 devices land in most of 10 equal slices of the interval, not all at t=0."""
    slices = {int(stable_offset(f"dev{i}", 60.0) // 6.0) for i in range(300)}
    assert len(slices) == 10


@pytest.mark.parametrize(("now_wall", "offset", "interval", "wait"), [
    (1000.0, 5.0, 60.0, 25.0),  # 1000 % 60 = 40 → next wall ≡ 5 (mod 60) is 1025
    (1020.0, 5.0, 60.0, 5.0),
    (1025.0, 5.0, 60.0, 0.0),  # exactly on phase: fire now
    (1026.0, 5.0, 60.0, 59.0),
])
def test_first_tick_keeps_wall_clock_phase(now_wall: float, offset: float, interval: float,
                                           wait: float) -> None:
    assert first_tick(500.0, now_wall, offset, interval) == pytest.approx(500.0 + wait)


def test_phase_survives_restart() -> None:
    """Two starts at different wall times plan ticks on the same wall-clock grid."""
    off = stable_offset("ns-mw1", 30.0)
    t1 = first_tick(0.0, 10_000.0, off, 30.0) + 10_000.0  # as wall time
    t2 = first_tick(0.0, 10_477.3, off, 30.0) + 10_477.3
    assert (t2 - t1) / 30.0 == pytest.approx(round((t2 - t1) / 30.0))


@pytest.mark.parametrize(("planned", "now", "interval", "expect"), [
    (100.0, 100.001, 10.0, (110.0, 0)),
    (100.0, 109.9, 10.0, (110.0, 0)),
    (100.0, 110.0, 10.0, (120.0, 1)),  # woke exactly one interval late: skip that grid point
    (100.0, 135.0, 10.0, (140.0, 3)),
])
def test_next_tick_skips_missed_grid_points(planned: float, now: float, interval: float,
                                            expect: tuple[float, int]) -> None:
    nxt, missed = next_tick(planned, now, interval)
    assert (nxt, missed) == (pytest.approx(expect[0]), expect[1])


def test_lag_histogram_and_window_max() -> None:
    lag = LagStats()
    lag.observe(0.0005, now=0.0)
    lag.observe(0.2, now=1.0)
    lag.observe(-0.0001, now=2.0)  # early wake by rounding counts as 0
    cum = dict(lag.cumulative())
    assert cum["0.001"] == 2 and cum["0.25"] == 3 and cum["+Inf"] == 3
    assert lag.count == 3 and lag.total == pytest.approx(0.2005)
    assert lag.window_max(10.0) == pytest.approx(0.2)
    assert lag.window_max(1.0 + 301.0) == 0.0  # both entries aged out of the 300 s window


async def test_fixed_cadence_and_deadline() -> None:
    clock = FakeClock()
    rec = Recorder(clock, duration=1.0)
    sched = Scheduler([Job("dev-a", 10.0, 8.0, rec)], clock=clock)
    sched.start()
    await clock.advance(100.0)
    assert 9 <= len(rec.starts) <= 10
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(rec.starts)}
    assert gaps == {10.0}  # on the grid, no drift from the 1 s poll duration
    assert all(d - s == pytest.approx(8.0) for s, d in zip(rec.starts, rec.deadlines, strict=True))
    st = sched.stats["dev-a"]
    assert st.overruns == 0 and st.polls_finished == len(rec.starts)
    assert sched.lag.window_max(clock.now) == 0.0
    assert await sched.stop()
    assert sched.task_count() == 0


async def test_overrun_skips_tick_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """A poll of 25 s with a 10 s interval: one in flight, two ticks skipped per poll."""
    caplog.set_level(logging.INFO, logger="borderwatch.collector.scheduler")
    clock = FakeClock()
    slow = Recorder(clock, duration=25.0)
    fast = Recorder(clock, duration=0.5)
    sched = Scheduler([Job("slow-vsat", 10.0, 30.0, slow), Job("fast-sw", 10.0, 8.0, fast)],
                      clock=clock)
    sched.start()
    await clock.advance(95.0)
    assert slow.max_in_flight == 1
    st = sched.stats["slow-vsat"]
    # polls start at ticks 0, 3, 6, 9 (each runs through the two ticks after it)
    # ticks go poll, skip, skip, poll, skip, skip, ... (a 25 s poll spans the next two ticks)
    assert len(slow.starts) == -(-st.ticks // 3)
    assert st.overruns == st.ticks - len(slow.starts) >= 5
    assert sched.stats["fast-sw"].overruns == 0
    assert len(fast.starts) == sched.stats["fast-sw"].ticks >= 9  # not delayed by slow-vsat
    # one episode (poll, skip, skip, poll, ...): logged once with the device id, not per tick
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "slow-vsat" in warnings[0]
    assert st.overrunning
    assert await sched.stop()


async def test_overrun_episode_ends_once_polls_are_fast_again(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="borderwatch.collector.scheduler")
    clock = FakeClock()
    rec = Recorder(clock, duration=15.0)
    sched = Scheduler([Job("tk-mw1", 10.0, 20.0, rec)], clock=clock)
    sched.start()
    await clock.advance(60.0)
    rec.duration = 1.0  # the radio link recovered
    await clock.advance(100.0)
    msgs = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [lvl for lvl, _ in msgs] == [logging.WARNING, logging.INFO]
    assert all("tk-mw1" in m for _, m in msgs)
    assert not sched.stats["tk-mw1"].overrunning
    assert await sched.stop()


async def test_stop_cancels_in_flight_poll_and_awaits_it() -> None:
    clock = FakeClock()
    cleaned: list[str] = []

    async def poll(deadline: float) -> None:
        try:
            await clock.sleep_until(deadline + 1000)
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise

    sched = Scheduler([Job(f"d{i}", 5.0, 4.0, poll) for i in range(20)], clock=clock)
    sched.start()
    await clock.advance(6.0)  # every device has started its first (never-ending) poll
    assert sched.polls_in_flight() == 20
    assert await sched.stop(grace=5.0)
    assert cleaned == ["cancelled"] * 20
    assert sched.task_count() == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("borderwatch-")]


async def test_crashing_poll_does_not_kill_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    calls = 0

    async def poll(deadline: float) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug in a profile")

    sched = Scheduler([Job("buggy", 10.0, 5.0, poll)], clock=clock)
    sched.start()
    await clock.advance(35.0)
    assert calls >= 3 and sched.stats["buggy"].poll_crashes == calls
    assert "buggy" in caplog.text
    assert await sched.stop()
