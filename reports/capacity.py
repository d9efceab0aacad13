"""Capacity from the history's hourly roll-ups: hot links, fading radio hops, battery time.

Each link's period p95 is the 95th percentile of its hourly p95 values, computed from a
fixed histogram (0.5 % of capacity per bin, history.daily.p95_bin) so a year of hours costs
a few hundred counters per link, not a list of every hour. The answer is the largest
hourly value in the percentile's bin: an observed value, at most half a percent above the
exact percentile (it errs towards "hot"). Summed from day rows (reports.rollups), only
that bin's largest value is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from borderwatch.history.daily import p95_bin


@dataclass(slots=True)
class LinkLoad:
    """One link's utilisation over the period (ratios of capacity)."""

    hours: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # bin -> hours in it
    # bin -> largest value in it; summing day roll-ups fills only the percentile's bin
    largest: dict[int, float] = field(default_factory=dict)
    peak: float | None = None
    avg_sum: float = 0.0
    avg_hours: int = 0

    def p95_bin(self) -> int | None:
        """The histogram bin that holds the 95th percentile of the hourly p95 values."""
        if not self.hours:
            return None
        rank = 0.95 * self.hours
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return b
        return max(self.counts)

    def p95(self) -> float | None:
        """95th percentile of the hourly p95 values (see the module docstring)."""
        b = self.p95_bin()
        return None if b is None else self.largest.get(b)

    def mean(self) -> float | None:
        """Mean of the hourly averages."""
        return self.avg_sum / self.avg_hours if self.avg_hours else None

    def figures(self) -> tuple:
        """What the report shows of the link: hours, p95, peak, mean."""
        return self.hours, self.p95(), self.peak, self.mean()


@dataclass(slots=True)
class RadioFade:
    """The worst received signal of a radio link over the period."""

    hours: int = 0
    fade_margin_min: float | None = None
    rsl_min: float | None = None
    snr_min: float | None = None


@dataclass(slots=True)
class Battery:
    """A power plant's time on battery and the least charge it reached."""

    site: str
    on_battery_seconds: float = 0.0
    charge_min: float | None = None


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


class CapacityAccumulator:
    """Streams the roll-ups of the period into per-link and per-device figures."""

    def __init__(self) -> None:
        self.loads: dict[str, LinkLoad] = {}
        self.radio: dict[str, RadioFade] = {}
        self.power: dict[str, Battery] = {}

    def add_link_hours(self, rows: Iterable) -> None:
        """LinkHour rows (any order)."""
        for r in rows:
            load = self.loads.get(r.link)
            if load is None:
                load = self.loads[r.link] = LinkLoad()
            if r.util_p95 is not None:
                load.hours += 1
                b = p95_bin(r.util_p95)
                load.counts[b] = load.counts.get(b, 0) + 1
                largest = load.largest.get(b)
                load.largest[b] = r.util_p95 if largest is None else max(largest, r.util_p95)
            if r.util_max is not None:
                load.peak = r.util_max if load.peak is None else max(load.peak, r.util_max)
            if r.util_avg is not None:
                load.avg_sum += r.util_avg
                load.avg_hours += 1

    def add_radio_hours(self, rows: Iterable) -> None:
        """RadioHour rows."""
        for r in rows:
            fade = self.radio.get(r.link)
            if fade is None:
                fade = self.radio[r.link] = RadioFade()
            fade.hours += 1
            fade.fade_margin_min = _min(fade.fade_margin_min, r.fade_margin_min)
            fade.rsl_min = _min(fade.rsl_min, r.rsl_min)
            fade.snr_min = _min(fade.snr_min, r.snr_min)

    def add_power_hours(self, rows: Iterable) -> None:
        """PowerHour rows."""
        for r in rows:
            bat = self.power.get(r.device)
            if bat is None:
                bat = self.power[r.device] = Battery(r.site)
            bat.on_battery_seconds += r.on_battery_seconds
            bat.charge_min = _min(bat.charge_min, r.charge_min)
