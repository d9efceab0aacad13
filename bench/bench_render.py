"""Cost of one /metrics render: families built from NetworkState, then text encoding.

Fills a NetworkState with N devices × M interfaces of IF-MIB samples (11 series per
interface, as the if-mib profile produces) and times the two halves of a scrape:
`collect()` (runs on the event loop) and the text encoding + gzip (run in a worker
thread by exporters.http). A31's scale is 500 devices × 57 interfaces.

    .venv/bin/python bench/bench_render.py [--devices 500] [--interfaces 57]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest

from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec
from borderwatch.exporters.prometheus import BorderwatchCollector, ExporterSources

GAUGES = ("borderwatch_interface_up", "borderwatch_interface_oper_status",
          "borderwatch_interface_admin_status", "borderwatch_interface_speed_bytes",
          "borderwatch_interface_discontinuity_time_seconds")
COUNTERS = ("borderwatch_interface_receive_bytes_total",
            "borderwatch_interface_transmit_bytes_total",
            "borderwatch_interface_receive_errors_total",
            "borderwatch_interface_transmit_errors_total",
            "borderwatch_interface_receive_discards_total",
            "borderwatch_interface_transmit_discards_total")


class _Families:
    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self) -> list:
        return self._families


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=81)
    ap.add_argument("--interfaces", type=int, default=20)
    args = ap.parse_args()
    specs = [DeviceSpec(f"dev{i:03d}", f"site{i % 40:02d}", interval=60)
             for i in range(args.devices)]
    state = NetworkState(specs, [])
    now = time.time()
    for spec in specs:
        samples = []
        for j in range(1, args.interfaces + 1):
            labels = (("ifAlias", f"uplink to post {j}"), ("ifDescr", f"GigabitEthernet0/{j}"),
                      ("ifIndex", str(10100 + j)), ("ifName", f"Gi0/{j}"))
            samples += [Sample(m, labels, 1) for m in GAUGES]
            samples += [Sample(m, labels, 123_456_789 + j, Kind.COUNTER, 64) for m in COUNTERS]
        state.apply(PollResult(spec.device_id, now, 0.1, True, samples=samples,
                               sys_uptime_ticks=10_000))
    collector = BorderwatchCollector(ExporterSources(state=state))
    t0 = time.perf_counter()
    families = list(collector.collect())
    t1 = time.perf_counter()
    body = generate_latest(_Families(families))
    t2 = time.perf_counter()
    packed = gzip.compress(body, compresslevel=6)
    t3 = time.perf_counter()
    series = sum(len(f.samples) for f in families)
    print(f"{args.devices} devices × {args.interfaces} interfaces: {series} series, "
          f"{len(body) / 1e6:.1f} MB ({len(packed) / 1e6:.2f} MB gzip)")
    print(f"collect (event loop) {t1 - t0:.3f} s, encode {t2 - t1:.3f} s, "
          f"gzip {t3 - t2:.3f} s (worker thread)")


if __name__ == "__main__":
    main()
