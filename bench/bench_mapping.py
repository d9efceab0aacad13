"""CPU cost of the collector's per-poll work above SNMP: varbinds → samples → state.

Replays recorded walks of real dumps (tests/data/walks) through the compiled profiles
(collector.mapper) and folds the samples into a NetworkState, timing with process CPU
time. Reports CPU seconds per 1,000 varbinds for mapping alone and mapping + state.
The Go snmp_exporter's whole pipeline costs 0.027 s per 1,000 varbinds (testbed.md).

    .venv/bin/python bench/bench_mapping.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "profiles"), str(REPO / "tests")]

from walks import load  # noqa: E402

from borderwatch.collector.mapper import Mapping, compile_profile  # noqa: E402
from borderwatch.collector.profiles import builtin_profiles  # noqa: E402
from borderwatch.collector.samples import PollResult  # noqa: E402
from borderwatch.collector.state import NetworkState  # noqa: E402
from borderwatch.collector.topology_spec import DeviceSpec  # noqa: E402

CASES = {  # recorded dump → profiles auto selects for it
    "cisco-c3560": ("system", "if-mib"),
    "arista-dcs-7150s-52-cl": ("system", "if-mib", "host-resources", "entity-sensor"),
    "ubiquiti-m5": ("system", "if-mib", "airmax"),
    "eaton-93e-80": ("system", "if-mib", "ups-mib"),
}


def prepare(name: str, profiles: tuple[str, ...]):
    walks, gets = load(name)
    plans = [compile_profile(builtin_profiles()[p]) for p in profiles]
    varbinds = len(gets) + sum(len(v) for v in walks.values())
    return walks, gets, plans, varbinds


def map_once(walks, gets, plans) -> Mapping:
    out = Mapping()
    for plan in plans:
        plan.scalars.map(gets, out)
        for table in plan.tables:
            rows: dict = {}
            for column in table.columns:
                table.add_column(rows, column, walks.get(column, ()))
            for column, _, _ in table.fallbacks:
                table.add_column(rows, column, walks.get(column, ()))
            table.map_rows(rows, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(f"{'dump':28} {'varbinds':>8} {'samples':>8} {'map s/1k vb':>12} "
          f"{'map+state s/1k vb':>18}")
    for name, profiles in CASES.items():
        walks, gets, plans, varbinds = prepare(name, profiles)
        state = NetworkState([DeviceSpec("d", "s", interval=60)], [])
        samples = len(map_once(walks, gets, plans).samples)
        t0 = time.process_time()
        for _ in range(args.rounds):
            map_once(walks, gets, plans)
        mapping = (time.process_time() - t0) / args.rounds
        t0 = time.process_time()
        for i in range(args.rounds):
            out = map_once(walks, gets, plans)
            state.apply(PollResult("d", 1e9 + 60 * i, 0.5, True, samples=out.samples,
                                   sys_uptime_ticks=10**8 + 6000 * i, varbinds=varbinds))
            state.device_snapshots()
        both = (time.process_time() - t0) / args.rounds
        print(f"{name:28} {varbinds:8} {samples:8} {mapping / varbinds * 1000:12.4f} "
              f"{both / varbinds * 1000:18.4f}")


if __name__ == "__main__":
    main()
