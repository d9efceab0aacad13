"""The central evaluator's view of its TSDB as metrics (`borderwatch alerts --listen`).

A TSDB that cannot be read stops the evaluation (no page, no resolve) without any other
sign: `borderwatch_tsdb_up 0` is that sign, for a second Prometheus or a dead man's switch.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.alerts.tsdb_source import TsdbState


class TsdbCollector:
    """Families of one TsdbState, read at each scrape."""

    def __init__(self, source: TsdbState) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("borderwatch_tsdb_up", ""),
                GaugeMetricFamily("borderwatch_tsdb_last_success_timestamp_seconds", ""),
                CounterMetricFamily("borderwatch_tsdb_reads", ""),
                CounterMetricFamily("borderwatch_tsdb_read_failures", "")]

    def collect(self) -> Iterator[Metric]:
        src = self._source
        if src.up is not None:
            yield GaugeMetricFamily(
                "borderwatch_tsdb_up", "1 if the latest read of the central TSDB answered "
                "every query, 0 if not (alerts are not evaluated meanwhile).",
                value=float(src.up))
        if src.last_success_wall is not None:
            yield GaugeMetricFamily(
                "borderwatch_tsdb_last_success_timestamp_seconds",
                "When the central TSDB last answered every query (Unix time).",
                value=src.last_success_wall)
        yield CounterMetricFamily("borderwatch_tsdb_reads", "Reads of the central TSDB "
                                  "(one per evaluation tick).", value=src.refreshes)
        yield CounterMetricFamily("borderwatch_tsdb_read_failures", "Reads of the central "
                                  "TSDB that failed (timeout, refused, bad answer).",
                                  value=src.failures)
