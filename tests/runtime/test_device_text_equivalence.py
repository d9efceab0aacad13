"""/metrics from the per-device text cache says exactly what prometheus_client would say.

exporters.device_text renders the per-device families as text and keeps each series'
label text between scrapes; exporters.http serves that plus the global families. Each
test compares what /metrics serves over HTTP (text, OpenMetrics, gzip, `name[]`) with
prometheus_client's own rendering of `registry.collect()` on the same state, both parsed
by prometheus_client's parsers, sample by sample, with types and help texts.

First on a state fed by hand through every case the cache must notice (values, renamed
and reordered rows, new metrics, odd label values and numbers, staleness, devices moved
or removed); then on the state of a service polling real agents (snmpsim dumps and
net-snmp snmpd), before and after more polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from exposition_compare import assert_same, reference, served
from runtime_helpers import Dev, running_service, v2c, wait_until, write_inventory
from servers import free_udp_port

from borderwatch.collector.profiles import MetricInfo
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.scheduler import Job, Scheduler
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec
from borderwatch.exporters.http import HttpServer, MetricsApp
from borderwatch.exporters.prometheus import (
    BorderwatchRegistry,
    ExporterSources,
    PollCounters,
    build_registry,
)

T0 = 1_790_000_000.0
RX, UP, SIGNAL, UPTIME, ODD = ("borderwatch_interface_receive_bytes_total",
                               "borderwatch_interface_up", "borderwatch_radio_signal_dbm",
                               "borderwatch_device_uptime_seconds", "borderwatch_lab_value")
CATALOG = {
    RX: MetricInfo(RX, "Bytes received.", Kind.COUNTER),
    UP: MetricInfo(UP, "1 when ifOperStatus is up.", Kind.GAUGE),
    # help that each format escapes differently (OpenMetrics also escapes the quote)
    SIGNAL: MetricInfo(SIGNAL, 'Received "RSL" level\\dBm\nper radio.', Kind.GAUGE),
    UPTIME: MetricInfo(UPTIME, "Agent uptime from sysUpTime.", Kind.GAUGE),
}  # ODD is not in the catalog: empty help


def iface(index: int, name: str, alias: str = "uplink") -> tuple[tuple[str, str], ...]:
    return (("ifAlias", alias), ("ifDescr", name), ("ifIndex", str(index)), ("ifName", name))


def poll(device: str, t: float, samples: list[Sample], ok: bool = True) -> PollResult:
    return PollResult(device, t, 0.25, ok, samples=samples, error=None if ok else "timeout",
                      sys_uptime_ticks=int(t - T0 + 5000) * 100 if ok else None)


class Fleet:
    """A hand-fed state, its registry with scheduler and poll counters, served over HTTP."""

    def __init__(self) -> None:
        self.now = T0
        self.specs = [DeviceSpec("dd-agg1", "hub-dongdang", "127.0.0.20:161", interval=60),
                      DeviceSpec("bp-r1", "bp-huunghi", "127.0.0.50:161", interval=60),
                      DeviceSpec("tk-mw1", "hub-thatkhe", "127.0.0.31:161", interval=60),
                      DeviceSpec("never", "hub-thatkhe", "127.0.0.99:161", interval=60)]
        self.links = [LinkSpec("l1", "hub-dongdang", "dd-agg1", "ge0", "bp-huunghi", "bp-r1",
                               "eth1", "microwave", capacity_bps=100e6)]
        self.state = NetworkState(self.specs, self.links, clock=lambda: self.now,
                                  catalog=CATALOG)
        self.scheduler = Scheduler(Job(device_id=s.device_id, interval=60, poll_deadline=50,
                                       poll=None, site=s.site_id)  # type: ignore[arg-type]
                                   for s in self.specs)
        self.counters = {s.device_id: PollCounters(site=s.site_id, varbinds=10 * k,
                                                   requests=k, series_dropped=k % 2)
                         for k, s in enumerate(self.specs)}
        self.registry = build_registry(ExporterSources(
            state=self.state, scheduler=self.scheduler, poll_counters=self.counters,
            series_cap=100), process_metrics=False)

    async def check(self, names: list[str] | None = None) -> None:
        """Every format served equals the reference on the current state."""
        for openmetrics in (False, True):
            old = reference(self.registry, openmetrics=openmetrics, names=names)
            for packed in (False, True):
                new = await served(self.url, openmetrics=openmetrics, packed=packed,
                                   names=names)
                assert_same(new, old)

    url = ""


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    fleet = Fleet()
    app = MetricsApp(fleet.registry, dict)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    fleet.url = server.url
    try:
        yield fleet
    finally:
        await server.stop()


async def test_text_path_matches_prometheus_client_through_every_change(fleet: Fleet) -> None:
    assert isinstance(fleet.registry, BorderwatchRegistry)
    state, t = fleet.state, T0
    first = [Sample(RX, iface(1, "ge0"), 2**64 - 1, Kind.COUNTER, 64),  # exact big integer
             Sample(RX, iface(2, "ge1", 'to "Hữu Nghị"\\lane 2\nbackup'), 123, Kind.COUNTER, 64),
             Sample(UP, iface(1, "ge0"), 1), Sample(UP, iface(2, "ge1"), 0.5),
             Sample(UPTIME, (), 4321.25),
             Sample(ODD, (("probe", "nan"),), float("nan")),
             Sample(ODD, (("probe", "inf"),), float("inf")),
             Sample(ODD, (("probe", "-inf"),), float("-inf")),
             Sample(ODD, (("probe", "tiny"),), -1.5e-300),
             Sample(ODD, (("probe", "large"),), 12345678.9)]
    state.apply(poll("dd-agg1", t, first))
    # a profile label named like ours becomes exported_device; no uptime from the profile
    state.apply(poll("bp-r1", t, [Sample(UP, iface(7, "eth1"), 1),
                                  Sample(SIGNAL, (("device", "odu-a"),), -61.5)]))
    state.apply(poll("tk-mw1", t, [], ok=False))
    await fleet.check()

    # The next poll: same rows in the same order, new values (the kept label text is reused)
    t += 60
    fleet.now = t
    state.apply(poll("dd-agg1", t, [Sample(s.metric, s.labels, s.value + 1 if s.kind is
                                           Kind.COUNTER and s.value < 2**63 else s.value,
                                           s.kind, s.counter_bits) for s in first]))
    state.apply(poll("tk-mw1", t, [Sample(UP, iface(1, "rf"), 1)]))  # recovered
    fleet.counters["dd-agg1"].varbinds += 17
    fleet.scheduler.stats["tk-mw1"].overruns += 1
    await fleet.check()

    # Rows reordered, one renamed, one gone, a new metric, and ODD's family gone
    t += 60
    fleet.now = t
    state.apply(poll("dd-agg1", t, [Sample(UP, iface(2, "ge1", "renamed"), 1),
                                    Sample(UP, iface(1, "ge0"), 1),
                                    Sample(RX, iface(1, "ge0"), 5, Kind.COUNTER, 64),
                                    Sample(SIGNAL, (), -70.0)]))
    await fleet.check()
    await fleet.check(names=[UP, "borderwatch_device_polls_total",
                             "borderwatch_poll_varbinds_total", "borderwatch_link_up",
                             "borderwatch_exposition_series"])
    await fleet.check(names=[SIGNAL])

    # Staleness: dd-agg1 and bp-r1 stop answering for long; their series go, tk-mw1 stays
    t += 200
    fleet.now = t
    state.apply(poll("tk-mw1", t, [Sample(UP, iface(1, "rf"), 0)]))
    await fleet.check()

    # Topology change: bp-r1 removed, tk-mw1 moved to another site, a new device added
    moved = DeviceSpec("tk-mw1", "hub-chima", "127.0.0.31:161", interval=60)
    state.set_topology([fleet.specs[0], moved, fleet.specs[3],
                        DeviceSpec("new-1", "hub-chima", "127.0.0.40:161", interval=60)], [])
    state.apply(poll("tk-mw1", t, [Sample(UP, iface(1, "rf"), 1)]))
    state.apply(poll("new-1", t, [Sample(UP, iface(3, "x"), 1)]))
    await fleet.check()
    served_text = await served(fleet.url)
    assert not [k for k in served_text["samples"] if ("device", "bp-r1") in k[1]
                and k[0].startswith("borderwatch_interface_")]


async def test_concurrent_scrapes_agree(fleet: Fleet) -> None:
    """Two scrapes interleaved on the loop (the render yields) both see the same state."""
    fleet.state.apply(poll("dd-agg1", T0, [Sample(UP, iface(i, f"ge{i}"), 1)
                                           for i in range(300)]))
    old = reference(fleet.registry)
    for new in await asyncio.gather(*(served(fleet.url) for _ in range(4))):
        assert_same(new, old)


SIM_DUMPS = {"c3560": "cisco-c3560", "m5": "ubiquiti-m5", "eaton": "eaton-93e-80"}


async def test_text_path_matches_on_a_service_polling_real_agents(
        tmp_path: Path, snmpd, snmpsim_dumps) -> None:
    sim = snmpsim_dumps
    env = {"BW_PUBLIC": "public",
           **{f"BW_{key.upper()}": sim.community_for(dump) for key, dump in SIM_DUMPS.items()}}
    creds = {"public": v2c("BW_PUBLIC"),
             **{key: v2c(f"BW_{key.upper()}") for key in SIM_DUMPS}}
    devices = [Dev(key, sim.port, key, site="ls-core" if i % 2 else "bp-tanthanh")
               for i, key in enumerate(SIM_DUMPS)]
    devices += [Dev("snmpd-v2c", snmpd.port, "public",
                    extra={"interval": 1, "timeout": 0.5, "poll_deadline": 0.9}),
                Dev("dead", free_udp_port(), "public", site="bp-dead")]
    inv = write_inventory(tmp_path / "inventory.yaml", devices, creds,
                          {"interval": 8, "timeout": 2, "retries": 1, "poll_deadline": 7.5,
                           "max_repetitions": 60})
    async with running_service(inv, env) as service:
        state = service.state
        live = [*SIM_DUMPS, "snmpd-v2c"]
        # (snmpsim on a loaded machine may miss a poll: a good one some time is enough,
        # the series of a device that failed since stay until it goes stale)
        await wait_until(lambda: all(state.device(d).last_success is not None for d in live)
                         and state.device("dead").up is False,
                         within=60, what="a good poll of every live device")
        registry = service.metrics_app.registry
        url = service.http.url
        # A first scrape while polls run fills the text cache (not compared: state moves)
        await served(url)
        # More polls of snmpd (its counters move): the cache must follow them.
        polls = state.device("snmpd-v2c").polls
        await wait_until(lambda: state.device("snmpd-v2c").polls >= polls + 2, within=20,
                         what="two more polls of snmpd")
        await service.scheduler.stop()  # a still state for the comparison
        # (answers to cancelled polls may still arrive: the transport's counters move)
        late = ("borderwatch_snmp_",)
        for openmetrics in (False, True):
            for packed in (False, True):
                assert_same(await served(url, openmetrics=openmetrics, packed=packed),
                            reference(registry, openmetrics=openmetrics), late)
        names = ["borderwatch_interface_receive_bytes_total", "borderwatch_device_up",
                 "borderwatch_inventory_devices", "borderwatch_exposition_series"]
        assert_same(await served(url, names=names), reference(registry, names=names))
