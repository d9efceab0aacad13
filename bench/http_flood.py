"""Concurrent /metrics scrapes against a running borderwatch: does polling keep its cadence?

    .venv/bin/python bench/http_flood.py --url http://127.0.0.1:9730 [--concurrency 200]
        [--seconds 30] [--gzip] [--pid PID]

Run it against `make demo` (the lab with the collector) or any `borderwatch run`. It reads
the service's own scheduler lag histogram and skip counters from /metrics, once before a
quiet window of --seconds, once after it (the baseline), then again after --seconds of
--concurrency clients scraping /metrics back to back (the flood). Reported: scheduler
lag p50/p99 in each window (histogram_quantile over the window's bucket differences,
so the p99 resolution is the histogram's buckets: 0.1, 0.25, 0.5 s ...), the share of
ticks later than 250 ms, ticks skipped (overruns + missed), polls failed, scrapes served
and renders made (single flight), and the service's RSS before and after (--pid, else
process_resident_memory_bytes). Nothing passes or fails: the figures go to stdout and
bench/results/http_flood.json.

`flood()` is also what tests/runtime/test_http_flood.py runs in a separate process, so
the clients' CPU does not run on the service's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exposition import Parsed, buckets, delta, quantile, sum_metric, value

RESULTS = Path(__file__).resolve().parent / "results" / "http_flood.json"
LAG = "borderwatch_scheduler_lag_seconds"
LATE = 0.25  # seconds: the bound on scheduler lag p99 under a flood


async def flood(url: str, concurrency: int, seconds: float, *, gzip: bool = False
                ) -> dict[str, int]:
    """`concurrency` clients each scraping `url` back to back for `seconds`; counts by
    outcome ("200", "503", "error:ClientOSError", ...). Each client has its own
    connection (keep-alive), as a crowd of scrapers would."""
    counts: dict[str, int] = {}
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    end = time.monotonic() + seconds

    async def client() -> None:
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                         timeout=aiohttp.ClientTimeout(total=20)) as http:
            while time.monotonic() < end:
                try:
                    async with http.get(url, headers=headers) as resp:
                        await resp.read()
                        key = str(resp.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    key = f"error:{type(exc).__name__}"
                    await asyncio.sleep(0.05)
                counts[key] = counts.get(key, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return counts


def lag_window(before: Parsed, after: Parsed) -> dict[str, float | None]:
    """Scheduler lag figures between two scrapes of the service's /metrics."""
    window = delta(buckets(after, LAG), buckets(before, LAG))
    total = window[-1][1] if window else 0.0
    on_time = next((count for le, count in window if le >= LATE), 0.0)
    return {
        "ticks": total,
        "lag_p50_s": quantile(0.5, window),
        "lag_p99_s": quantile(0.99, window),
        "late_share": (total - on_time) / total if total else None,
        "skipped": sum(sum_metric(after, m) - sum_metric(before, m) for m in (
            "borderwatch_poll_overruns_total", "borderwatch_scheduler_missed_ticks_total")),
        "polls_failed": sum_metric(after, "borderwatch_device_poll_failures_total")
        - sum_metric(before, "borderwatch_device_poll_failures_total"),
        "scrapes": (value(after, "borderwatch_exposition_scrapes_total") or 0)
        - (value(before, "borderwatch_exposition_scrapes_total") or 0),
        "renders": (value(after, "borderwatch_exposition_renders_total") or 0)
        - (value(before, "borderwatch_exposition_renders_total") or 0),
    }


async def _scrape(url: str) -> Parsed:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return Parsed(await resp.text())


def _rss(pid: int | None, parsed: Parsed) -> float | None:
    if pid is not None:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return value(parsed, "process_resident_memory_bytes")


async def measure(url: str, concurrency: int, seconds: float, gzip: bool,
                  pid: int | None) -> dict:
    """Baseline window, then a flood window; the figures of both."""
    metrics = url.rstrip("/") + "/metrics"
    start = await _scrape(metrics)
    await asyncio.sleep(seconds)
    quiet = await _scrape(metrics)
    rss_before = _rss(pid, quiet)
    outcomes = await flood(metrics, concurrency, seconds, gzip=gzip)
    loud = await _scrape(metrics)
    return {"concurrency": concurrency, "seconds": seconds, "gzip": gzip,
            "baseline": lag_window(start, quiet), "flood": lag_window(quiet, loud),
            "outcomes": outcomes, "rss_before_bytes": rss_before,
            "rss_after_bytes": _rss(pid, loud)}


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{1000 * x:.1f} ms"


def report(r: dict) -> str:
    """The figures as a few lines of text."""
    lines = [f"{r['concurrency']} clients × {r['seconds']:g} s, gzip {r['gzip']}: "
             f"outcomes {r['outcomes']}"]
    for name in ("baseline", "flood"):
        w = r[name]
        late = "n/a" if w["late_share"] is None else f"{100 * w['late_share']:.2f} %"
        lines.append(f"  {name:8} ticks {w['ticks']:.0f}, lag p50 {_ms(w['lag_p50_s'])}, "
                     f"p99 {_ms(w['lag_p99_s'])}, later than {LATE * 1000:.0f} ms {late}, "
                     f"skipped {w['skipped']:.0f}, polls failed {w['polls_failed']:.0f}, "
                     f"scrapes {w['scrapes']:.0f} from {w['renders']:.0f} renders")
    if r["rss_before_bytes"] and r["rss_after_bytes"]:
        lines.append(f"  RSS {r['rss_before_bytes'] / 2**20:.0f} → "
                     f"{r['rss_after_bytes'] / 2**20:.0f} MiB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:9730", help="the service's base URL")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0, help="each window's length")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip, as Prometheus does")
    parser.add_argument("--pid", type=int, help="the service's PID (RSS from /proc)")
    parser.add_argument("--flood-only", action="store_true",
                        help="only flood (no measuring); print the outcome counts as JSON")
    args = parser.parse_args()
    if args.flood_only:
        print(json.dumps(asyncio.run(flood(args.url, args.concurrency, args.seconds,
                                           gzip=args.gzip))), flush=True)
        return 0
    result = asyncio.run(measure(args.url, args.concurrency, args.seconds, args.gzip, args.pid))
    print(report(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
