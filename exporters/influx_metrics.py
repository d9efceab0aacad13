"""The InfluxDB writer's self-metrics as Prometheus families, built from `InfluxStats` at
scrape time (no I/O: every value is a plain attribute the writer and its spool keep).

`exporters.prometheus.BorderwatchCollector` adds them with `yield from
influx_families(stats)` when the service runs a writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.exporters.influx import InfluxStats, Outcome

# Every reason the writer or its spool can drop points for (pre-seeded at 0 so that
# `increase()` works from the first drop); HTTP refusals add `http_<status>` as they occur.
DROP_REASONS = ("spool_full", "max_age", "disk_error", "corrupt", "memory_full", "too_large",
                "encode_error", "closed", "rejected_field_type_conflict", "rejected_parse_error",
                "rejected_beyond_retention", "rejected_limit")
REQUEST_RESULTS = (Outcome.OK, Outcome.RETRY, Outcome.TOO_LARGE, Outcome.BLOCKED,
                   Outcome.REJECTED)


def influx_families(stats: InfluxStats, clock: Callable[[], float] = time.time) -> list[Metric]:
    """The `borderwatch_influx_*` families (see docs/influx.md for each one's meaning)."""
    out: list[Metric] = []
    if stats.backend_up is not None:
        out.append(GaugeMetricFamily(
            "borderwatch_influx_up", "1 if the latest write to InfluxDB succeeded, 0 if it "
            "failed (absent before the first write).", value=int(stats.backend_up)))
    for name, help_text, value in (
            ("points_submitted", "Points (lines) handed to the writer, one poll at a time.",
             stats.points_submitted),
            ("points_written", "Points InfluxDB accepted, fresh and replayed.",
             stats.points_written),
            ("points_replayed", "Points InfluxDB accepted from the spool (after an outage).",
             stats.points_replayed),
            ("points_spooled", "Points moved from memory to the on-disk spool.",
             stats.points_spooled)):
        out.append(CounterMetricFamily(f"borderwatch_influx_{name}", help_text, value=value))
    dropped = CounterMetricFamily(
        "borderwatch_influx_points_dropped", "Points that will never reach InfluxDB, by "
        "reason: spool_full and max_age (spool limits, oldest first), disk_error, corrupt, "
        "memory_full, too_large (413 for one point), rejected_<cause> and http_<status> "
        "(points the server refused, one by one), encode_error, closed.", labels=["reason"])
    counts = stats.dropped
    for reason in sorted(set(DROP_REASONS) | counts.keys()):
        dropped.add_metric([reason], counts.get(reason, 0))
    out.append(dropped)
    requests = CounterMetricFamily(
        "borderwatch_influx_write_requests", "Write requests by result: ok, retry (429, 5xx, "
        "timeout, connection error), too_large (413), blocked (401, 403, 404: data kept), "
        "rejected (other 4xx: data dropped).", labels=["result"])
    for result in REQUEST_RESULTS:
        requests.add_metric([result], stats.requests.get(result, 0))
    out.append(requests)
    for name, help_text, value in (
            ("memory_points", "Points held in memory now, not yet written or spooled.",
             stats.memory_points),
            ("spool_points", "Undelivered points in the on-disk spool.", stats.spool_points),
            ("spool_bytes", "Bytes of the spool's segment files.", stats.spool_bytes),
            ("spool_max_bytes", "The spool's size limit in bytes.", stats.spool_max_bytes),
            ("spool_oldest_age_seconds", "Age of the oldest undelivered point in the spool "
             "(0 when empty).", stats.spool_oldest_age_seconds(clock()))):
        out.append(GaugeMetricFamily(f"borderwatch_influx_{name}", help_text, value=value))
    return out
