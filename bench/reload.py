"""How long a hot reload takes, and whether it stalls the event loop (issue 12).

An in-process service polls N devices (default 2,000, 20 per site; nothing answers on
their ports, so every poll is a quick failure and no agent is needed), then reloads the
inventory ROUNDS times per case: the same file, one device's port changed, 100 devices
added, the same 100 removed. Prints, per case, the median and worst reload time (load,
validate, diff, apply) and the scheduler's worst lag over the rounds (a poll started late
because the loop was busy); with `--baseline` also the worst lag over as many quiet
intervals without a reload. Nothing passes or fails.

    .venv/bin/python bench/reload.py [--devices 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from borderwatch.collector.inventory import load_inventory
from borderwatch.service import start_service

ENV = {"BW_BENCH_COMMUNITY": "bench"}


def write(path: Path, n: int, *, extra: int = 0, moved: bool = False) -> None:
    devices = [{"id": f"d{i:05d}", "address": "127.0.0.1", "port": 40000 + i % 20000,
                "credential": "c", "profile": ["system"]} for i in range(n + extra)]
    if moved:
        devices[0]["port"] = 39999
    sites = [{"id": f"s{k:04d}", "name": f"Trạm {k}", "kind": "commune",
              "devices": devices[k * 20:(k + 1) * 20]} for k in range((len(devices) + 19) // 20)]
    data: dict[str, Any] = {
        "schema_version": 1,
        "credentials": {"c": {"version": "2c", "community_env": "BW_BENCH_COMMUNITY"}},
        "defaults": {"interval": 10, "timeout": 0.2, "retries": 0}, "sites": sites}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        write(path, args.devices)
        service = await start_service(
            load_inventory(path, env=ENV), "127.0.0.1:0", local_address="127.0.0.1",
            reload_from=lambda: load_inventory(path, env=ENV, log_warnings=False))
        sched = service.scheduler
        try:
            await asyncio.sleep(12)  # every device polled once
            cases = {"unchanged": {}, "1 changed": {"moved": True},
                     "100 added": {"extra": 100}, "100 removed": {}}
            results: dict[str, list[float]] = {c: [] for c in cases}
            lags: dict[str, float] = {c: 0.0 for c in cases}
            for _ in range(args.rounds):
                for case, kw in cases.items():
                    if case == "100 removed":
                        write(path, args.devices)  # back from 100 added
                    else:
                        write(path, args.devices, **kw)
                    sched.lag._recent.clear()
                    t0 = time.perf_counter()
                    outcome = await service.reloader.reload("bench")
                    results[case].append(time.perf_counter() - t0)
                    assert outcome.ok, outcome.problems
                    await asyncio.sleep(2)  # polls due meanwhile show any stall
                    lags[case] = max(lags[case], sched.lag.window_max(sched.clock.monotonic()))
                write(path, args.devices)
                await service.reloader.reload("bench")
            quiet = 0.0
            if args.baseline:
                for _ in range(args.rounds * len(cases)):
                    sched.lag._recent.clear()
                    await asyncio.sleep(2)
                    quiet = max(quiet, sched.lag.window_max(sched.clock.monotonic()))
        finally:
            await service.close()
    print(f"{args.devices} devices, {args.rounds} rounds per case")
    print(f"{'case':<14}{'median s':>10}{'worst s':>10}{'worst lag s':>13}")
    for case, times in results.items():
        print(f"{case:<14}{statistics.median(times):>10.3f}{max(times):>10.3f}"
              f"{lags[case]:>13.3f}")
    if args.baseline:
        print(f"{'no reload':<14}{'':>10}{'':>10}{quiet:>13.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", action="store_true",
                        help="also the worst lag of as many quiet periods without a reload")
    asyncio.run(main(parser.parse_args()))
