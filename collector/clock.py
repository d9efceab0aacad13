"""Two clocks, one per purpose: a steady one for every duration, the wall clock for people.

The wall clock (`time.time`) steps when NTP corrects it or someone sets it. A duration
measured on it (`for:`, staleness, the sysUpTime comparison behind reboot detection, a
retry backoff) is then wrong by the step: an hour back holds a `for:` for an hour, and
every device looks rebooted. So durations run on `SteadyClock.now()`: seconds on the epoch
scale (close to the wall time, so saved values stay readable) that never step, because
they are an anchor plus CLOCK_BOOTTIME (the monotonic clock that also counts suspend).
Wall time is only for what people read and what is exported: `wall()`, or `to_wall(t)`
for a steady time.

The anchor is kept per boot (`mark()` / `SteadyClock.resume(mark)`): a process that
restarts within the same boot continues the same timeline, so the times a previous
process saved (the alert engine's state) stay comparable even when the wall clock was
stepped in between. After a reboot the monotonic clock starts again; the timeline then
continues from the wall clock, the only measure that spans the downtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boottime() -> float:
    """Seconds since boot on CLOCK_BOOTTIME (monotonic, suspend included); not stepped."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux: the process-wide monotonic clock
        return time.monotonic()


def boot_id() -> str | None:
    """This boot's id (Linux); None where there is none (then nothing is resumed)."""
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


class Clocks(Protocol):
    """What a part that measures durations and shows times needs."""

    def now(self) -> float:
        """Steady seconds (durations, deadlines, anything compared with another time)."""
        ...

    def wall(self) -> float:
        """Wall-clock seconds since the epoch (display and export only)."""
        ...


class SteadyClock:
    """Monotonic time on the epoch scale, and the wall clock beside it."""

    def __init__(self, anchor: float | None = None, *,
                 elapsed: Callable[[], float] = boottime,
                 wall: Callable[[], float] = time.time) -> None:
        self._elapsed = elapsed
        self._wall = wall
        self.anchor = wall() - elapsed() if anchor is None else anchor

    @classmethod
    def resume(cls, mark: Mapping[str, Any] | None, **kwargs: Any) -> SteadyClock:
        """The timeline a previous process of this boot used (`mark()`), else a new one."""
        current = boot_id()
        if mark and current is not None and mark.get("boot_id") == current \
                and isinstance(mark.get("anchor"), int | float):
            return cls(float(mark["anchor"]), **kwargs)
        return cls(**kwargs)

    def mark(self) -> dict[str, Any]:
        """What `resume()` needs to continue this timeline in a later process."""
        return {"boot_id": boot_id(), "anchor": self.anchor}

    def now(self) -> float:
        """Steady seconds: never stepped, never going back."""
        return self.anchor + self._elapsed()

    def wall(self) -> float:
        """Wall-clock seconds since the epoch."""
        return self._wall()

    def to_wall(self, t: float) -> float:
        """The wall time of a steady time, as the wall clock reads now (after any step)."""
        return t + (self._wall() - self.now())


class SameClock:
    """One simulated clock that is both steady and wall (tests, replays, benches)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def now(self) -> float:
        """The simulated time."""
        return self._clock()

    def wall(self) -> float:
        """The same simulated time."""
        return self._clock()

    def to_wall(self, t: float) -> float:
        """Unchanged: the simulated wall never steps."""
        return t


def as_clocks(clock: Callable[[], float] | SteadyClock | SameClock | None
              ) -> SteadyClock | SameClock:
    """A clock pair from what a caller passes: a plain callable is a simulated clock."""
    if clock is None:
        return SteadyClock()
    if isinstance(clock, SteadyClock | SameClock):
        return clock
    return SameClock(clock)
