"""NetworkState.apply_trap: a trap's values at once, marked trap-sourced, until a poll."""

from __future__ import annotations

from test_network_state import ETH1, ETH2, INTERVAL, UP, Clock, clock, gauge, make_state, poll

from borderwatch.collector.state import EventKind, TrapUpdate
from borderwatch.collector.topology_spec import LinkSpec

__all__ = ["clock"]  # the fixture, shared with test_network_state

DOWN = (TrapUpdate(UP, (("ifIndex", "2"),), 0),)
LINK = LinkSpec(link_id="L1", a_site="site-a", a_device="a", a_interface="eth2",
                b_site="site-b", b_device="b", b_interface="eth1", medium="fiber",
                capacity_bps=1e9)


def _polled(clock: Clock):  # type: ignore[no-untyped-def]
    state = make_state(clock, "a", "b", links=[LINK])
    poll(state, clock, "a", [gauge(UP, ETH1, 1), gauge(UP, ETH2, 1)])
    poll(state, clock, "b", [gauge(UP, ETH1, 1)])
    return state


def test_a_link_down_trap_takes_the_link_down_until_the_poll(clock) -> None:
    state = _polled(clock)
    snap = state.device("a")
    version = snap.series_version
    events = state.apply_trap("a", DOWN, "linkDown ifIndex 2")
    assert [e.kind for e in events] == [EventKind.TRAP, EventKind.LINK_DOWN]
    assert snap.trap_sourced and snap.traps == 1 and snap.last_trap is not None
    assert snap.series_version > version  # the exporter's cache sees the change
    assert snap.series[UP] == {ETH1: 1, ETH2: 0}  # the row with ifIndex 2, all its labels
    assert snap.interfaces["2"].up is False
    assert state.link_snapshots()[0].state == "down"
    # the confirming poll says up: it wins, and the mark goes
    events = poll(state, clock, "a", [gauge(UP, ETH1, 1), gauge(UP, ETH2, 1)])
    assert [e.kind for e in events] == [EventKind.LINK_UP]
    assert not snap.trap_sourced


def test_a_reboot_trap_is_an_event_and_counted_by_the_poll_only(clock) -> None:
    state = _polled(clock)
    events = state.apply_trap("a", (), "coldStart", reboot=True)
    assert [e.kind for e in events] == [EventKind.TRAP, EventKind.REBOOTED]
    assert state.device("a").reboots == 0  # sysUpTime of the confirming poll counts it
    assert not state.device("a").trap_sourced  # nothing it shows came from the trap


def test_a_down_or_stale_device_keeps_its_series_hidden(clock) -> None:
    state = _polled(clock)
    poll(state, clock, "a", [], ok=False)
    clock.now += 10 * INTERVAL
    events = state.apply_trap("a", DOWN, "linkDown ifIndex 2")
    assert [e.kind for e in events] == [EventKind.TRAP]
    assert state.device("a").series == {} and not state.device("a").trap_sourced


def test_a_value_the_device_has_no_row_for_gets_one(clock) -> None:
    state = _polled(clock)
    state.apply_trap("a", (TrapUpdate("borderwatch_ups_on_battery", (), 1),), "upsTrapOnBattery")
    assert state.device("a").series["borderwatch_ups_on_battery"] == {(): 1}


def test_unknown_device_changes_nothing(clock) -> None:
    state = _polled(clock)
    assert state.apply_trap("zz", DOWN, "linkDown") == []
