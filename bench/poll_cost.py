"""CPU per poll of the whole poll path, in one process, and the pause of a heap sweep.

    sudo .venv/bin/python bench/poll_cost.py [--devices 2000] [--interval 12] [--cprofile]
    sudo .venv/bin/python bench/poll_cost.py --devices 10000 --interval 60 --sweep

Why: `make bench-scale` measures the service from outside (CPU-seconds from /proc) and
takes 8 minutes; this runs the same service (`borderwatch.service.start_service`, the same
inventory and the same snmpd set-up in a private network namespace as bench/scale.py)
inside this process, so a window can be measured in a minute, profiled with cProfile on
CPU time (`--cprofile`: call counts tell which per-poll overhead to cut; the times are
inflated by the profiler, the ranking less so), and the heap freezer's hourly sweep can
be forced and timed (`--sweep`), which a 5-minute window never sees. The pauses of the
freezer's 15-second steps in the window are printed too.

2,000 devices at a 12 s interval poll as many devices per second as 10,000 at 60 s, with
a fifth of the state: the per-poll figure is close to the scale run's, not the memory or
garbage-collection figures. A client scrapes /metrics every `--scrape-every` seconds (0:
never), so the exposition's text cache is part of the heap, as it is in production; the
scrapes' CPU is inside the CPU-per-poll figure, as in the scale run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import aiohttp  # noqa: E402
import scale  # noqa: E402
import subject  # noqa: E402
from agents import start_snmpd  # noqa: E402
from netns import Namespace, run_inside  # noqa: E402
from procs import Group, run_in_workdir  # noqa: E402

from borderwatch.collector.inventory import load_inventory  # noqa: E402
from borderwatch.service import Service, start_service  # noqa: E402

NETNS = "bwpollcost"
LISTEN = "127.0.0.1:9731"


def polls_done(service: Service) -> int:
    """Polls finished so far, over every device."""
    return sum(st.polls_finished for st in service.scheduler.stats.values())


async def scraper(every: float) -> None:
    """Scrape /metrics every `every` seconds, as Prometheus would (gzip accepted)."""
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        while True:
            await asyncio.sleep(every)
            await subject.scrape(http, LISTEN)


async def measure(args: argparse.Namespace, inventory_path: Path) -> None:
    os.environ.update(subject.SECRET_ENV)
    service = await start_service(load_inventory(inventory_path), LISTEN)
    if args.young_threshold:  # e.g. CPython's 700, to compare with the freezer's own
        gc.set_threshold(args.young_threshold, *gc.get_threshold()[1:])
    freezes: list[float] = []  # pauses of the freezer's periodic steps (collect young, freeze)
    step = service.heap.step

    def timed_step() -> None:
        started = time.perf_counter()
        step()
        freezes.append(time.perf_counter() - started)

    service.heap.step = timed_step  # type: ignore[method-assign]
    scrapes = asyncio.create_task(scraper(args.scrape_every)) if args.scrape_every else None
    try:
        print(f"{args.devices} devices, interval {args.interval:g} s: warming up for "
              f"{args.warm:g} intervals", flush=True)
        await asyncio.sleep(args.interval * args.warm)
        profile = cProfile.Profile(time.process_time) if args.cprofile else None
        polls0, cpu0, t0 = polls_done(service), time.process_time(), time.monotonic()
        freezes.clear()
        if profile is not None:
            profile.enable()
        await asyncio.sleep(args.window)
        if profile is not None:
            profile.disable()
        polls, cpu, wall = (polls_done(service) - polls0, time.process_time() - cpu0,
                            time.monotonic() - t0)
        requests = sum(d.counters.requests for d in service.devices.values())
        varbinds = sum(d.counters.varbinds for d in service.devices.values())
        print(f"window {wall:.0f} s: {polls} polls, CPU {100 * cpu / wall:.1f} % of a core, "
              f"{1e6 * cpu / max(1, polls):.0f} us CPU per poll"
              f"{' (under cProfile)' if profile else ''}; since start "
              f"{requests / max(1, polls_done(service)):.1f} requests and "
              f"{varbinds / max(1, polls_done(service)):.1f} varbinds per poll; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        if freezes:
            print(f"heap freezer steps in the window: {len(freezes)}, median "
                  f"{1000 * statistics.median(freezes):.0f} ms, max {1000 * max(freezes):.0f} ms "
                  f"(young threshold {gc.get_threshold()[0]})", flush=True)
        if profile is not None:
            stats = pstats.Stats(profile)
            stats.sort_stats(args.sort).print_stats(args.top)
        if args.sweep:
            pause = service.heap.sweep()
            print(f"forced heap sweep at {args.devices} devices: {pause:.2f} s with the event "
                  f"loop stopped", flush=True)
    finally:
        if scrapes is not None:
            scrapes.cancel()
            await asyncio.wait([scrapes])
        await service.close()


def inner(args: argparse.Namespace) -> int:
    """Runs inside the namespace: snmpd, then the poll path measured in this process."""
    return run_in_workdir("bwpollcost-", lambda workdir, group: _run(args, workdir, group))


def _run(args: argparse.Namespace, workdir: Path, group: Group) -> int:
    ports = [scale.FIRST_PORT + p for p in range(scale.PORTS)]
    start_snmpd(group, workdir / "snmpd", "snmpd", "0.0.0.0", ports)
    inventory = workdir / "inventory.yaml"
    subject.write_inventory(inventory, scale.targets(args.devices), interval=args.interval)
    asyncio.run(measure(args, inventory))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=12.0)
    parser.add_argument("--warm", type=float, default=2.5, help="intervals before the window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--scrape-every", type=float, default=30.0,
                        help="seconds between /metrics scrapes (0: none)")
    parser.add_argument("--cprofile", action="store_true", help="profile the window")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key")
    parser.add_argument("--top", type=int, default=40, help="cProfile lines shown")
    parser.add_argument("--sweep", action="store_true",
                        help="after the window, force the heap freezer's sweep and time it")
    parser.add_argument("--young-threshold", type=int, default=0,
                        help="gc threshold of the youngest generation instead of the "
                             "heap freezer's (e.g. 700, CPython's default)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.devices <= 250 * 250 * scale.PORTS:
        parser.error("--devices out of range")
    if args.inside:
        return inner(args)
    if os.geteuid() != 0:
        print("poll_cost: needs root (ip netns, tap devices)", file=sys.stderr)
        return 2
    return run_inside(Namespace(NETNS, 3), __file__, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
