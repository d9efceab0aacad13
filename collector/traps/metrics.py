"""The receiver's Prometheus families, read from its live counters at each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.collector.state import NetworkState
from borderwatch.collector.traps.receiver import RESULTS, TrapStats

RECEIVED = "borderwatch_traps_received"
TRAPS = "borderwatch_traps"
INFORMS = "borderwatch_traps_informs_acknowledged"
QUEUE = "borderwatch_traps_queue_length"
QUEUE_CAP = "borderwatch_traps_queue_capacity"
EXTRA_POLLS = "borderwatch_device_trap_polls"
LAST_TRAP = "borderwatch_device_last_trap_timestamp_seconds"
TRAP_SOURCED = "borderwatch_device_trap_sourced"


class TrapCollector:
    """Families of one receiver and the trap facts of the state and the scheduler."""

    def __init__(self, stats: TrapStats, state: NetworkState,
                 extra_polls: Callable[[str], int]) -> None:
        self._stats = stats
        self._state = state
        self._extra_polls = extra_polls  # device → polls started by traps so far

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(RECEIVED, ""), CounterMetricFamily(TRAPS, ""),
                CounterMetricFamily(INFORMS, ""), GaugeMetricFamily(QUEUE, ""),
                GaugeMetricFamily(QUEUE_CAP, ""), CounterMetricFamily(EXTRA_POLLS, ""),
                GaugeMetricFamily(LAST_TRAP, ""), GaugeMetricFamily(TRAP_SOURCED, "")]

    def collect(self) -> Iterator[Metric]:
        st = self._stats
        received = CounterMetricFamily(
            RECEIVED, "Datagrams that reached the trap receiver, by what became of them: "
            "accepted, or dropped as unknown_source, bad_credentials, malformed, unsupported, "
            "rate_limited, queue_full, engine_id_mismatch (a v3 trap whose engine ID is not "
            "the one polling discovered); discovery and time_window are v3 exchanges answered "
            "with a Report.", labels=["result"])
        for result in RESULTS:
            received.add_metric([result], st.results.get(result, 0))
        yield received
        traps = CounterMetricFamily(
            TRAPS, "Authenticated traps and informs, by trap name (linkDown, upsTrapOnBattery, "
            "...; other for traps borderwatch does not map), SNMP version and PDU.",
            labels=["trap", "version", "pdu"])
        for (name, version, pdu), n in sorted(st.traps.items()):
            traps.add_metric([name, version, pdu], n)
        yield traps
        yield CounterMetricFamily(INFORMS, "Informs acknowledged with a Response.",
                                  value=st.informs_acknowledged)
        yield GaugeMetricFamily(QUEUE, "Traps waiting to be decoded.", value=st.queue_length)
        yield GaugeMetricFamily(QUEUE_CAP, "Bound of the trap queue (traps.queue).",
                                value=st.queue_capacity)
        polls = CounterMetricFamily(
            EXTRA_POLLS, "Polls started out of cadence to confirm a trap.",
            labels=["site", "device"])
        last = GaugeMetricFamily(LAST_TRAP, "When the device's latest authenticated trap "
                                 "arrived (Unix time).", labels=["site", "device"])
        sourced = GaugeMetricFamily(
            TRAP_SOURCED, "1 while the device's state shows what a trap reported and no "
            "poll has confirmed it yet.", labels=["site", "device"])
        for snap in self._state.device_snapshots():
            labels = [snap.site_id, snap.device_id]
            polls.add_metric(labels, self._extra_polls(snap.device_id))
            sourced.add_metric(labels, 1 if snap.trap_sourced else 0)
            if snap.device_id in st.last_trap:
                last.add_metric(labels, st.last_trap[snap.device_id])
        yield polls
        yield last
        yield sourced
