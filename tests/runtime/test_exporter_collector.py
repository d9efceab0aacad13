"""The Prometheus collector over a hand-fed NetworkState: golden exposition, naming rules.

Pure part (no network): state is fed PollResults with a fixed clock and its own metric
catalog, so the golden text depends on nothing but the exporter. Regenerate the golden
file with BORDERWATCH_UPDATE_GOLDEN=1 after an intended change, and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from borderwatch.collector.icmp.stats import IcmpRound
from borderwatch.collector.profiles import MetricInfo
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec
from borderwatch.exporters.prometheus import BorderwatchCollector, ExporterSources, build_registry

GOLDEN = Path(__file__).with_name("data") / "exposition.golden.txt"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
NOW = 1_790_000_000.0
RX, UP, UPTIME = ("borderwatch_interface_receive_bytes_total", "borderwatch_interface_up",
                  "borderwatch_device_uptime_seconds")
CATALOG = {
    RX: MetricInfo(RX, "Bytes received.", Kind.COUNTER),
    UP: MetricInfo(UP, "1 when ifOperStatus is up.", Kind.GAUGE),
    UPTIME: MetricInfo(UPTIME, "Agent uptime from sysUpTime.", Kind.GAUGE),
    "borderwatch_radio_signal_dbm": MetricInfo("borderwatch_radio_signal_dbm",
                                               "Received signal level.", Kind.GAUGE),
}


def labels(index: int, name: str) -> tuple[tuple[str, str], ...]:
    return (("ifAlias", "uplink"), ("ifDescr", name), ("ifIndex", str(index)),
            ("ifName", name))


def build_state() -> NetworkState:
    devices = [DeviceSpec("dd-agg1", "hub-dongdang", "127.0.0.20:161", interval=60),
               DeviceSpec("bp-huunghi-r1", "bp-huunghi", "127.0.0.50:161", interval=60),
               DeviceSpec("tk-mw1", "hub-thatkhe", "127.0.0.31:161", interval=60),
               DeviceSpec("never", "hub-thatkhe", "127.0.0.99:161", interval=60)]
    links = [LinkSpec("l-dd-hn", "hub-dongdang", "dd-agg1", "ge0", "bp-huunghi",
                      "bp-huunghi-r1", "eth1", "microwave", capacity_bps=100e6)]
    clock = iter([NOW - 60] * 20 + [NOW] * 100)
    state = NetworkState(devices, links, clock=lambda: next(clock), catalog=CATALOG)
    for t, rx in ((NOW - 60, 1_000_000), (NOW, 1_000_000 + 60 * 125_000)):
        state.apply(PollResult("dd-agg1", t, 0.25, True, sys_uptime_ticks=int(t - 1e9) * 100,
                               samples=[Sample(RX, labels(1, "ge0"), rx, Kind.COUNTER, 64),
                                        Sample(UP, labels(1, "ge0"), 1),
                                        Sample(UPTIME, (), t - 1e9)]))
        state.apply(PollResult("bp-huunghi-r1", t, 0.5, True,
                               samples=[Sample(UP, labels(7, "eth1"), 1),
                                        # a profile label that collides with ours
                                        Sample("borderwatch_radio_signal_dbm",
                                               (("device", "odu-a"),), -61.5)]))
        state.apply(PollResult("tk-mw1", t, 3.0, False, error="timeout: no response"))
        # the agent is silent, the host answers ping (collector/icmp)
        state.apply_icmp(IcmpRound("tk-mw1", 3, (0.61, 0.6), t, t))
    return state


def render(state: NetworkState) -> str:
    registry = build_registry(ExporterSources(state=state), process_metrics=False)
    text = generate_latest(registry).decode()
    # the two lines that depend on the machine, not on the state
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith(("borderwatch_build_info{",
                                             "borderwatch_asyncio_tasks "))) + "\n"


def test_exposition_matches_golden() -> None:
    text = render(build_state())
    if os.environ.get("BORDERWATCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


@pytest.fixture(scope="module")
def families() -> dict[str, list]:
    registry = build_registry(ExporterSources(state=build_state()), process_metrics=False)
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value, family.type))
    return out


def by_device(families: dict[str, list], name: str) -> dict[str, float]:
    return {lbl["device"]: v for lbl, v, _ in families.get(name, [])}


def test_device_up_is_absent_before_the_first_poll(families) -> None:
    assert by_device(families, "borderwatch_device_up") == {
        "dd-agg1": 1.0, "bp-huunghi-r1": 1.0, "tk-mw1": 0.0}


def test_every_device_series_carries_site_and_device(families) -> None:
    for name, rows in families.items():
        if name.startswith(("borderwatch_interface_", "borderwatch_device_")):
            assert all({"site", "device"} <= set(lbl) for lbl, _, _ in rows), name


def test_counter_names_and_types(families) -> None:
    (lbl, value, kind), = families[RX]
    assert kind == "counter" and value == 1_000_000 + 60 * 125_000
    assert lbl == {"site": "hub-dongdang", "device": "dd-agg1", "ifAlias": "uplink",
                   "ifDescr": "ge0", "ifIndex": "1", "ifName": "ge0"}


def test_profile_label_named_device_does_not_overwrite_ours(families) -> None:
    (lbl, value, _), = families["borderwatch_radio_signal_dbm"]
    assert lbl == {"site": "bp-huunghi", "device": "bp-huunghi-r1", "exported_device": "odu-a"}
    assert value == -61.5


def test_uptime_family_exported_once(families) -> None:
    # the system profile provides it; the exporter must not add a second family
    assert by_device(families, UPTIME) == {"dd-agg1": NOW - 1e9}


def test_link_metrics(families) -> None:
    (lbl, value, _), = families["borderwatch_link_up"]
    assert lbl == {"link": "l-dd-hn", "a_site": "hub-dongdang", "b_site": "bp-huunghi",
                   "medium": "microwave"} and value == 1.0
    util = {lb["direction"]: v for lb, v, _ in families["borderwatch_link_utilization_ratio"]}
    # 125 000 B/s received at the a end = 1 Mbit/s from b to a, over a 100 Mbit/s link
    assert util == {"b_to_a": pytest.approx(0.01)}


def test_collector_reads_state_at_each_scrape() -> None:
    """No cache: a poll applied between two scrapes shows in the second one."""
    state = build_state()
    collector = BorderwatchCollector(ExporterSources(state=state))
    before = {f.name: f for f in collector.collect()}
    state.apply(PollResult("tk-mw1", NOW, 0.2, True, samples=[Sample(UP, labels(1, "rf"), 1)]))
    after = {f.name: f for f in collector.collect()}
    assert [s.value for s in before["borderwatch_device_up"].samples
            if s.labels["device"] == "tk-mw1"] == [0.0]
    assert [s.value for s in after["borderwatch_device_up"].samples
            if s.labels["device"] == "tk-mw1"] == [1.0]


async def test_docs_list_every_metric() -> None:
    """docs/metrics.md names every profile metric and every family the exporter builds."""
    from borderwatch.collector.profiles import metric_catalog
    from borderwatch.collector.scheduler import Scheduler
    from borderwatch.collector.snmp.transport import TransportStats
    from borderwatch.exporters.http import SERIES_METRIC, RenderStats
    from borderwatch.exporters.http_limits import ListenerStats
    from borderwatch.exporters.prometheus import PollCounters

    docs = DOCS.read_text()
    sources = ExporterSources(state=build_state(), scheduler=Scheduler([]),
                              transport=TransportStats(),
                              poll_counters={"dd-agg1": PollCounters(site="hub-dongdang")},
                              render=RenderStats(), series_cap=10,
                              listener=ListenerStats())
    names = {f.name + "_total" if f.type == "counter" else f.name
             for f in build_registry(sources, process_metrics=False).collect()}
    names |= set(metric_catalog()) | {SERIES_METRIC}
    missing = sorted(n for n in names if f"`{n}`" not in docs)
    assert not missing, f"add to docs/metrics.md: {missing}"
