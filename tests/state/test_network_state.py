"""NetworkState on hand-built poll results with a fake clock: counters, events, links."""

from __future__ import annotations

import pytest

from borderwatch.collector.samples import Kind, Labels, PollResult, Sample
from borderwatch.collector.state import EventKind, NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

RX = "borderwatch_interface_receive_bytes_total"
TX = "borderwatch_interface_transmit_bytes_total"
UP = "borderwatch_interface_up"
SPEED = "borderwatch_interface_speed_bytes"
DISC = "borderwatch_interface_discontinuity_time_seconds"
INTERVAL = 10.0
BOOT = 1_000_000.0  # wall time the fake devices booted at


def iface(index: int, name: str) -> Labels:
    return (("ifAlias", ""), ("ifDescr", name), ("ifIndex", str(index)), ("ifName", name))


ETH1, ETH2 = iface(1, "eth1"), iface(2, "eth2")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def result(device: str, t: float, *, ok: bool = True, uptime: float | None = None,
           samples: list[Sample] | None = None, problems: list[str] | None = None
           ) -> PollResult:
    ticks = None if uptime is None else int(uptime * 100) % 2**32
    return PollResult(device, t, 0.0, ok, error=None if ok else "timeout: no response",
                      samples=samples or [], sys_uptime_ticks=ticks, problems=problems or [])


def counter(metric: str, labels: Labels, value: int, bits: int = 64) -> Sample:
    return Sample(metric, labels, value, Kind.COUNTER, bits)


def gauge(metric: str, labels: Labels, value: float) -> Sample:
    return Sample(metric, labels, value)


@pytest.fixture
def clock() -> Clock:
    return Clock(BOOT + 100 * 86400)


def make_state(clock: Clock, *devices: str, links: list[LinkSpec] | None = None
               ) -> NetworkState:
    return NetworkState([DeviceSpec(d, f"site-{d}", interval=INTERVAL) for d in devices],
                        links or [], clock=clock)


def poll(state: NetworkState, clock: Clock, device: str, samples: list[Sample], *,
         uptime: float | None = None, ok: bool = True, problems: list[str] | None = None):
    """Advance the clock one interval and apply a poll; returns the events."""
    clock.now += INTERVAL
    up = clock.now - BOOT if uptime is None else uptime
    return state.apply(result(device, clock.now, ok=ok, uptime=up, samples=samples,
                              problems=problems))


def rx_of(state: NetworkState, device: str = "d", labels: Labels = ETH1):
    snap = state.device(device)
    return snap.series[RX][labels], snap.rates.get(RX, {}).get(labels)


def test_first_total_is_the_raw_counter_and_rates_follow(clock) -> None:
    state = make_state(clock, "d")
    poll(state, clock, "d", [counter(RX, ETH1, 123_456)])
    assert rx_of(state) == (123_456, None)  # what snmpget shows; no rate yet
    poll(state, clock, "d", [counter(RX, ETH1, 123_456 + 50_000)])
    assert rx_of(state) == (173_456, 5_000.0)


def test_counter32_wrap_adds_2_to_the_32(clock) -> None:
    state = make_state(clock, "d")
    start = 2**32 - 100_000
    poll(state, clock, "d", [counter(RX, ETH1, start, 32)])
    poll(state, clock, "d", [counter(RX, ETH1, 100_000, 32)])  # passed 2^32
    total, rate = rx_of(state)
    assert total == start + 200_000 and rate == 20_000.0


def test_reboot_restarts_series_without_spike_and_emits_one_event(clock) -> None:
    state = make_state(clock, "d")
    poll(state, clock, "d", [counter(RX, ETH1, 10**9, 32)])
    poll(state, clock, "d", [counter(RX, ETH1, 10**9 + 10_000, 32)])
    before, _ = rx_of(state)
    events = poll(state, clock, "d", [counter(RX, ETH1, 500, 32)], uptime=3.0)
    assert [e.kind for e in events] == [EventKind.REBOOTED]
    assert rx_of(state) == (before, None)  # one interval without rate, total kept
    events = poll(state, clock, "d", [counter(RX, ETH1, 10_500, 32)], uptime=13.0)
    assert events == []
    assert rx_of(state) == (before + 10_000, 1000.0)
    assert state.device("d").reboots == 1


def test_uptime_497_day_wrap_is_not_a_reboot(clock) -> None:
    state = make_state(clock, "d")
    near = (2**32 - 500) / 100  # seconds: sysUpTime wraps 5 s into the next interval
    poll(state, clock, "d", [counter(RX, ETH1, 1000)], uptime=near)
    events = poll(state, clock, "d", [counter(RX, ETH1, 2000)], uptime=near + INTERVAL)
    assert events == [] and state.device("d").reboots == 0
    assert rx_of(state) == (2000, 100.0)  # counter handling continues


def test_discontinuity_resets_only_that_interface(clock) -> None:
    state = make_state(clock, "d")

    def samples(rx1: int, rx2: int, disc1: float) -> list[Sample]:
        return [counter(RX, ETH1, rx1), counter(RX, ETH2, rx2),
                gauge(DISC, ETH1, disc1), gauge(DISC, ETH2, 0.0)]

    poll(state, clock, "d", samples(5000, 7000, 0.0))
    poll(state, clock, "d", samples(6000, 8000, 0.0))
    events = poll(state, clock, "d", samples(10, 9000, 123.45))  # eth1 re-created
    assert events == []
    assert rx_of(state, labels=ETH1) == (6000, None)
    assert rx_of(state, labels=ETH2) == (9000, 100.0)
    poll(state, clock, "d", samples(1010, 10_000, 123.45))
    assert rx_of(state, labels=ETH1) == (7000, 100.0)


def test_switch_from_64_to_32_bit_counters_gives_no_false_spike(clock) -> None:
    state = make_state(clock, "d")
    poll(state, clock, "d", [counter(RX, ETH1, 5 * 10**12, 64)])
    poll(state, clock, "d", [counter(RX, ETH1, 5 * 10**12 + 10_000, 64)])
    total, _ = rx_of(state)
    poll(state, clock, "d", [counter(RX, ETH1, 4_000_000_000, 32)])  # HC column vanished
    assert rx_of(state) == (total, None)
    poll(state, clock, "d", [counter(RX, ETH1, 4_000_020_000, 32)])
    assert rx_of(state) == (total + 20_000, 2000.0)


def test_counter64_near_2_to_the_63_is_exact(clock) -> None:
    state = make_state(clock, "d")
    base = 2**63 + 7
    poll(state, clock, "d", [counter(RX, ETH1, base)])
    poll(state, clock, "d", [counter(RX, ETH1, base + 10**9 + 3)])
    total, rate = rx_of(state)
    assert total == base + 10**9 + 3 and isinstance(total, int)  # no float rounding
    assert rate == (10**9 + 3) / INTERVAL


def test_wrap_judged_against_interface_speed(clock) -> None:
    state = make_state(clock, "d")
    slow = [gauge(SPEED, ETH1, 1_250.0)]  # 10 kbit/s: a Counter32 cannot wrap in 10 s
    poll(state, clock, "d", [counter(RX, ETH1, 3 * 10**9, 32), *slow])
    poll(state, clock, "d", [counter(RX, ETH1, 50, 32), *slow])
    assert rx_of(state) == (3 * 10**9, None)  # reset, not a 1.3 GB "wrap"
    poll(state, clock, "d", [counter(RX, ETH1, 2**32 - 1000, 32), *slow])  # reset again
    poll(state, clock, "d", [counter(RX, ETH1, 50, 32), *slow])  # 1050 B in 10 s: a wrap
    assert rx_of(state) == (3 * 10**9 + 1050, 105.0)


def test_unreachable_and_recovered_once_per_change(clock) -> None:
    state = make_state(clock, "d")
    kinds = []
    for ok in (True, False, False, False, True, True, False):
        kinds += [e.kind for e in poll(state, clock, "d", [], ok=ok)]
    assert kinds == [EventKind.UNREACHABLE, EventKind.RECOVERED, EventKind.UNREACHABLE]
    snap = state.device("d")
    assert snap.up is False and snap.failures == 4 and snap.last_error.startswith("timeout")
    assert snap.last_success == clock.now - INTERVAL


def test_first_poll_failing_is_reported(clock) -> None:
    state = make_state(clock, "d")
    assert state.device("d").up is None
    assert [e.kind for e in poll(state, clock, "d", [], ok=False)] == [EventKind.UNREACHABLE]


def test_profile_mismatch_is_an_event_once(clock) -> None:
    state = make_state(clock, "d")
    problem = ["profile mismatch: ups-mib: the device answers none of its objects"]
    kinds = []
    for problems in (problem, problem, problem, [], problem):
        kinds += [e.kind for e in poll(state, clock, "d", [], problems=problems)]
    assert kinds == [EventKind.PROFILE_MISMATCH, EventKind.PROFILE_MISMATCH]
    assert state.device("d").up is True


def test_dead_device_series_vanish_after_the_ttl_and_removed_device_disappears(clock) -> None:
    state = make_state(clock, "d", "e")
    poll(state, clock, "d", [gauge(UP, ETH1, 1), counter(RX, ETH1, 5)])
    poll(state, clock, "d", [], ok=False)
    snap = state.device("d")
    assert snap.series and not snap.stale  # within 3 intervals: last values kept
    clock.now += 3 * INTERVAL
    snap = state.device("d")
    assert snap.stale and snap.series == {} and snap.rates == {} and snap.interfaces == {}
    assert snap.up is False
    poll(state, clock, "d", [gauge(UP, ETH1, 1), counter(RX, ETH1, 9)])
    assert rx_of(state) == (9, 4 / 50)  # a Counter64 is unambiguous across the gap
    state.set_topology([DeviceSpec("e", "site-e", interval=INTERVAL)], [])
    assert [s.device_id for s in state.device_snapshots()] == ["e"]
    assert state.device("d") is None
    assert state.apply(result("d", clock.now, samples=[gauge(UP, ETH1, 1)])) == []


A_IF, B_IF = iface(3, "ge-0/0/3"), iface(7, "Gi0/7")
LINK = LinkSpec("L22", "bg", "a", "ge-0/0/3", "core", "b", "Gi0/7", medium="vsat",
                capacity_bps=4e6, capacity_up_bps=1e6)


def _end(oper: int, tx: int = 0, rx: int = 0, labels: Labels = A_IF) -> list[Sample]:
    return [gauge(UP, labels, 1 if oper == 1 else 0), gauge(SPEED, labels, 1.25e6),
            counter(TX, labels, tx), counter(RX, labels, rx)]


@pytest.mark.parametrize(("a", "b", "state", "up"), [
    ("up", "up", "up", True),
    ("up", "down", "down", False),
    ("down", "unreachable", "down", False),
    ("up", "unreachable", "up", True),  # the only evidence says the line is up
    ("unreachable", "unreachable", "unknown", None),
    ("never", "never", "unknown", None),
    ("up", "no-such-interface", "up", True),
])
def test_link_state_from_both_ends(clock, a, b, state, up) -> None:
    net = make_state(clock, "a", "b", links=[LINK])
    for device, how, labels in (("a", a, A_IF), ("b", b, B_IF)):
        if how == "never":
            continue
        if how == "no-such-interface":
            labels = iface(9, "other")
        poll(net, clock, device, _end(1 if how in ("up", "no-such-interface") else 2,
                                      labels=labels), ok=how != "unreachable")
    link = net.link_snapshots()[0]
    assert (link.state, link.up) == (state, up), link.reason


def test_link_state_change_events(clock) -> None:
    net = make_state(clock, "a", "b", links=[LINK])
    poll(net, clock, "a", _end(1))
    poll(net, clock, "b", _end(1, labels=B_IF))
    events = poll(net, clock, "b", _end(2, labels=B_IF))
    assert [(e.kind, e.link_id) for e in events] == [(EventKind.LINK_DOWN, "L22")]
    assert poll(net, clock, "b", _end(2, labels=B_IF)) == []
    events = poll(net, clock, "b", _end(1, labels=B_IF))
    assert [e.kind for e in events] == [EventKind.LINK_UP]


def test_link_utilisation_per_direction_with_asymmetric_capacity(clock) -> None:
    net = make_state(clock, "a", "b", links=[LINK])
    poll(net, clock, "a", _end(1, tx=0, rx=0))
    poll(net, clock, "b", _end(1, tx=0, rx=0, labels=B_IF))
    # 20 s later (each poll() is 10 s): a sent 1.25 MB (500 kbit/s up), b sent 5 MB
    # (2 Mbit/s down)
    poll(net, clock, "a", _end(1, tx=1_250_000, rx=5_000_000))
    poll(net, clock, "b", _end(1, tx=5_000_000, rx=1_250_000, labels=B_IF))
    link = net.link_snapshots()[0]
    assert link.rate_bps == {"a_to_b": 500_000.0, "b_to_a": 2_000_000.0}
    assert link.utilization == {"a_to_b": 0.5, "b_to_a": 0.5}
    iface_a = net.device("a").interfaces["3"]
    assert (iface_a.tx_bps, iface_a.speed_bps, iface_a.tx_utilization) == (500_000.0, 1e7, 0.05)


def test_utilisation_from_the_far_end_when_the_sender_is_unreachable(clock) -> None:
    net = make_state(clock, "a", "b", links=[LINK])
    poll(net, clock, "b", _end(1, rx=0, labels=B_IF))
    poll(net, clock, "b", _end(1, rx=1_250_000, labels=B_IF))  # 1 Mbit/s a → b
    link = net.link_snapshots()[0]
    assert link.rate_bps["a_to_b"] == 1_000_000.0 and link.utilization["a_to_b"] == 1.0


def test_partial_poll_is_an_event_per_change_a_series_and_a_flag(clock) -> None:
    """Issue 11: a device that answers but whose walk looped or hit a bound is partial:
    visible in its snapshot and series, logged once when it starts and once when it ends."""
    state = make_state(clock, "d")
    loop = {"loop": 1}
    seen = []
    for kinds, ok in ((loop, True), (loop, True), (loop, False), (loop, True),
                      ({"loop": 1, "rows_bound": 2}, True), ({}, True), ({}, True)):
        clock.now += INTERVAL
        r = result("d", clock.now, ok=ok, uptime=clock.now - BOOT,
                   problems=[f"walk of 1.3.6.1.2.1.2.2.1.8: {k}" for k in kinds])
        r.problem_kinds = dict(kinds) if ok else {}
        events = state.apply(r)
        seen += [(e.kind, e.message) for e in events if e.kind not in (
            EventKind.UNREACHABLE, EventKind.RECOVERED)]
        snap = state.device("d")
        assert snap.partial is (bool(kinds) if ok else None)
        if ok and kinds:
            assert snap.series["borderwatch_device_poll_problems"] == {
                (("kind", k),): n for k, n in kinds.items()}
        elif ok:
            assert "borderwatch_device_poll_problems" not in snap.series
    assert seen == [
        (EventKind.DATA_INCOMPLETE, "data incomplete (loop): walk of 1.3.6.1.2.1.2.2.1.8: loop"),
        (EventKind.DATA_INCOMPLETE, "data incomplete (loop, rows_bound): "
                                    "walk of 1.3.6.1.2.1.2.2.1.8: loop"),
        (EventKind.DATA_COMPLETE, "data complete again")]
    assert state.device("d").partial_polls == 4
    assert state.metric_info("borderwatch_device_poll_problems").help


def test_rates_divide_by_the_time_between_the_answers(clock) -> None:
    # Issue 11: the column of the second poll came 3 s into it (a retry), the first one at
    # once; the poll starts are 10 s apart, the answers 13 s.
    state = make_state(clock, "d")
    first = result("d", clock.now, uptime=50.0, samples=[
        Sample(RX, ETH1, 1_000, Kind.COUNTER, 64, t=clock.now + 0.01)])
    first.started_steady, first.sys_uptime_at = clock.now, clock.now + 0.01
    state.apply(first)
    clock.now += INTERVAL
    second = result("d", clock.now, uptime=60.0, samples=[
        Sample(RX, ETH1, 1_000 + 13_000, Kind.COUNTER, 64, t=clock.now + 3.01)])
    second.started_steady, second.sys_uptime_at = clock.now, clock.now + 0.01
    second.duration = 3.02
    state.apply(second)
    assert rx_of(state) == (14_000, pytest.approx(1_000.0))  # 13,000 bytes in 13 s

