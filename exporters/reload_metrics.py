"""The hot reload's self-metrics, named as Prometheus names its own (issue 12).

`borderwatch_config_last_reload_successful` and
`borderwatch_config_last_reload_success_timestamp_seconds` mean what
`prometheus_config_last_reload_successful` and `..._success_timestamp_seconds` mean: an
alert on `== 0` catches a refused file, which otherwise only the log tells.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.collector.reload import ReloadStatus


class ReloadCollector:
    """`borderwatch_config_*` over the service's ReloadStatus, read at scrape time."""

    def __init__(self, status: ReloadStatus) -> None:
        self._status = status

    def describe(self) -> list[Metric]:
        return []  # no describe-time collection (the registry would call collect())

    def collect(self) -> Iterator[Metric]:
        st = self._status
        yield GaugeMetricFamily(
            "borderwatch_config_last_reload_successful",
            "1 if the latest reload of the inventory (or the start) succeeded, 0 if the file "
            "was refused and the previous configuration still runs.",
            value=1.0 if st.successful else 0.0)
        yield GaugeMetricFamily(
            "borderwatch_config_last_reload_success_timestamp_seconds",
            "When the running inventory was last loaded successfully (unix seconds).",
            value=st.success_timestamp)
        reloads = CounterMetricFamily(
            "borderwatch_config_reloads", "Reloads of the inventory (SIGHUP, POST /-/reload) "
            "since start, by result.", labels=["result"])
        reloads.add_metric(["success"], st.reloads - st.failures)
        reloads.add_metric(["failure"], st.failures)
        yield reloads
