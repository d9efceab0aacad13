"""Per-device poll loops: fixed cadence, stable stagger, one poll in flight, overruns skipped.

The shape follows Telegraf's agent ticker: ticks are planned on a fixed grid
(`phase + k × interval`), never "interval after the last poll finished", so a slow
device does not drift; a tick that arrives while the previous poll of the same device is
still running is skipped and counted (an overrun), never queued. Each device has its own
loop task and its polls run as separate tasks, so a dead or slow device only ever
delays itself.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

PollFn = Callable[[float], Awaitable[object]]
"""Runs one poll of one device; gets the absolute deadline (clock.monotonic() based)."""

# Lag buckets: asyncio wake-ups are ~1 ms late on an idle loop; more than 100 ms means the
# event loop was blocked (a slow /metrics render, CPU starvation).
LAG_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                  2.5, 5.0)
LAG_MAX_WINDOW = 300.0  # seconds over which borderwatch_scheduler_lag_max_seconds is taken
# A poll must honour its deadline; if it does not (a bug below us), the scheduler cancels
# it this long after the deadline so the device's loop cannot wedge forever.
DEADLINE_GRACE = 2.0
# Extra polls (poll_now) of one device are at least half its interval apart, and at
# least this often allowed (a 5-minute device confirming a trap needs no 150 s wait).
EXTRA_POLL_GAP = 5.0
RECOVERY_TICKS = 3  # on-time polls in a row that end an overrun episode (for the log only)


class Clock(Protocol):
    """Time source of the scheduler; injectable so cadence logic is testable without sleeps."""

    def monotonic(self) -> float:
        """Seconds on the event loop's monotonic clock (deadlines use this)."""
        ...

    def wall(self) -> float:
        """Wall-clock seconds since the epoch (only used to pick stable phases)."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once monotonic() >= when."""
        ...


class LoopClock:
    """The real clock: the running event loop's time and time.time()."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        delay = when - self.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def stable_offset(device_id: str, interval: float) -> float:
    """Phase of a device within its interval, from a hash of its id.

    Deterministic across restarts and machines (unlike hash()), and spread evenly, so
    300 devices do not all fire at t=0 (cf. Prometheus scrape offsets).
    """
    digest = hashlib.sha256(device_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


def first_tick(now_mono: float, now_wall: float, offset: float, interval: float) -> float:
    """The first planned tick (monotonic) at or after now whose wall time ≡ offset mod interval.

    Anchoring the phase to wall time keeps a device's polls at the same second of the
    minute after a restart, which keeps rates and graphs regular.
    """
    wait = (offset - now_wall) % interval
    return now_mono + wait


def next_tick(planned: float, now: float, interval: float) -> tuple[float, int]:
    """The next planned tick strictly after `now`, and how many grid ticks were passed over.

    Normally this is planned + interval with 0 missed; when the loop woke up more than a
    whole interval late (event loop blocked), the missed grid points are skipped, not
    fired in a burst.
    """
    nxt = planned + interval
    if nxt > now:
        return nxt, 0
    missed = math.floor((now - nxt) / interval) + 1
    return nxt + missed * interval, missed


@dataclass(slots=True)
class Job:
    """What the scheduler needs to know about one device."""

    device_id: str
    interval: float  # seconds between planned polls
    poll_deadline: float  # seconds a poll may take before it is abandoned
    poll: PollFn
    site: str = ""  # only for labels of self-metrics


@dataclass(slots=True)
class LagStats:
    """Histogram of scheduler lag (actual start − planned start) plus a windowed max."""

    buckets: tuple[float, ...] = LAG_BUCKETS
    counts: list[int] = field(default_factory=list)  # per bucket, non-cumulative; last = +Inf
    total: float = 0.0
    count: int = 0
    _recent: deque[tuple[float, float]] = field(default_factory=deque)  # (time, lag), max-heap-ish

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, lag: float, now: float) -> None:
        """Record one lag; negative lag (woke early by float rounding) counts as 0."""
        lag = max(0.0, lag)
        self.counts[bisect.bisect_left(self.buckets, lag)] += 1
        self.total += lag
        self.count += 1
        # Monotonic deque: keep only entries that could still be the window max.
        while self._recent and self._recent[-1][1] <= lag:
            self._recent.pop()
        self._recent.append((now, lag))
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - LAG_MAX_WINDOW:
            self._recent.popleft()

    def window_max(self, now: float) -> float:
        """Largest lag observed in the last LAG_MAX_WINDOW seconds (0 if none)."""
        self._expire(now)
        return self._recent[0][1] if self._recent else 0.0

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs, Prometheus style, ending with +Inf."""
        out, acc = [], 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out


@dataclass(slots=True)
class DeviceStats:
    """Per-device scheduler counters (exported as self-metrics)."""

    site: str
    ticks: int = 0  # planned ticks reached
    polls_started: int = 0
    polls_finished: int = 0
    overruns: int = 0  # ticks skipped because the previous poll was still running
    missed_ticks: int = 0  # grid ticks passed over because the loop itself woke up late
    poll_crashes: int = 0  # polls that raised (a bug: the poller reports faults as data)
    deadline_kills: int = 0  # polls cancelled by the scheduler after deadline + grace
    in_flight: bool = False
    overrunning: bool = False  # in an overrun episode (logged once when it starts and ends)
    episode_overruns: int = 0  # ticks skipped in the current episode
    clean_ticks: int = 0  # polls started since the last overrun
    extra_polls: int = 0  # polls started out of cadence by poll_now() (a trap to confirm)
    extra_skipped: int = 0  # poll_now() calls that started nothing (in flight, too soon)
    covered_ticks: int = 0  # ticks skipped because an extra poll was still running
    last_extra: float | None = None  # monotonic start of the latest extra poll


class Scheduler:
    """Owns one loop task per device and the poll tasks they start."""

    def __init__(self, jobs: Iterable[Job], *, clock: Clock | None = None) -> None:
        self._jobs = {j.device_id: j for j in jobs}
        self._clock: Clock = clock or LoopClock()
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._polls: dict[str, asyncio.Task[object]] = {}
        self.stats: dict[str, DeviceStats] = {
            j.device_id: DeviceStats(site=j.site) for j in self._jobs.values()
        }
        self.lag = LagStats()
        self._stopping = False
        self._extra: set[str] = set()  # devices whose in-flight poll is an extra one
        self._queued: set[str] = set()  # devices with an extra poll waiting for the one in flight
        self._started = False

    @property
    def clock(self) -> Clock:
        """The clock deadlines are measured on."""
        return self._clock

    def start(self) -> None:
        """Start every device loop (call from within the running event loop)."""
        if self._started:
            raise RuntimeError("scheduler already started")
        self._started = True
        for job in self._jobs.values():
            self._start_loop(job)

    def _start_loop(self, job: Job) -> None:
        self._loops[job.device_id] = asyncio.create_task(
            self._device_loop(job), name=f"borderwatch-loop:{job.device_id}")

    def add(self, job: Job, stats: DeviceStats | None = None) -> None:
        """Poll one more device (a reload). Its first tick is on its usual grid, as after a
        restart; `stats`: the counters it had before (a changed device keeps them)."""
        if job.device_id in self._jobs:
            raise ValueError(f"device {job.device_id} is already scheduled")
        self._jobs[job.device_id] = job
        self.stats[job.device_id] = stats if stats is not None else DeviceStats(site=job.site)
        self.stats[job.device_id].site = job.site
        if self._started and not self._stopping:
            self._start_loop(job)

    async def remove(self, device_id: str) -> DeviceStats | None:
        """Stop polling one device (a reload): cancel its loop and its poll in flight, wait
        for both, forget it; returns its counters (None if it was not scheduled). Other
        devices' loops are not touched, so their cadence does not move."""
        self._jobs.pop(device_id, None)
        loop = self._loops.pop(device_id, None)
        if loop is not None and not loop.done():
            loop.cancel()
            await asyncio.wait([loop])  # the loop cancels and awaits its own poll
        self._polls.pop(device_id, None)
        self._queued.discard(device_id)
        self._extra.discard(device_id)
        return self.stats.pop(device_id, None)

    def polls_in_flight(self) -> int:
        """How many polls are running right now."""
        return sum(1 for t in self._polls.values() if not t.done())

    def task_count(self) -> int:
        """Tasks the scheduler owns (loops + unfinished polls), for the resource self-metric."""
        return sum(1 for t in self._loops.values() if not t.done()) + self.polls_in_flight()

    async def stop(self, grace: float = 5.0) -> bool:
        """Cancel every loop and poll and wait for them; True if all ended within `grace` seconds.

        The loops cancel their own in-flight poll and await it, so when this returns
        no task of ours is left pending ("Task was destroyed but it is pending" is a bug).
        """
        self._stopping = True
        tasks = [*self._loops.values(), *self._polls.values()]
        for t in tasks:
            t.cancel()
        if not tasks:
            return True
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                log.error("scheduler task %s ended with an error", t.get_name(),
                          exc_info=t.exception())
        if pending:
            log.error("%d scheduler task(s) did not stop within %.1f s: %s", len(pending),
                      grace, ", ".join(sorted(t.get_name() for t in pending)))
        return not pending

    async def _device_loop(self, job: Job) -> None:
        clock, st = self._clock, self.stats[job.device_id]
        offset = stable_offset(job.device_id, job.interval)
        planned = first_tick(clock.monotonic(), clock.wall(), offset, job.interval)
        try:
            while True:
                await clock.sleep_until(planned)
                now = clock.monotonic()
                st.ticks += 1
                running = self._polls.get(job.device_id)
                if running is not None and not running.done():
                    if job.device_id in self._extra:
                        st.covered_ticks += 1  # that poll is this tick's, a little early
                    else:
                        self._overrun(job, st, now)
                else:
                    self._on_time(job, st)
                    self.lag.observe(now - planned, now)
                    self._polls[job.device_id] = asyncio.create_task(
                        self._run_poll(job, st, now + job.poll_deadline),
                        name=f"borderwatch-poll:{job.device_id}")
                planned, missed = next_tick(planned, clock.monotonic(), job.interval)
                st.missed_ticks += missed
        except asyncio.CancelledError:
            poll = self._polls.get(job.device_id)
            if poll is not None and not poll.done():
                poll.cancel()
                # Wait for it so the poll's own cleanup (closing a walk) runs before we go;
                # suppress only the poll's cancellation, then re-raise ours.
                await asyncio.wait([poll])
            raise

    def poll_now(self, device_id: str) -> bool:
        """Poll a device now, out of its cadence (a trap to confirm); True if one is started
        or queued behind the poll in flight.

        A poll in flight may have read the device before the event: the extra poll then
        starts as soon as it ends. The grid is left as it is: a tick that comes while the
        extra poll runs is skipped as covered by it (not an overrun). Within half an
        interval of the previous extra poll (at most EXTRA_POLL_GAP) nothing starts, so a
        device sending trap after trap costs a bounded number of extra polls."""
        job = self._jobs.get(device_id)
        if job is None or self._stopping or device_id not in self._loops:
            return False
        st = self.stats[device_id]
        now = self._clock.monotonic()
        gap = min(job.interval / 2, EXTRA_POLL_GAP)
        if device_id in self._queued or \
                (st.last_extra is not None and now - st.last_extra < gap):
            st.extra_skipped += 1
            return False
        st.last_extra = now
        running = self._polls.get(device_id)
        if running is not None and not running.done():
            self._queued.add(device_id)
            running.add_done_callback(lambda _t: self._start_extra(job))
            return True
        self._start_extra(job)
        return True

    def _start_extra(self, job: Job) -> None:
        device_id = job.device_id
        self._queued.discard(device_id)
        running = self._polls.get(device_id)
        if self._stopping or (running is not None and not running.done()):
            return  # stopping, or a tick's poll began meanwhile: it is after the event too
        if self._jobs.get(device_id) is not job:
            return  # removed or replaced by a reload meanwhile
        st = self.stats[device_id]
        st.extra_polls += 1
        now = self._clock.monotonic()
        st.last_extra = now
        self._extra.add(device_id)
        task = asyncio.create_task(self._run_poll(job, st, now + job.poll_deadline),
                                   name=f"borderwatch-poll-now:{device_id}")
        task.add_done_callback(lambda _t: self._extra.discard(device_id))
        self._polls[device_id] = task

    def _overrun(self, job: Job, st: DeviceStats, now: float) -> None:
        st.overruns += 1
        st.episode_overruns += 1
        st.clean_ticks = 0
        if not st.overrunning:
            # Once per episode, not once per tick: the counter carries the rest.
            st.overrunning = True
            log.warning("device %s: previous poll still running at the next tick "
                        "(interval %.1f s); tick skipped (overrun)", job.device_id, job.interval)

    def _on_time(self, job: Job, st: DeviceStats) -> None:
        st.clean_ticks += 1
        # A device that alternates poll/skip is still overrunning: the episode only ends
        # after RECOVERY_TICKS polls in a row started on their own tick.
        if st.overrunning and st.clean_ticks > RECOVERY_TICKS:
            log.info("device %s: polls back on cadence (%d tick(s) skipped meanwhile)",
                     job.device_id, st.episode_overruns)
            st.overrunning = False
            st.episode_overruns = 0

    async def _run_poll(self, job: Job, st: DeviceStats, deadline: float) -> object:
        st.polls_started += 1
        st.in_flight = True
        try:
            # Hard stop a little after the poll's own deadline: the poller should have
            # given up by then; this only guards the cadence against a bug below.
            async with asyncio.timeout(deadline + DEADLINE_GRACE - self._clock.monotonic()):
                return await job.poll(deadline)
        except TimeoutError:
            st.deadline_kills += 1
            log.error("device %s: poll ignored its deadline and was cancelled %.1f s after it",
                      job.device_id, DEADLINE_GRACE)
            return None
        except asyncio.CancelledError:
            raise
        except Exception:
            st.poll_crashes += 1
            log.exception("device %s: poll crashed (bug); the loop continues", job.device_id)
            return None
        finally:
            st.in_flight = False
            st.polls_finished += 1
