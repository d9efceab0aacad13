"""The report's period from what planners type: dates, ISO times, and shortcuts.

`--from`/`--to` accept
* a date `2026-11-01` (midnight at its start, in the report's time zone),
* an ISO datetime `2026-11-01T06:00`, `2026-11-01 06:00:00+07:00` (no offset: report zone),
* `now`, `today`, `yesterday`,
* `this-month`, `last-month`, `this-year`, `last-year` (as --from: the period's start; as
  --to: its end, so `--from last-month` alone means the whole of last month),
* `last-7d`, `last-24h`, `last-90m` (`--from` only: that long before --to),
* relative instants `-5m`, `-2h`, `-3d`, `5 min ago`, `2 hours ago`.

The time zone is Vietnam's (UTC+7, no daylight saving) unless the caller passes another:
a month is a Vietnamese calendar month, which is what monthly reports upward count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

VN_TZ = timezone(timedelta(hours=7), "ICT")

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
          "hour": 3600, "d": 86400, "day": 86400, "w": 7 * 86400, "week": 7 * 86400}
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s+ago$")
_MINUS = re.compile(r"^-(\d+(?:\.\d+)?)\s*([a-z]+?)s?$")
_LAST = re.compile(r"^last-(\d+(?:\.\d+)?)([a-z]+?)s?$")


class PeriodError(ValueError):
    """A --from/--to value that cannot be read, or a period that ends before it starts."""


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in unix seconds, with the zone its dates were read in."""

    start: float
    end: float
    tz: tzinfo = VN_TZ

    @property
    def seconds(self) -> float:
        """Length of the period."""
        return self.end - self.start

    def label(self, ts: float, with_time: bool = True) -> str:
        """A time as people read it in this report (local zone, no seconds)."""
        fmt = "%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d"
        return datetime.fromtimestamp(ts, self.tz).strftime(fmt)


def _month_start(d: date, months_back: int) -> date:
    month = d.month - 1 - months_back
    return date(d.year + month // 12, month % 12 + 1, 1)


def _midnight(d: date, tz: tzinfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def _unit(name: str, text: str) -> int:
    if name not in _UNITS:
        raise PeriodError(f"unknown time unit '{name}' in '{text}'; use s, m, h, d or w")
    return _UNITS[name]


def _named(text: str, now: float, tz: tzinfo, as_end: bool) -> float | None:
    """A named calendar period: its start, or with as_end its end."""
    today = datetime.fromtimestamp(now, tz).date()
    spans = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this-month": (_month_start(today, 0), _month_start(today, -1)),
        "last-month": (_month_start(today, 1), _month_start(today, 0)),
        "this-year": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "last-year": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
    }
    if text not in spans:
        return None
    first, after = spans[text]
    return min(_midnight(after, tz), now) if as_end else _midnight(first, tz)


def parse_instant(text: str, *, now: float, tz: tzinfo = VN_TZ, as_end: bool = False) -> float:
    """One --from/--to value as unix seconds; PeriodError says what is accepted."""
    raw = text
    text = text.strip().lower()
    if text == "now":
        return now
    named = _named(text, now, tz, as_end)
    if named is not None:
        return named
    for pattern in (_AGO, _MINUS):
        m = pattern.match(text)
        if m:
            return now - float(m.group(1)) * _unit(m.group(2), raw)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _midnight(date.fromisoformat(text), tz)
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(
            f"cannot read the time '{raw}'; use a date (2026-11-01), an ISO time "
            "(2026-11-01T06:00, 2026-11-01T06:00+07:00), now, today, yesterday, this-month, "
            "last-month, this-year, last-year, last-7d, last-24h, -5m, -2h or '5 min ago'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def parse_period(from_text: str | None, to_text: str | None, *, now: float,
                 tz: tzinfo = VN_TZ) -> Period:
    """The report's period. --from defaults to last-month; --to to the end of a named
    --from period (last-month: the end of that month), else now."""
    from_text = from_text or "last-month"
    if to_text is None:
        named_end = _named(from_text.strip().lower(), now, tz, as_end=True)
        end = named_end if named_end is not None else now
    else:
        end = parse_instant(to_text, now=now, tz=tz, as_end=True)
    m = _LAST.match(from_text.strip().lower())
    if m:
        start = end - float(m.group(1)) * _unit(m.group(2), from_text)
    else:
        start = parse_instant(from_text, now=now, tz=tz)
    if start >= end:
        fmt = Period(start, end, tz)
        raise PeriodError(f"--from {from_text} ({fmt.label(start)}) is not before "
                          f"--to {to_text or 'now'} ({fmt.label(end)}); the period would be "
                          "empty")
    return Period(start, end, tz)
