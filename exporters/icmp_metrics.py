"""The pinger's self-metrics (collector/icmp) as Prometheus families, read at scrape time.

Per-device ICMP series come from state (exporters.device_families); these say whether the
pinger can ping at all and whether it keeps up: which socket it opened (none: no
privilege, the log says how to fix it), rounds done, and slots that waited for a free runner.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from borderwatch.collector.icmp.pinger import Pinger

SOCKETS = ("raw", "unprivileged", "none")


class IcmpCollector:
    """A custom collector over a running Pinger's counters."""

    def __init__(self, pinger: Pinger) -> None:
        self._pinger = pinger

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        """borderwatch_icmp_socket_info and the pinger's counters."""
        stats = self._pinger.stats
        kind = stats.socket_kind or ("none" if stats.error else "")
        info = GaugeMetricFamily(
            "borderwatch_icmp_socket_info", "1 for the ICMP socket the pinger uses: raw (root "
            "or CAP_NET_RAW), unprivileged (net.ipv4.ping_group_range), none (neither could be "
            "opened: no device is pinged).", labels=["socket"])
        for name in SOCKETS:
            if kind:
                info.add_metric([name], 1.0 if name == kind else 0.0)
        yield info
        for name, help_text, value in (
                ("icmp_rounds", "Ping rounds completed (all devices).", stats.rounds),
                ("icmp_delayed_rounds", "Rounds that waited for a free runner "
                 "(defaults.icmp.max_in_flight reached): the pinger falls behind if it grows.",
                 stats.delayed),
                ("icmp_unresolved_rounds", "Rounds skipped because the device's host name did "
                 "not resolve.", stats.unresolved),
                ("icmp_send_errors", "Echo requests the kernel refused to send (no route, a "
                 "firewall's reject); counted as lost.", self._pinger.send_errors)):
            yield CounterMetricFamily(f"borderwatch_{name}", help_text, value=value)
