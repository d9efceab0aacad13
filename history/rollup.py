"""Hourly roll-ups: link utilisation, radio signal, power (on battery, least charge).

Samples accumulate in memory for the current hour (UTC hour boundaries) and become one row
per element when the hour ends (or the recorder stops): a few floats per link per minute,
so 10,000 links cost a few MB at most. Percentiles are nearest-rank over the hour's samples.

Time on battery is integrated between observations: the span from one observation to the
next counts with the state seen at the first one, split at hour boundaries; a span longer
than `max_step` (the collector was not looking) counts for nothing.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping
from typing import Any

from borderwatch.history.writer import LINK_HOUR, POWER_HOUR, RADIO_HOUR

HOUR = 3600.0


def hour_of(t: float) -> float:
    """Start of the UTC hour that contains t."""
    return math.floor(t / HOUR) * HOUR


def percentile(values: array | list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of unsorted values; None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class _Radio:
    __slots__ = ("fade_min", "rsl", "snr_min")

    def __init__(self) -> None:
        self.rsl = array("d")
        self.snr_min: float | None = None
        self.fade_min: float | None = None


class _Hour:
    """One hour's accumulators."""

    __slots__ = ("power", "radio", "util")

    def __init__(self) -> None:
        self.util: dict[str, array] = {}
        self.radio: dict[str, _Radio] = {}
        # device -> [site, on-battery seconds, least charge]
        self.power: dict[str, list[Any]] = {}


class HourlyRollups:
    """Accumulates samples per hour and emits writer ops once an hour is over.

    Samples go to the hour of their own time; `advance(now)` emits every hour before
    now's, so a span that ends in a new hour still lands in the old one first."""

    def __init__(self, emit: Callable[[tuple[Any, ...]], object], *,
                 max_step: float = 300.0) -> None:
        self._emit = emit
        self._max_step = max_step
        self._hours: dict[float, _Hour] = {}
        # device -> (time, on battery?) of the previous power observation
        self._power_prev: dict[str, tuple[float, bool]] = {}

    def _at(self, t: float) -> _Hour:
        hour = hour_of(t)
        acc = self._hours.get(hour)
        if acc is None:
            acc = self._hours[hour] = _Hour()
        return acc

    def add_link_utilization(self, now: float, utilization: Mapping[str, float]) -> None:
        """One sample per link (ratio of capacity, the busier direction)."""
        util = self._at(now).util
        for link, value in utilization.items():
            bucket = util.get(link)
            if bucket is None:
                bucket = util[link] = array("d")
            bucket.append(value)

    def add_radio(self, now: float, link: str, rsl: float | None, snr: float | None,
                  fade: float | None) -> None:
        """One sample of a radio link: received signal (dBm), SNR (dB), fade margin (dB)."""
        radio = self._at(now).radio
        acc = radio.get(link)
        if acc is None:
            acc = radio[link] = _Radio()
        if rsl is not None:
            acc.rsl.append(rsl)
        if snr is not None:
            acc.snr_min = snr if acc.snr_min is None else min(acc.snr_min, snr)
        if fade is not None:
            acc.fade_min = fade if acc.fade_min is None else min(acc.fade_min, fade)

    def add_power(self, now: float, device: str, site: str, on_battery: bool | None,
                  charge: float | None) -> None:
        """A UPS / DC plant observation; on-battery time is integrated since the last one."""
        prev = self._power_prev.pop(device, None)
        if prev is not None and prev[1] and 0 < now - prev[0] <= self._max_step:
            t = prev[0]
            while t < now:  # split the span at hour boundaries
                stop = min(now, hour_of(t) + HOUR)
                self._at(t).power.setdefault(device, [site, 0.0, None])[1] += stop - t
                t = stop
        if on_battery is not None:
            self._power_prev[device] = (now, on_battery)
        acc = self._at(now).power.setdefault(device, [site, 0.0, None])
        if charge is not None:
            acc[2] = charge if acc[2] is None else min(acc[2], charge)

    def advance(self, now: float) -> None:
        """Emit every hour before the one `now` is in."""
        current = hour_of(now)
        for hour in sorted(h for h in self._hours if h < current):
            self._emit_hour(hour, self._hours.pop(hour))

    def flush(self) -> None:
        """Emit every hour, the current (partial) one too."""
        for hour in sorted(self._hours):
            self._emit_hour(hour, self._hours.pop(hour))

    def _emit_hour(self, hour: float, acc: _Hour) -> None:
        for link, values in acc.util.items():
            if values:
                self._emit((LINK_HOUR, link, hour, sum(values) / len(values), max(values),
                            percentile(values, 0.95)))
        for link, radio in acc.radio.items():
            rsl = radio.rsl
            self._emit((RADIO_HOUR, link, hour, min(rsl) if rsl else None,
                        sum(rsl) / len(rsl) if rsl else None, percentile(rsl, 0.05),
                        radio.snr_min, radio.fade_min))
        for device, (site, seconds, charge) in acc.power.items():
            self._emit((POWER_HOUR, device, site, hour, seconds, charge))
