"""--from/--to: dates, ISO times, named periods and relative shortcuts, in Vietnam time."""

from __future__ import annotations

from datetime import datetime

import pytest

from borderwatch.reports.period import VN_TZ, PeriodError, parse_instant, parse_period


def vn(*args: int) -> float:
    return datetime(*args, tzinfo=VN_TZ).timestamp()


NOW = vn(2026, 12, 7, 15, 30)  # a Monday afternoon in Lạng Sơn


@pytest.mark.parametrize(("text", "as_end", "expected"), [
    ("2026-11-01", False, vn(2026, 11, 1)),
    ("2026-11-01T06:00", False, vn(2026, 11, 1, 6)),
    ("2026-11-01 06:00:00+00:00", False, vn(2026, 11, 1, 13)),
    ("now", False, NOW),
    ("today", False, vn(2026, 12, 7)),
    ("yesterday", False, vn(2026, 12, 6)),
    ("yesterday", True, vn(2026, 12, 7)),
    ("this-month", False, vn(2026, 12, 1)),
    ("this-month", True, NOW),  # the month is not over: it ends now
    ("last-month", False, vn(2026, 11, 1)),
    ("last-month", True, vn(2026, 12, 1)),
    ("last-year", False, vn(2025, 1, 1)),
    ("last-year", True, vn(2026, 1, 1)),
    ("-5m", False, NOW - 300),
    ("-2h", False, NOW - 7200),
    ("5 min ago", False, NOW - 300),
    ("2 hours ago", False, NOW - 7200),
    ("3 days ago", False, NOW - 3 * 86400),
])
def test_instants(text: str, as_end: bool, expected: float) -> None:
    assert parse_instant(text, now=NOW, as_end=as_end) == expected


def test_last_month_in_january_is_december_of_the_year_before() -> None:
    jan = vn(2027, 1, 15)
    p = parse_period("last-month", None, now=jan)
    assert (p.start, p.end) == (vn(2026, 12, 1), vn(2027, 1, 1))


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("last-month", None, (vn(2026, 11, 1), vn(2026, 12, 1))),
    (None, None, (vn(2026, 11, 1), vn(2026, 12, 1))),
    ("last-7d", None, (NOW - 7 * 86400, NOW)),
    ("last-24h", "2026-12-01", (vn(2026, 11, 30), vn(2026, 12, 1))),
    ("-5m", None, (NOW - 300, NOW)),
    ("2026-01-01", "2027-01-01", (vn(2026, 1, 1), vn(2027, 1, 1))),
])
def test_periods(start: str | None, end: str | None, expected: tuple[float, float]) -> None:
    p = parse_period(start, end, now=NOW)
    assert (p.start, p.end) == expected


def test_from_after_to_names_both() -> None:
    with pytest.raises(PeriodError) as err:
        parse_period("2026-12-01", "2026-11-01", now=NOW)
    assert str(err.value) == ("--from 2026-12-01 (2026-12-01 00:00) is not before --to "
                              "2026-11-01 (2026-11-01 00:00); the period would be empty")


@pytest.mark.parametrize("bad", ["last-fortnight", "2026-13-01", "5 parsecs ago", "-3y", ""])
def test_unreadable_time_says_what_is_accepted(bad: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_instant(bad, now=NOW)
    assert "use" in str(err.value)
