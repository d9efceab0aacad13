"""Table tests of the wrap-vs-reset and uptime-wrap-vs-reboot decision rules (pure)."""

from __future__ import annotations

import pytest

from borderwatch.collector.counters import (
    PLAUSIBLE_RATE_FACTOR,
    UptimeChange,
    Verdict,
    classify_uptime,
    counter_step,
)

M32 = 2**32
DAY = 86400 * 100  # ticks

UPTIME_CASES = [
    # (id, prev ticks, cur ticks, elapsed s, expected)
    ("first", None, 5_000, 10.0, UptimeChange.FIRST),
    ("normal 10 s", 100 * DAY, 100 * DAY + 1000, 10.0, UptimeChange.NORMAL),
    ("frozen (recorded dump)", 492446481, 492446481, 10.0, UptimeChange.NORMAL),
    ("497-day wrap (A26)", M32 - 400, 600, 10.0, UptimeChange.WRAPPED),
    ("wrap seen after a 1 h gap", M32 - 100, 360_000 - 100, 3600.0, UptimeChange.WRAPPED),
    ("reboot: drop to near 0 (A25)", 843153800, 1500, 10.0, UptimeChange.REBOOTED),
    ("reboot near the wrap point is still a reboot", M32 - 400, 300, 60.0,
     UptimeChange.REBOOTED),
    ("reboot of a young device: uptime regrew past the old one", 2_000, 3_000, 60.0,
     UptimeChange.REBOOTED),
    ("small jitter backwards", 100 * DAY, 100 * DAY - 150, 10.0, UptimeChange.NORMAL),
    ("agent restart: back by a day", 100 * DAY, 99 * DAY, 10.0, UptimeChange.REBOOTED),
    ("long outage, no reboot", 100 * DAY, 100 * DAY + 720_000, 7200.0, UptimeChange.NORMAL),
    ("long outage with a reboot", 100 * DAY, 180_000, 7200.0, UptimeChange.REBOOTED),
]


@pytest.mark.parametrize(("prev", "cur", "elapsed", "expect"),
                         [c[1:] for c in UPTIME_CASES], ids=[c[0] for c in UPTIME_CASES])
def test_classify_uptime(prev, cur, elapsed, expect) -> None:
    change, why = classify_uptime(prev, cur, elapsed)
    assert change is expect
    assert bool(why) == (expect in (UptimeChange.REBOOTED, UptimeChange.WRAPPED))


GBIT = 125_000_000.0  # bytes/s

COUNTER_CASES = [
    # (id, prev, cur, bits, prev_bits, elapsed, reset, max_rate, verdict, delta)
    ("first value", None, 10, 32, None, 10.0, None, None, Verdict.FIRST, 0),
    ("normal", 100, 1100, 32, 32, 10.0, None, None, Verdict.NORMAL, 1000),
    ("unchanged", 5, 5, 64, 64, 10.0, None, None, Verdict.NORMAL, 0),
    ("Counter32 wrap (A24)", M32 - 100_000, 100_000, 32, 32, 10.0, None, None, Verdict.WRAP,
     200_000),
    ("Counter32 wrap within line rate", M32 - 10**9, 10**8, 32, 32, 10.0, None, GBIT,
     Verdict.WRAP, 11 * 10**8),
    ("Counter32 drop beyond line rate = reset", 3 * 10**9, 1000, 32, 32, 5.0, None, GBIT,
     Verdict.RESET, 0),
    ("Counter32 drop from the lower half, no speed known = reset", 1_000_000, 5, 32, 32,
     10.0, None, None, Verdict.RESET, 0),
    ("Counter64 never wraps: drop = reset", 2**63 + 10, 12, 64, 64, 10.0, None, None,
     Verdict.RESET, 0),
    ("Counter64 near 2^63 (A27) exact", 2**63 + 5, 2**63 + 5 + 123_456_789_012, 64, 64, 10.0,
     None, None, Verdict.NORMAL, 123_456_789_012),
    ("device rebooted", 500, 900, 32, 32, 10.0, "device rebooted", None, Verdict.RESET, 0),
    ("discontinuity", 500, 400, 64, 64, 10.0, "counter discontinuity", None, Verdict.RESET, 0),
    ("64 → 32 bit switch, value lower", 10**12, 4000, 32, 64, 10.0, None, None,
     Verdict.RESET, 0),
    ("64 → 32 bit switch, value higher", 1000, 3 * 10**9, 32, 64, 10.0, None, None,
     Verdict.RESET, 0),
    ("32 → 64 bit switch", 4000, 10**12, 64, 32, 10.0, None, None, Verdict.RESET, 0),
    ("implausible jump up", 1000, 1000 + 10**12, 64, 64, 10.0, None, GBIT, Verdict.RESET, 0),
    ("Counter32 gap longer than one wrap at line rate", 10, 20, 32, 32, 60.0, None, GBIT,
     Verdict.GAP, 0),
    ("no time elapsed", 10, 20, 32, 32, 0.0, None, None, Verdict.GAP, 0),
    ("speed 0 means unknown", M32 - 10, 10, 32, 32, 10.0, None, 0, Verdict.WRAP, 20),
]


@pytest.mark.parametrize(
    ("prev", "cur", "bits", "prev_bits", "elapsed", "reset", "max_rate", "verdict", "delta"),
    [c[1:] for c in COUNTER_CASES], ids=[c[0] for c in COUNTER_CASES])
def test_counter_step(prev, cur, bits, prev_bits, elapsed, reset, max_rate, verdict,
                      delta) -> None:
    step = counter_step(prev, cur, bits=bits, prev_bits=prev_bits, elapsed=elapsed,
                        reset=reset, max_rate=max_rate)
    assert (step.verdict, step.delta) == (verdict, delta)
    assert step.counted == (verdict in (Verdict.NORMAL, Verdict.WRAP))
    if verdict in (Verdict.RESET, Verdict.GAP):
        assert step.reason


def test_wrap_plausibility_boundary() -> None:
    """The line-rate ceiling: just under it is a wrap, just over it a reset."""
    elapsed = 10.0
    limit = int(GBIT * PLAUSIBLE_RATE_FACTOR * elapsed)
    prev = M32 - 1000
    under = counter_step(prev, limit - 1000, bits=32, prev_bits=32, elapsed=elapsed,
                         max_rate=GBIT)
    over = counter_step(prev, limit - 1000 + 2, bits=32, prev_bits=32, elapsed=elapsed,
                        max_rate=GBIT)
    assert under.verdict is Verdict.WRAP and under.delta == limit
    assert over.verdict is Verdict.RESET
