"""CPU cost of the pinger (collector/icmp) for 1,000–10,000 loopback targets, and what it
does to the event loop it shares with the SNMP polls.

    .venv/bin/python bench/icmp_pinger.py [--sizes 1000,5000,10000] [--interval 30]
        [--count 3] [--intervals 2] [--socket raw]

For each size: one Pinger over that many 127.x.y.z addresses (loopback answers them all),
the production defaults (interval 30 s, 3 requests per round, 256 rounds in flight); after
one warm-up interval, `--intervals` intervals are measured: the process's CPU seconds per
wall second, rounds completed and their share of lost requests, and the lag of a 10 ms
ticker on the same loop (median and p99: what a poll's timer would see). Root or
CAP_NET_RAW for raw sockets, or --socket unprivileged where ping_group_range allows.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borderwatch.collector.icmp import IcmpSettings, Pinger, PingTarget
from borderwatch.collector.icmp.stats import IcmpRound

FIRST = int(ipaddress.IPv4Address("127.1.0.1"))  # clear of the lab's 127.0.0.x addresses


async def ticker(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    """Sleeps `period` again and again and records how late each wake-up is."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(period)
        lags.append(loop.time() - t - period)


async def measure(size: int, settings: IcmpSettings, intervals: int) -> dict:
    rounds: list[IcmpRound] = []
    targets = [PingTarget(f"t{i}", str(ipaddress.IPv4Address(FIRST + i))) for i in range(size)]
    pinger = Pinger(targets, settings, rounds.append)
    pinger.start()
    await asyncio.sleep(settings.interval)  # warm-up: every target pinged once
    lags: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    rounds.clear()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(settings.interval * intervals)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    await tick
    delayed = pinger.stats.delayed
    await pinger.stop()
    sent = sum(r.sent for r in rounds)
    lost = sent - sum(len(r.rtts) for r in rounds)
    lags.sort()
    return {"size": size, "cpu_per_s": cpu / wall, "rounds": len(rounds),
            "expected_rounds": size * intervals, "loss": lost / sent if sent else 0.0,
            "lag_median_ms": statistics.median(lags) * 1000,
            "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000, "delayed": delayed,
            "socket": pinger.stats.socket_kind}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--intervals", type=int, default=2)
    ap.add_argument("--socket", default="raw", choices=("auto", "raw", "unprivileged"))
    args = ap.parse_args()
    settings = IcmpSettings(interval=args.interval, count=args.count, socket=args.socket)
    print(f"interval {args.interval:g} s, {args.count} request(s) per round, "
          f"{settings.max_in_flight} rounds in flight, {args.intervals} measured interval(s)")
    print("targets  socket  CPU (s/s)  rounds/expected  loss   loop lag median / p99 (ms)  "
          "delayed slots")
    for size in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(size, settings, args.intervals))
        print(f"{r['size']:>7}  {r['socket']:>6}  {r['cpu_per_s']:>9.3f}  "
              f"{r['rounds']:>7}/{r['expected_rounds']:<7}  {r['loss']:>5.1%}  "
              f"{r['lag_median_ms']:>10.2f} / {r['lag_p99_ms']:<10.2f}       {r['delayed']}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
