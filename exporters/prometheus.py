"""The Prometheus view of the network: a custom collector over NetworkState, built per scrape.

As in client_python's custom-collector pattern, nothing here polls: every scrape reads
the state the scheduler keeps up to date, so /metrics never waits on SNMP (A29) and a
device that leaves the inventory or goes stale simply stops appearing (A30). It is
registered on an explicit `BorderwatchRegistry`, never on the process-global one.

Families come from three places:
  * the profiles: every series a poll produced, under the name, help and type the
    profile defines, with `site` and `device` labels added;
  * state: device reachability and poll facts, link state and utilisation;
  * the service itself: scheduler, SNMP transport, exposition size (self-metrics).

Two renderings of the same families: `registry.collect()` gives all of them as
prometheus_client families (for tools, tests and `generate_latest`); /metrics
(exporters.http) takes the per-device ones, by far the most series, as ready text from
`registry.device_text` (exporters.device_text, label text kept between scrapes) and
only the global ones from `registry.collect_global()`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample

from borderwatch.collector.samples import Kind
from borderwatch.collector.scheduler import Scheduler
from borderwatch.collector.snmp.transport import TransportStats
from borderwatch.collector.state import DeviceSnapshot, NetworkState
from borderwatch.collector.version import package_version
from borderwatch.exporters.device_families import DeviceFamily, PollCounters, families_of
from borderwatch.exporters.device_text import DeviceText, series_labels
from borderwatch.exporters.http_limits import REASONS, ListenerStats
from borderwatch.exporters.influx import InfluxStats
from borderwatch.exporters.influx_metrics import influx_families
from borderwatch.exporters.scrape_render import RenderStats

VERSION = package_version()
__all__ = ["BorderwatchCollector", "BorderwatchRegistry", "ExporterSources", "PollCounters",
           "build_registry"]


@dataclass(frozen=True, slots=True)
class ExporterSources:
    """Everything the collector reads; only `state` is required (tests pass just that)."""

    state: NetworkState
    scheduler: Scheduler | None = None
    transport: TransportStats | None = None
    poll_counters: Mapping[str, PollCounters] | None = None
    render: RenderStats | None = None
    series_cap: int | None = None
    influx: InfluxStats | None = None  # only when the inventory configures InfluxDB
    listener: ListenerStats | None = None  # the HTTP listener's guard (exporters.http_limits)


def _family(family: DeviceFamily) -> Metric:
    """An empty prometheus_client family with the `site`, `device` labels."""
    cls = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
    return cls(family.name, family.help, labels=["site", "device"])


class BorderwatchCollector:
    """Builds every borderwatch family from live state at scrape time."""

    def __init__(self, sources: ExporterSources) -> None:
        self._src = sources

    def describe(self) -> list[Metric]:
        # Registration must not call collect() (it would read state before the first poll);
        # no names means the registry does not check collisions with this collector.
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family (borderwatch_exposition_series is added by exporters.http)."""
        families: list[Metric] = []
        state = self._src.state
        devices = state.device_snapshots()
        series_families, per_device = self._profile_series(devices)
        families += series_families
        profile_names = {f.name + "_total" if f.type == "counter" else f.name
                         for f in series_families}
        families += self._device_families(devices, per_device, profile_names)
        families += self._link_families()
        families += self._self_families(len(devices), per_device=True)
        if self._src.influx is not None:
            families += influx_families(self._src.influx)
        yield from families

    def global_families(self) -> list[Metric]:
        """The families that are not per device: links, self-metrics, Influx writer."""
        families = self._link_families()
        families += self._self_families(len(self._src.state.device_snapshots()),
                                        per_device=False)
        if self._src.influx is not None:
            families += influx_families(self._src.influx)
        return families

    # ------------------------------------------------------------------ profile series

    def _profile_series(self, devices: list[DeviceSnapshot]
                        ) -> tuple[list[Metric], dict[str, int]]:
        state = self._src.state
        by_name: dict[str, Metric] = {}
        per_device: dict[str, int] = {}
        for snap in devices:
            n = 0
            site, dev = snap.site_id, snap.device_id
            # One label dict per row, shared by that row's metrics (an interface's
            # labels repeat for each of its ~11 metrics); building them is the costliest
            # step of a scrape. The encoder only reads them.
            label_dicts: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
            for metric, rows in snap.series.items():
                family = by_name.get(metric)
                if family is None:
                    info = state.metric_info(metric)
                    # CounterMetricFamily strips _total from the family name; the
                    # samples keep the full name, as the exposition format wants.
                    family = (CounterMetricFamily(metric, info.help)
                              if info.kind is Kind.COUNTER else
                              GaugeMetricFamily(metric, info.help))
                    by_name[metric] = family
                # Samples are appended directly: add_metric() re-zips label names per
                # call, which is most of the render time for ~50k interface series.
                append = family.samples.append
                for labels, value in rows.items():
                    lbl = label_dicts.get(labels)
                    if lbl is None:
                        lbl = label_dicts[labels] = series_labels(site, dev, labels)
                    append(Sample(metric, lbl, value, None, None))
                n += len(rows)
            per_device[snap.device_id] = n
        return list(by_name.values()), per_device

    # ------------------------------------------------------------------ devices

    def _device_families(self, devices: list[DeviceSnapshot], per_device: dict[str, int],
                         profile_names: set[str]) -> list[Metric]:
        out: list[Metric] = []
        for family in families_of("state"):
            if family.unless_profile and family.sample_name in profile_names:
                continue  # never export a family twice (the system profile has uptime)
            metric = _family(family)
            for snap in devices:
                value = family.value(snap, per_device.get(snap.device_id, 0))
                if value is not None:
                    metric.add_metric([snap.site_id, snap.device_id], value)
            out.append(metric)
        return out

    @staticmethod
    def _per_device(source: Any, family: DeviceFamily) -> Metric:
        """A scheduler or poll-counter family over {device_id: stats with a .site}."""
        metric = _family(family)
        for device_id, stats in source.items():
            value = family.value(stats)
            if value is not None:
                metric.add_metric([stats.site, device_id], value)
        return metric

    # ------------------------------------------------------------------ links

    def _link_families(self) -> list[Metric]:
        link_labels = ["link", "a_site", "b_site", "medium"]
        up = GaugeMetricFamily("borderwatch_link_up",
                               "1 if the link is up as seen from its ends, 0 if an end reports "
                               "its interface down (absent while neither end can be seen).",
                               labels=link_labels)
        info = GaugeMetricFamily("borderwatch_link_info",
                                 "The link's two ends (site, device, interface); value 1.",
                                 labels=["link", "a_site", "a_device", "a_interface", "b_site",
                                         "b_device", "b_interface", "medium"])
        capacity = GaugeMetricFamily("borderwatch_link_capacity_bits_per_second",
                                     "Nominal capacity of the link per direction (inventory).",
                                     labels=["link", "direction"])
        traffic = GaugeMetricFamily("borderwatch_link_traffic_bits_per_second",
                                    "Traffic over the link per direction, from the interface "
                                    "counters of its ends over the latest poll interval.",
                                    labels=["link", "direction"])
        util = GaugeMetricFamily("borderwatch_link_utilization_ratio",
                                 "Traffic / capacity per direction (0–1, can exceed 1 if the "
                                 "inventory capacity is too low).", labels=["link", "direction"])
        for link in self._src.state.link_snapshots():
            spec = link.spec
            if link.up is not None:
                up.add_metric([spec.link_id, spec.a_site, spec.b_site, spec.medium],
                              1.0 if link.up else 0.0)
            info.add_metric([spec.link_id, spec.a_site, spec.a_device, spec.a_interface,
                             spec.b_site, spec.b_device, spec.b_interface, spec.medium], 1.0)
            for direction in ("a_to_b", "b_to_a"):
                cap = spec.capacity(direction)
                if cap:
                    capacity.add_metric([spec.link_id, direction], cap)
                if direction in link.rate_bps:
                    traffic.add_metric([spec.link_id, direction], link.rate_bps[direction])
                if direction in link.utilization:
                    util.add_metric([spec.link_id, direction], link.utilization[direction])
        return [up, info, capacity, traffic, util]

    # ------------------------------------------------------------------ self-metrics

    def _self_families(self, devices: int, *, per_device: bool) -> list[Metric]:
        out: list[Metric] = []
        build = GaugeMetricFamily("borderwatch_build_info", "Version of borderwatch; value 1.",
                                  labels=["version", "python"])
        build.add_metric([VERSION, ".".join(map(str, sys.version_info[:3]))], 1.0)
        out.append(build)
        out.append(GaugeMetricFamily("borderwatch_inventory_devices",
                                     "Devices in the inventory being polled.",
                                     value=devices))
        out += self._scheduler_families(per_device)
        out += self._transport_families()
        out += self._poll_counter_families(per_device)
        render = self._src.render
        if render is not None:
            out.append(GaugeMetricFamily(
                "borderwatch_exposition_bytes",
                "Size of the previous /metrics response body (after compression, if any).",
                value=render.bytes))
            out.append(GaugeMetricFamily(
                "borderwatch_exposition_render_seconds",
                "Time the previous /metrics render took to build and encode.",
                value=render.seconds))
            out.append(CounterMetricFamily(
                "borderwatch_exposition_scrapes", "/metrics responses served.",
                value=render.scrapes))
            out.append(CounterMetricFamily(
                "borderwatch_exposition_renders", "/metrics renders; concurrent scrapes of "
                "the same variant share one.", value=render.renders))
        if self._src.listener is not None:
            out += _listener_families(self._src.listener)
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # collected outside a running loop (tests, tools)
            tasks = 0
        out.append(GaugeMetricFamily("borderwatch_asyncio_tasks",
                                     "asyncio tasks alive in the collector process "
                                     "(should stay flat: a leak shows here first).", value=tasks))
        return out

    def _scheduler_families(self, per_device: bool) -> list[Metric]:
        sched = self._src.scheduler
        if sched is None:
            return []
        out = [self._per_device(sched.stats, f) for f in families_of("scheduler")] \
            if per_device else []
        lag = sched.lag
        hist = HistogramMetricFamily(
            "borderwatch_scheduler_lag_seconds",
            "Delay between a poll's planned start (its tick) and its actual start.",
            buckets=lag.cumulative(), sum_value=lag.total)
        lag_max = GaugeMetricFamily(
            "borderwatch_scheduler_lag_max_seconds",
            "Largest scheduler lag over the last 5 minutes.",
            value=lag.window_max(sched.clock.monotonic()))
        in_flight = GaugeMetricFamily("borderwatch_polls_in_flight", "Polls running now.",
                                      value=sched.polls_in_flight())
        return [*out, hist, lag_max, in_flight]

    def _transport_families(self) -> list[Metric]:
        st = self._src.transport
        if st is None:
            return []
        requests = CounterMetricFamily(
            "borderwatch_snmp_requests",
            "SNMP v1/v2c request events on the shared transport by result: ok (answered), "
            "timeout (no valid answer in time), retry (a re-send), malformed (an undecodable "
            "datagram received), dropped (a datagram ignored: wrong source, unknown "
            "request-id, duplicate). Events, not outcomes: do not sum over result.",
            labels=["result"])
        dropped_total = sum(st.dropped.values())
        for result, value in (("ok", st.responses), ("timeout", st.timeouts),
                              ("retry", st.retries), ("malformed", st.malformed),
                              ("dropped", dropped_total)):
            requests.add_metric([result], value)
        dropped = CounterMetricFamily("borderwatch_snmp_dropped_datagrams",
                                      "Datagrams ignored by the SNMP transport, by reason.",
                                      labels=["reason"])
        for reason, n in sorted(st.dropped.items()):
            dropped.add_metric([reason], n)
        sent = CounterMetricFamily("borderwatch_snmp_datagrams_sent",
                                   "SNMP v1/v2c datagrams sent, retries included.",
                                   value=st.sent)
        in_flight = GaugeMetricFamily("borderwatch_snmp_requests_in_flight",
                                      "SNMP v1/v2c requests waiting for an answer now.",
                                      value=st.in_flight)
        peak = GaugeMetricFamily("borderwatch_snmp_requests_in_flight_peak",
                                 "Most SNMP requests in flight at once since start (bounded "
                                 "by defaults.max_in_flight).", value=st.max_in_flight_seen)
        return [requests, dropped, sent, in_flight, peak]

    def _poll_counter_families(self, per_device: bool) -> list[Metric]:
        counters = self._src.poll_counters
        if counters is None:
            return []
        out = [self._per_device(counters, f) for f in families_of("counters")] \
            if per_device else []
        if self._src.series_cap is not None:
            out.append(GaugeMetricFamily("borderwatch_device_series_cap",
                                         "Most series one device may contribute per poll.",
                                         value=self._src.series_cap))
        return out


class BorderwatchRegistry(CollectorRegistry):
    """The service's explicit registry: `collect()` gives every family the prometheus_client
    way; /metrics renders the per-device ones from `device_text` and asks
    `collect_global()` for the rest (exporters.http)."""

    def __init__(self, sources: ExporterSources) -> None:
        self._others: list[Any] = []  # collectors besides ours (process_*), in order
        # Our collector describes no names (its families depend on what the devices
        # answer); without this flag `?name[]=` filtering would never ask it for anything.
        super().__init__(auto_describe=False, support_collectors_without_names=True)
        self.borderwatch = BorderwatchCollector(sources)
        super().register(self.borderwatch)
        self.device_text = DeviceText(sources.state, sources.scheduler, sources.poll_counters)

    def register(self, collector: Any) -> None:
        super().register(collector)
        self._others.append(collector)

    def unregister(self, collector: Any) -> None:
        super().unregister(collector)
        self._others.remove(collector)

    def collect_global(self) -> Iterator[Metric]:
        """Every family except the per-device ones that `device_text` renders."""
        yield from self.borderwatch.global_families()
        for collector in list(self._others):
            yield from collector.collect()


def build_registry(sources: ExporterSources, *, process_metrics: bool = True,
                   ) -> BorderwatchRegistry:
    """An explicit registry holding the borderwatch collector (and process_* metrics)."""
    registry = BorderwatchRegistry(sources)
    if process_metrics:
        ProcessCollector(registry=registry)
    return registry


def _listener_families(stats: ListenerStats) -> list[Metric]:
    """The HTTP listener's connections and refusals (exporters/http_limits.py)."""
    closed = CounterMetricFamily("borderwatch_http_connections_closed",
                                 "HTTP connections closed or refused by the listener's limits, "
                                 "by reason.", labels=["reason"])
    for reason in REASONS:
        closed.add_metric([reason], stats.closed.get(reason, 0))
    return [
        GaugeMetricFamily("borderwatch_http_connections_open",
                          "HTTP connections open now.", value=stats.open),
        CounterMetricFamily("borderwatch_http_connections_accepted",
                            "HTTP connections accepted.", value=stats.accepted),
        closed,
        CounterMetricFamily("borderwatch_http_auth_failures",
                            "HTTP requests refused with 401 (no or wrong basic auth).",
                            value=stats.auth_failures),
        CounterMetricFamily("borderwatch_http_writes_refused",
                            "HTTP write requests (silences) refused with 403.",
                            value=stats.writes_refused),
    ]
