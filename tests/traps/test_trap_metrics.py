"""The receiver's families as /metrics shows them: values from its counters, every family
documented in docs/metrics.md, and no secret of a refused trap in them."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec
from borderwatch.collector.traps.metrics import TrapCollector
from borderwatch.collector.traps.receiver import TrapStats

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_families_values_and_docs() -> None:
    stats = TrapStats(queue_capacity=1000)
    stats.results.update({"accepted": 3, "unknown_source": 5})
    stats.traps[("linkDown", "2c", "inform")] += 2
    stats.informs_acknowledged = 2
    stats.last_trap["sw1"] = 1_800_000_000.0
    state = NetworkState([DeviceSpec("sw1", "post", interval=10.0)], [], clock=lambda: 5.0)
    registry = CollectorRegistry()
    registry.register(TrapCollector(stats, state, lambda d: 4 if d == "sw1" else 0))
    text = generate_latest(registry).decode()
    for line in (
        'borderwatch_traps_received_total{result="accepted"} 3.0',
        'borderwatch_traps_received_total{result="unknown_source"} 5.0',
        'borderwatch_traps_received_total{result="bad_credentials"} 0.0',
        'borderwatch_traps_total{pdu="inform",trap="linkDown",version="2c"} 2.0',
        "borderwatch_traps_informs_acknowledged_total 2.0",
        "borderwatch_traps_queue_capacity 1000.0",
        'borderwatch_device_trap_polls_total{device="sw1",site="post"} 4.0',
        'borderwatch_device_last_trap_timestamp_seconds{device="sw1",site="post"} 1.8e+09',
        'borderwatch_device_trap_sourced{device="sw1",site="post"} 0.0',
    ):
        assert line in text, line
    docs = DOCS.read_text(encoding="utf-8")
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
               if line.startswith("borderwatch_") and not line.split("{")[0].endswith("_created")}
    assert samples and all(f"`{name}`" in docs for name in samples), samples
