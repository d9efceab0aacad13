"""IcmpStats: rounds → reachability, RTT (last, average, jitter) and loss over a window."""

from __future__ import annotations

import pytest

from borderwatch.collector.icmp.stats import IcmpRound, IcmpStats


def rounds(*rtts: tuple[float, ...], sent: int = 3) -> list[IcmpRound]:
    return [IcmpRound("d", sent, r, float(i), 1000.0 + i) for i, r in enumerate(rtts)]


@pytest.mark.parametrize(("window", "given", "expected"), [
    # (up, last, average, jitter, loss, sent, received)
    pytest.param(10, rounds((0.6, 0.62, 0.58)),
                 (True, 0.58, 0.6, 0.03, 0.0, 3, 3), id="one-round"),
    pytest.param(10, rounds((0.6,), ()),
                 (False, 0.6, 0.6, None, 5 / 6, 6, 1), id="silent-round-keeps-last-rtt"),
    pytest.param(2, rounds((1.0, 1.0, 1.0), (0.1,), (0.2, 0.4)),
                 (True, 0.4, (0.1 + 0.2 + 0.4) / 3, (0.1 + 0.2) / 2, 0.5, 9, 6),
                 id="window-drops-old-rounds"),
    pytest.param(10, rounds((), ()), (False, None, None, None, 1.0, 6, 0), id="never-answered"),
])
def test_window(window: int, given: list[IcmpRound], expected: tuple) -> None:
    stats = IcmpStats(window)
    for r in given:
        snap = stats.add(r)
    got = (snap.up, snap.rtt_last, snap.rtt_average, snap.rtt_jitter, snap.loss_ratio,
           snap.sent_total, snap.received_total)
    assert got == pytest.approx(expected)


def test_last_reply_time_survives_silent_rounds() -> None:
    stats = IcmpStats(10)
    for r in rounds((0.01,), (), ()):
        snap = stats.add(r)
    assert (snap.last_round_steady, snap.last_reply_steady, snap.last_reply_wall) == \
        (2.0, 0.0, 1000.0)
