"""200 concurrent /metrics scrapes while the service polls a real snmpd: polling keeps
its cadence, concurrent scrapes share renders, memory stays bounded.

An outside trial saw 200 concurrent scrapes push scheduler lag to 2.7–4.3 s, skip up to
23 polls and time every device out once. Here the service runs in this process (its
scheduler's own lag histogram and counters are read directly) and the 200 clients run
in a separate process (bench/http_flood.py), so their CPU is not the service's loop.

The machine is shared and loaded, so the bounds are relative to a baseline window of
the same length, measured just before, with the same crowd of clients scraping a decoy
server in another process: the share of ticks later than 250 ms under the flood may
exceed the baseline's by one point (the issue's "p99 below 250 ms" when the baseline share
is 0), or by more when chance explains it (`late_excess_by_chance`), and polls skipped
or failed may exceed the baseline's by at most 2 % of the polls (0 measured on this
machine without an extra CPU hog). The absolute figures are printed; bench/http_flood.py
measures them against any running service.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
from pathlib import Path

import pytest
from runtime_helpers import (
    REPO_ROOT,
    Dev,
    fetch,
    running_service,
    v2c,
    wait_until,
    write_inventory,
)
from servers import free_tcp_port, port_is_free

from borderwatch.collector.scheduler import LAG_BUCKETS

DEVICES = 60
CLIENTS = 200
WINDOW = 9.0  # seconds of each window (baseline, flood): three poll intervals
LATE = 0.25  # seconds
ALPHA = 0.001  # a late share this unlikely under "the flood changes nothing" fails
FLOOD = REPO_ROOT / "bench" / "http_flood.py"
# The baseline's decoy: a plain aiohttp server in its own process answering every GET with
# the bytes of a file (a copy of the service's /metrics body).
DECOY = """
import sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def answer(request):
    return web.Response(body=body, content_type="text/plain")
app = web.Application()
app.router.add_get("/metrics", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _snapshot(service) -> dict:
    sched = service.scheduler
    snaps = service.state.device_snapshots()
    return {"lag": list(sched.lag.counts),
            "skipped": sum(st.overruns + st.missed_ticks for st in sched.stats.values()),
            "failures": sum(s.failures for s in snaps),
            "polls": sum(s.polls for s in snaps),
            "scrapes": service.metrics_app.render.scrapes,
            "renders": service.metrics_app.render.renders}


def _window(before: dict, after: dict) -> dict:
    counts = [a - b for a, b in zip(after["lag"], before["lag"], strict=True)]
    total = sum(counts)
    on_time = sum(c for bound, c in zip(LAG_BUCKETS, counts, strict=False) if bound <= LATE)
    cumulative, p99 = 0, None
    for bound, c in zip((*LAG_BUCKETS, float("inf")), counts, strict=True):
        cumulative += c
        if p99 is None and total and cumulative >= 0.99 * total:
            p99 = bound  # the upper bound of the bucket holding the 99th percentile
    return {"ticks": total, "late_share": (total - on_time) / total if total else 0.0,
            "p99_at_most_s": p99, **{k: after[k] - before[k] for k in
                                     ("skipped", "failures", "polls", "scrapes", "renders")}}


def late_excess_by_chance(late: int, ticks: int, late_before: int, ticks_before: int
                          ) -> float:
    """How likely `late` of `ticks` or more are late under the flood if it changed nothing:
    Fisher's exact test, one-sided (hypergeometric tail of the late ticks of both windows).

    The windows hold ~200 ticks each, so one point of late share is two ticks, which a
    shared machine's noise gives either window by chance: 2 of 189 under the flood against
    0 of 196 in the baseline failed a fixed "+0.01" (p = 0.24 here) while the baseline of
    another run had 8 of 232 late and its flood none. A listener that blocks the loop
    makes late ticks by the dozen (the code before single flight: p99 2.5 s)."""
    total, late_all = ticks + ticks_before, late + late_before
    if late_all == 0:
        return 1.0
    tail = sum(math.comb(ticks, k) * math.comb(ticks_before, late_all - k)
               for k in range(late, min(late_all, ticks) + 1))
    return tail / math.comb(total, late_all)


def test_late_excess_by_chance_tells_noise_from_a_stall() -> None:
    assert late_excess_by_chance(2, 189, 0, 196) > 0.2  # the flake: noise
    assert late_excess_by_chance(0, 200, 8, 232) == 1.0
    assert late_excess_by_chance(30, 200, 0, 200) < 1e-9  # a loop blocked by the listener


async def _flood(url: str, gzip: bool) -> dict[str, int]:
    """CLIENTS clients scraping `url` for WINDOW seconds, from another process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(FLOOD), "--flood-only", "--url", url, "--concurrency",
        str(CLIENTS), "--seconds", str(WINDOW), *(["--gzip"] if gzip else []),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_200_concurrent_scrapes_keep_the_polling_cadence(tmp_path: Path, snmpd,
                                                               gzip: bool) -> None:
    """Plain bodies (~400 kB) load the writes; gzip ones (as Prometheus asks) the number of
    requests per second.

    The baseline window has the same crowd scraping a copy of the body from a decoy
    aiohttp server in another process: the machine is as busy as in the
    flood window, only the HTTP work is not in the service's process. What the flood
    window may add is what the service's own listener costs its polling.
    """
    # One snmpd posing as DEVICES devices: a credential name each (the inventory refuses
    # two devices with the same address, port and credential).
    devices = [Dev(f"sw{i:03d}", snmpd.port, f"c{i}", site=f"site{i % 10}")
               for i in range(DEVICES)]
    inv = write_inventory(tmp_path / "inventory.yaml", devices,
                          {f"c{i}": v2c("BW_C") for i in range(DEVICES)},
                          {"interval": 3, "timeout": 1.0, "retries": 1, "poll_deadline": 2.8})
    async with running_service(inv, {"BW_C": "public"}) as service:
        await wait_until(lambda: all(s.up for s in service.state.device_snapshots()),
                         within=30, what="a successful poll of every device")
        _, _, body = await fetch(f"{service.http.url}/metrics",
                                 {"Accept-Encoding": "gzip" if gzip else "identity"})
        (tmp_path / "decoy").mkdir()
        (tmp_path / "decoy" / "metrics").write_bytes(body)
        port = free_tcp_port()
        decoy = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DECOY, str(tmp_path / "decoy" / "metrics"), str(port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await wait_until(lambda: not port_is_free(port, kind=socket.SOCK_STREAM),
                             within=30, what="the decoy server listening")
            start = _snapshot(service)
            decoy_outcomes = await _flood(f"http://127.0.0.1:{port}/metrics", gzip)
            quiet = _snapshot(service)
        finally:
            decoy.terminate()
            await decoy.wait()
        rss_before = _rss()
        outcomes = await _flood(f"{service.http.url}/metrics", gzip)
        loud = _snapshot(service)
        rss_after = _rss()
    size = len(body)
    baseline, flood = _window(start, quiet), _window(quiet, loud)
    print(f"\nbaseline: {baseline} (decoy {decoy_outcomes})\nflood:    {flood}\n"
          f"outcomes: {outcomes}\nRSS {rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB; "
          f"body {size / 1024:.0f} kB")
    assert set(outcomes) == {"200"} and outcomes["200"] >= CLIENTS, outcomes
    # Polls skipped or failed: as many as in the baseline window, plus at most 2 % of the
    # polls. Measured: 0 at load average 6-13; 3 of ~300 with two CPU hogs on top (load
    # 12-15), where the process serving 1,000 scrapes gets less CPU for its polls than the
    # one whose scrapes a decoy served; the code before single flight and slices lost
    # ~40 % of its polls here (p99 lag 2.5 s).
    lost = flood["skipped"] + flood["failures"]
    lost_before = baseline["skipped"] + baseline["failures"]
    assert lost <= lost_before + 0.02 * flood["polls"], (baseline, flood)
    late, late_before = (round(w["late_share"] * w["ticks"]) for w in (flood, baseline))
    chance = late_excess_by_chance(late, flood["ticks"], late_before, baseline["ticks"])
    print(f"late ticks: {late} of {flood['ticks']} under the flood, {late_before} of "
          f"{baseline['ticks']} before; as likely by chance: p = {chance:.3g}")
    assert flood["late_share"] <= baseline["late_share"] + 0.01 or chance >= ALPHA, \
        (baseline, flood, chance)
    # Single flight: concurrent scrapes shared renders.
    assert flood["renders"] < flood["scrapes"], flood
    # Memory: what a flood leaves is bounded by the bodies in flight, not by the clients
    # (200 copies of the body would be 200 × size).
    assert rss_after - rss_before < 64 * 2**20 + 20 * size, (rss_before, rss_after, size)

