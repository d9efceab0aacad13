"""The central evaluator's input: TSDB query answers → the engine's snapshots (pure).

The answers are written as Prometheus returns them for the families a shard exports
(docs/metrics.md); `instance` is the shard that exported a series.
"""

from __future__ import annotations

from typing import Any

import pytest

from borderwatch.alerts.tsdb_source import Sample, TsdbError, build_snapshots, parse_result
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

NOW = 1000.0  # the evaluator's steady clock when the answers were read
STALE = 30.0
DEVICES = [DeviceSpec("hub-sw", "hub", interval=2.0), DeviceSpec("post-sw", "post", interval=2.0)]
LINKS = [LinkSpec("L2", "hub", "hub-sw", "p2", "post", "post-sw", "p1")]


def s(name: str, device: str, value: float, instance: str = "shard1:9730",
      **labels: str) -> Sample:
    return Sample({"__name__": name, "device": device, "site": device.split("-")[0],
                   "instance": instance, "job": "borderwatch", **labels}, value)


def iface(device: str, index: int, up: int, instance: str = "shard1:9730") -> Sample:
    return s("borderwatch_interface_up", device, up, instance, ifIndex=str(index),
             ifName=f"p{index}", ifDescr=f"port {index}")


def answers(**results: list[Sample]) -> dict[str, list[Sample]]:
    return {"up": [], "age": [], "success_age": [], "series": [], **results}


def test_a_device_missing_from_the_tsdb_is_unknown_not_down() -> None:
    devices, links = build_snapshots(DEVICES, LINKS, answers(
        up=[s("borderwatch_device_up", "hub-sw", 1)], age=[s("", "hub-sw", 1.0)],
        series=[iface("hub-sw", 2, 1)]), NOW, stale_after=STALE)
    post = next(d for d in devices if d.device_id == "post-sw")
    assert post.up is None and post.stale
    assert links[0].state == "up" and links[0].b_up is None  # seen from the hub end only


def test_a_sample_older_than_stale_after_is_unknown_too() -> None:
    devices, _ = build_snapshots(DEVICES, LINKS, answers(
        up=[s("borderwatch_device_up", "hub-sw", 0)], age=[s("", "hub-sw", STALE + 1)]),
        NOW, stale_after=STALE)
    assert devices[0].up is None


def test_ends_polled_by_two_shards_make_one_link() -> None:
    """The hub (shard 1) reports its port down, the post (shard 2) is silent: the link is
    down as seen from the hub's end, and the post is down, from two instances."""
    devices, links = build_snapshots(DEVICES, LINKS, answers(
        up=[s("borderwatch_device_up", "hub-sw", 1),
            s("borderwatch_device_up", "post-sw", 0, "shard2:9730")],
        age=[s("", "hub-sw", 0.5), s("", "post-sw", 0.5, "shard2:9730")],
        success_age=[s("", "hub-sw", 0.5), s("", "post-sw", 9.0, "shard2:9730")],
        series=[iface("hub-sw", 1, 1), iface("hub-sw", 2, 2)]), NOW, stale_after=STALE)
    hub, post = devices
    assert (hub.up, post.up) == (True, False)
    assert post.last_success_steady == NOW - 9.0  # an age on the TSDB's clock, moved to ours
    assert (links[0].state, links[0].a_up, links[0].b_up) == ("down", False, None)
    assert links[0].reason == "hub-sw p2 down; post-sw unreachable"


def test_the_newest_instance_of_a_device_wins_for_all_its_series() -> None:
    """An old shard still exporting a device (resharding) must not mix into the new one."""
    devices, links = build_snapshots(DEVICES, LINKS, answers(
        up=[s("borderwatch_device_up", "hub-sw", 1, "old:9730"),
            s("borderwatch_device_up", "hub-sw", 1, "new:9730")],
        age=[s("", "hub-sw", 9.0, "old:9730"), s("", "hub-sw", 1.0, "new:9730")],
        series=[iface("hub-sw", 2, 1, "old:9730"), iface("hub-sw", 2, 2, "new:9730")]),
        NOW, stale_after=STALE)
    assert devices[0].interfaces["2"].up is False  # the new instance's row
    assert links[0].a_up is False


def test_measurements_keep_their_own_labels_and_rates_follow_counters() -> None:
    devices, links = build_snapshots(DEVICES, LINKS, answers(
        up=[s("borderwatch_device_up", "hub-sw", 1)], age=[s("", "hub-sw", 1.0)],
        series=[iface("hub-sw", 2, 1),
                s("borderwatch_interface_speed_bytes", "hub-sw", 125e6, ifIndex="2",
                  ifName="p2", ifDescr="port 2")],
        **{"rate:borderwatch_interface_transmit_bytes_total": [
            s("", "hub-sw", 1e6, ifIndex="2", ifName="p2", ifDescr="port 2")]}),
        NOW, stale_after=STALE)
    row = (("ifDescr", "port 2"), ("ifIndex", "2"), ("ifName", "p2"))
    assert devices[0].series["borderwatch_interface_speed_bytes"] == {row: 125e6}
    assert devices[0].interfaces["2"].tx_bps == 8e6
    assert links[0].rate_bps == {"a_to_b": 8e6}


@pytest.mark.parametrize(("body", "message"), [
    ({"status": "error", "error": "parse error"}, "q: parse error"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}},
     "q: expected a vector, got 'matrix'"),
    ("<html>", "q: not a Prometheus API answer"),
])
def test_a_bad_answer_is_a_tsdb_error(body: Any, message: str) -> None:
    with pytest.raises(TsdbError) as err:
        parse_result(body, "q")
    assert str(err.value) == message


def test_an_answer_becomes_samples() -> None:
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"device": "hub-sw"}, "value": [1.5, "1"]},
        {"metric": {"device": "post-sw"}, "value": [1.5, "NaN"]}]}}
    got = parse_result(body, "q")
    assert (got[0].device, got[0].value) == ("hub-sw", 1.0)
    assert got[1].value != got[1].value  # NaN kept as NaN
