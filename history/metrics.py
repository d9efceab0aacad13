"""The history writer's self-metrics: whether the history keeps up, as Prometheus series.

A prometheus_client custom collector over a running `HistoryWriter`, registered by the
service when the history is on; built at scrape time from the writer's counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.history.writer import HistoryWriter


class HistoryCollector:
    """`borderwatch_history_*` of one writer."""

    def __init__(self, writer: HistoryWriter,
                 observe_cpu: Callable[[], float] = lambda: 0.0) -> None:
        self._writer = writer
        self._observe_cpu = observe_cpu

    def describe(self) -> list[Metric]:
        return []  # no describe-time collection (the registry would call collect())

    def collect(self) -> Iterator[Metric]:
        stats = self._writer.stats
        yield CounterMetricFamily("borderwatch_history_records",
                                  "History records (state changes, incidents, roll-ups, "
                                  "heartbeats) written to the history file.",
                                  value=stats.ops)
        yield CounterMetricFamily("borderwatch_history_records_dropped",
                                  "History records dropped because the writer's queue was "
                                  "full (the history misses them).", value=stats.dropped)
        yield CounterMetricFamily("borderwatch_history_write_errors",
                                  "Batches the history writer failed to commit (logged).",
                                  value=stats.errors)
        cpu = CounterMetricFamily("borderwatch_history_cpu_seconds",
                                  "CPU time the history used: observing the state on the event "
                                  "loop, and the writer thread.", labels=["part"])
        cpu.add_metric(["observe"], self._observe_cpu())
        cpu.add_metric(["writer"], stats.cpu_seconds)
        yield cpu
        yield GaugeMetricFamily("borderwatch_history_queue_length",
                                "History records waiting for the writer thread.",
                                value=self._writer.queue_length())
