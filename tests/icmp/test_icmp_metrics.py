"""The pinger's self-metrics: which socket it uses, or none when it may not ping."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from borderwatch.collector.icmp import IcmpSettings, Pinger
from borderwatch.exporters.icmp_metrics import IcmpCollector


def exposition(pinger: Pinger) -> list[str]:
    registry = CollectorRegistry()
    registry.register(IcmpCollector(pinger))
    return [line for line in generate_latest(registry).decode().splitlines()
            if not line.startswith("#")]


def test_no_socket_is_socket_none() -> None:
    pinger = Pinger([], IcmpSettings(), lambda r: None)
    assert 'borderwatch_icmp_socket_info{socket="none"} 1.0' not in exposition(pinger)
    pinger.stats.error = "cannot open an ICMP socket (unprivileged refused): ..."
    lines = exposition(pinger)
    assert 'borderwatch_icmp_socket_info{socket="none"} 1.0' in lines
    assert 'borderwatch_icmp_socket_info{socket="raw"} 0.0' in lines
    assert "borderwatch_icmp_rounds_total 0.0" in lines
