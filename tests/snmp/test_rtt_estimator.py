"""The round-trip estimator (collector/snmp/rtt.py) on simulated sequences of samples:
no network, no clock, so every expectation is exact arithmetic."""

from __future__ import annotations

import math
import random

import pytest

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.rtt import RttBounds, RttEstimator
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.timing import RequestTiming


def test_first_sample_then_rfc6298_updates() -> None:
    est = RttEstimator()
    assert est.timeout() == RttBounds().initial  # nothing measured yet
    est.sample(0.6)
    assert est.srtt == pytest.approx(0.6)
    assert est.rttvar == pytest.approx(0.3)
    assert est.timeout() == pytest.approx(0.6 + 4 * 0.3)
    est.sample(0.64)
    assert est.rttvar == pytest.approx(0.75 * 0.3 + 0.25 * 0.04)
    assert est.srtt == pytest.approx(0.875 * 0.6 + 0.125 * 0.64)


def test_vsat_sequence_converges_just_above_the_round_trip() -> None:
    rng = random.Random(7)
    est = RttEstimator()
    for _ in range(200):
        est.answered(rng.uniform(0.55, 0.65), attempts=1)
    assert 0.55 < est.srtt < 0.65
    # above the slowest answer seen, far below a "safe" fixed 5 s
    assert 0.65 < est.timeout() < 1.0


def test_fast_agent_is_clamped_to_the_lower_bound() -> None:
    est = RttEstimator()
    for _ in range(50):
        est.answered(0.002, attempts=1)
    assert est.timeout() == RttBounds().lo


def test_upper_bound_holds() -> None:
    est = RttEstimator()
    for _ in range(20):
        est.answered(30.0, attempts=1)
    assert est.timeout() == RttBounds().hi


def test_karn_no_sample_from_a_retransmitted_request() -> None:
    est = RttEstimator()
    for _ in range(10):
        est.answered(0.1, attempts=1)
    srtt, rttvar, samples = est.srtt, est.rttvar, est.samples
    # answered after a resend: the 2.3 s may be "timeout + RTT" of attempt 1 or the RTT
    # of attempt 2, so it must not move the estimate
    est.answered(2.3, attempts=2)
    assert (est.srtt, est.rttvar, est.samples) == (srtt, rttvar, samples)


def test_spurious_retransmission_is_told_apart_by_timing() -> None:
    """Timeout 0.6 s too short for a 0.7 s round trip: the answer comes 0.1 s after the
    resend, sooner than half the fastest round trip (0.55 s), so it answers attempt 1:
    not a loss, and a valid 0.7 s sample. An answer 0.6 s after the resend could answer
    either send: no sample, and counted as a loss (Karn, conservative)."""
    est = RttEstimator()
    for _ in range(20):
        est.answered(0.55, attempts=1)
    before = est.srtt
    est.answered(0.7, attempts=2, last_wait=0.1)
    assert est.srtt > before and est.loss == 0.0
    samples = est.samples
    est.answered(1.2, attempts=2, last_wait=0.6)
    assert est.samples == samples and est.loss > 0.0


def test_early_loss_does_not_jump_to_max_retries() -> None:
    est = RttEstimator()
    est.answered(0.1, attempts=1)
    est.answered(0.1, attempts=2)  # one loss in the first two requests
    assert est.retries() < RttBounds().max_retries


def test_backoff_after_silence_until_a_valid_sample() -> None:
    """Round trip grows from 50 ms to 1.5 s (fibre to VSAT failover): silences double the
    timeout, retransmitted answers do not end the back-off (Karn), the first answer to a
    first attempt does."""
    est = RttEstimator(RttBounds(min_samples=1000))  # no history cap in this test
    for _ in range(20):
        est.answered(0.05, attempts=1)
    base = est.timeout()
    est.silent()
    assert est.timeout() == pytest.approx(2 * base)
    est.answered(1.5, attempts=2)  # ambiguous: the back-off stays
    assert est.timeout() == pytest.approx(2 * base)
    while est.timeout() < 1.5:
        est.silent()
    est.answered(1.5, attempts=1)  # a valid sample: back-off over, estimate moves
    assert est.backoff == 1.0
    assert est.srtt > 0.05


def test_dead_device_backoff_stops_at_what_its_history_justifies() -> None:
    est = RttEstimator()
    for _ in range(30):
        est.answered(0.3, attempts=1)
    for _ in range(20):
        est.silent()
    assert est.timeout() == pytest.approx(2 * 0.3)  # history_factor × the largest RTT
    assert est.timeout() < RttBounds().hi


def test_no_history_backs_off_to_the_upper_bound() -> None:
    est = RttEstimator()
    for _ in range(10):
        est.silent()
    assert est.timeout() == RttBounds().hi


@pytest.mark.parametrize(("every", "retries"), [(0, 1), (199, 1), (32, 2), (13, 3), (3, 4)])
def test_retries_sized_to_measured_loss(every: int, retries: int) -> None:
    """One attempt lost every `every` requests (loss 1/(every+1) of attempts: 0.5 %, 3 %,
    7 %, 25 %); enough resends that loss alone fails 1 request in 10,000, at most 4:
    0.005**2, 0.03**3, 0.07**4 < 1e-4 < 0.03**2, 0.07**3; 0.25 would need 6."""
    est = RttEstimator()
    assert est.retries() == RttBounds().initial_retries
    for k in range(3000):
        est.answered(0.1, attempts=2 if every and k % every == every - 1 else 1)
    loss = 1 / (every + 1) if every else 0.0
    assert est.loss == pytest.approx(loss, rel=0.5, abs=1e-9)  # phase of the last loss
    expected = 1 if not loss else min(4, max(1, math.ceil(math.log(1e-4) / math.log(loss)) - 1))
    assert expected == retries
    assert est.retries() == retries


def test_silence_is_not_loss() -> None:
    est = RttEstimator()
    for _ in range(10):
        est.answered(0.1, attempts=1)
    for _ in range(50):
        est.silent()  # a dead device: its retries must not grow with the silence
    assert est.retries() == RttBounds().min_retries


def test_state_round_trip_and_bad_state() -> None:
    est = RttEstimator()
    for rtt in (0.5, 0.6, 0.7):
        est.answered(rtt, attempts=1)
    est.answered(0.6, attempts=2)
    again = RttEstimator.from_dict(est.to_dict())
    assert again.timeout() == pytest.approx(est.timeout())
    assert again.retries() == est.retries()
    assert again.samples == 3
    for bad in (None, "x", {"srtt": "fast"}, {"srtt": float("nan")}, {"srtt": -1},
                {"srtt": 1, "samples": -2}):
        fresh = RttEstimator.from_dict(bad)
        assert fresh.srtt is None and fresh.timeout() == RttBounds().initial


def _settings(timeout: float | str, retries: int | str) -> SessionSettings:
    return SessionSettings(address="127.0.0.1", community=Secret("public"), timeout=timeout,
                           retries=retries)


def test_explicit_numbers_win() -> None:
    timing = RequestTiming(_settings(1.5, 3))
    for _ in range(20):
        timing.answered(0.01, attempts=1)
    assert (timing.timeout(), timing.retries()) == (1.5, 3)
    assert timing.estimator.srtt == pytest.approx(0.01)  # measured all the same
    fixed_timeout = RequestTiming(_settings(1.5, "auto"))
    assert fixed_timeout.retries() == 1  # the former default with a fixed timeout
    auto = RequestTiming(_settings("auto", "auto"))
    for _ in range(20):
        auto.answered(0.6, attempts=1)
    assert auto.adaptive and 0.6 < auto.timeout() < 1.0


def test_settings_refuse_bad_timing() -> None:
    for timeout, retries in ((0, 1), ("fast", 1), (1, -1), (1, "many")):
        with pytest.raises(ValueError):
            _settings(timeout, retries)
