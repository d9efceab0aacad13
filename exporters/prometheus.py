"""The Prometheus view of the network: a custom collector over NetworkState, built per scrape.

As in client_python's custom-collector pattern, nothing here polls or caches: every
scrape walks the state the scheduler keeps up to date and turns it into metric
families, so /metrics never waits on SNMP (A29) and a device that leaves the inventory
or goes stale simply stops appearing (A30). It is registered on an explicit
`CollectorRegistry`, never on the process-global one.

Families come from three places:
  * the profiles: every series a poll produced, under the name, help and type the
    profile defines, with `site` and `device` labels added;
  * state: device reachability and poll facts, link state and utilisation;
  * the service itself: scheduler, SNMP transport, exposition size (self-metrics).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample

from collector.samples import Kind
from collector.scheduler import Scheduler
from collector.snmp.transport import TransportStats
from collector.state import DeviceSnapshot, NetworkState
from exporters.http import RenderStats
from exporters.influx import InfluxStats
from exporters.influx_metrics import influx_families

VERSION = "0.1.0"


@dataclass(slots=True)
class PollCounters:
    """Per-device running totals the service keeps across polls (state keeps only the latest)."""

    site: str
    varbinds: int = 0  # varbinds received, all polls
    requests: int = 0  # SNMP requests sent, retries included (v1/v2c and v3)
    series_dropped: int = 0  # samples dropped by the per-device series cap


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


def _labels(site: str, device: str, labels: Iterable[tuple[str, str]]) -> dict[str, str]:
    out = {"site": site, "device": device}
    for name, value in labels:
        # A profile label named like ours must not overwrite it (Prometheus' own rule).
        out["exported_" + name if name in ("site", "device") else name] = value
    return out


class BorderwatchCollector:
    """Builds every borderwatch family from live state at scrape time."""

    def __init__(self, sources: ExporterSources) -> None:
        self._src = sources

    def describe(self) -> list[Metric]:
        # Registration must not call collect() (it would read state before the first poll);
        # no names means the registry does not check collisions with this collector.
        return []

    def collect(self) -> Iterator[Metric]:
        families: list[Metric] = []
        state = self._src.state
        devices = state.device_snapshots()
        series_families, per_device = self._profile_series(devices)
        families += series_families
        profile_names = {f.name + "_total" if f.type == "counter" else f.name
                         for f in series_families}
        families += self._device_families(devices, per_device, profile_names)
        families += self._link_families()
        families += self._self_families(devices)
        if self._src.influx is not None:
            families += influx_families(self._src.influx)
        yield from families  # borderwatch_exposition_series is added by exporters.http

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
                        lbl = label_dicts[labels] = _labels(site, dev, labels)
                    append(Sample(metric, lbl, value, None, None))
                n += len(rows)
            per_device[snap.device_id] = n
        return list(by_name.values()), per_device

    # ------------------------------------------------------------------ devices

    def _device_families(self, devices: list[DeviceSnapshot], per_device: dict[str, int],
                         profile_names: set[str]) -> list[Metric]:
        up = GaugeMetricFamily("borderwatch_device_up",
                               "1 if the latest poll of the device succeeded, 0 if it failed "
                               "(absent before the first poll).", labels=["site", "device"])
        duration = GaugeMetricFamily("borderwatch_device_poll_duration_seconds",
                                     "Duration of the device's latest poll.",
                                     labels=["site", "device"])
        last_ok = GaugeMetricFamily("borderwatch_device_last_success_timestamp_seconds",
                                    "Unix time at which the latest successful poll started.",
                                    labels=["site", "device"])
        uptime = GaugeMetricFamily("borderwatch_device_uptime_seconds",
                                   "Time since the SNMP agent (re)started, from sysUpTime.",
                                   labels=["site", "device"])
        polls = CounterMetricFamily("borderwatch_device_polls",
                                    "Polls of the device since the collector started.",
                                    labels=["site", "device"])
        failures = CounterMetricFamily("borderwatch_device_poll_failures",
                                       "Polls of the device that failed (timeout, bad answer).",
                                       labels=["site", "device"])
        reboots = CounterMetricFamily("borderwatch_device_reboots",
                                      "Reboots detected (sysUpTime went back), since start.",
                                      labels=["site", "device"])
        series = GaugeMetricFamily("borderwatch_device_series",
                                   "Series the device contributes to this exposition.",
                                   labels=["site", "device"])
        for snap in devices:
            key = [snap.site_id, snap.device_id]
            if snap.up is not None:
                up.add_metric(key, 1.0 if snap.up else 0.0)
            if snap.poll_duration is not None:
                duration.add_metric(key, snap.poll_duration)
            if snap.last_success is not None:
                last_ok.add_metric(key, snap.last_success)
            if snap.up and not snap.stale and snap.uptime_seconds is not None:
                uptime.add_metric(key, snap.uptime_seconds)
            polls.add_metric(key, snap.polls)
            failures.add_metric(key, snap.failures)
            reboots.add_metric(key, snap.reboots)
            series.add_metric(key, per_device.get(snap.device_id, 0))
        out: list[Metric] = [up, duration, last_ok, polls, failures, reboots, series]
        # The system profile normally provides uptime (from the same sysUpTime); never
        # export a family twice.
        if uptime.name not in profile_names:
            out.append(uptime)
        return out

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

    def _self_families(self, devices: list[DeviceSnapshot]) -> list[Metric]:
        out: list[Metric] = []
        build = GaugeMetricFamily("borderwatch_build_info", "Version of borderwatch; value 1.",
                                  labels=["version", "python"])
        build.add_metric([VERSION, ".".join(map(str, sys.version_info[:3]))], 1.0)
        out.append(build)
        out.append(GaugeMetricFamily("borderwatch_inventory_devices",
                                     "Devices in the inventory being polled.",
                                     value=len(devices)))
        out += self._scheduler_families()
        out += self._transport_families()
        out += self._poll_counter_families()
        render = self._src.render
        if render is not None:
            out.append(GaugeMetricFamily(
                "borderwatch_exposition_bytes",
                "Size of the previous /metrics response body (after compression, if any).",
                value=render.bytes))
            out.append(GaugeMetricFamily(
                "borderwatch_exposition_render_seconds",
                "Time the previous /metrics response took to build and encode.",
                value=render.seconds))
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # collected outside a running loop (tests, tools)
            tasks = 0
        out.append(GaugeMetricFamily("borderwatch_asyncio_tasks",
                                     "asyncio tasks alive in the collector process "
                                     "(should stay flat: a leak shows here first).", value=tasks))
        return out

    def _scheduler_families(self) -> list[Metric]:
        sched = self._src.scheduler
        if sched is None:
            return []
        overruns = CounterMetricFamily(
            "borderwatch_poll_overruns",
            "Ticks skipped because the device's previous poll was still running.",
            labels=["site", "device"])
        missed = CounterMetricFamily(
            "borderwatch_scheduler_missed_ticks",
            "Ticks passed over because the scheduler itself woke up more than an interval "
            "late (event loop blocked).", labels=["site", "device"])
        killed = CounterMetricFamily(
            "borderwatch_poll_deadline_kills",
            "Polls cancelled by the scheduler for running past their deadline (a bug "
            "below the scheduler if not 0).", labels=["site", "device"])
        for device_id, st in sched.stats.items():
            key = [st.site, device_id]
            overruns.add_metric(key, st.overruns)
            missed.add_metric(key, st.missed_ticks)
            killed.add_metric(key, st.deadline_kills)
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
        return [overruns, missed, killed, hist, lag_max, in_flight]

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

    def _poll_counter_families(self) -> list[Metric]:
        counters = self._src.poll_counters
        if counters is None:
            return []
        varbinds = CounterMetricFamily("borderwatch_poll_varbinds",
                                       "Varbinds received from the device, all polls.",
                                       labels=["site", "device"])
        requests = CounterMetricFamily("borderwatch_device_snmp_requests",
                                       "SNMP requests sent to the device (retries included, "
                                       "v1/v2c and v3).", labels=["site", "device"])
        dropped = CounterMetricFamily(
            "borderwatch_device_series_dropped",
            "Series dropped because the device produced more than the per-device series cap.",
            labels=["site", "device"])
        for device_id, c in counters.items():
            key = [c.site, device_id]
            varbinds.add_metric(key, c.varbinds)
            requests.add_metric(key, c.requests)
            dropped.add_metric(key, c.series_dropped)
        out: list[Metric] = [varbinds, requests, dropped]
        if self._src.series_cap is not None:
            out.append(GaugeMetricFamily("borderwatch_device_series_cap",
                                         "Most series one device may contribute per poll.",
                                         value=self._src.series_cap))
        return out


def build_registry(sources: ExporterSources, *, process_metrics: bool = True,
                   ) -> CollectorRegistry:
    """An explicit registry holding the borderwatch collector (and process_* metrics)."""
    # Our collector describes no names (its families depend on what the devices answer);
    # without this flag `?name[]=` filtering would never ask it for anything.
    registry = CollectorRegistry(auto_describe=False, support_collectors_without_names=True)
    registry.register(BorderwatchCollector(sources))
    if process_metrics:
        ProcessCollector(registry=registry)
    return registry
