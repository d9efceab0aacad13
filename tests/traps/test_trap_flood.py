"""10,000 traps/s for 10 s at the receiver while the service polls a real snmpd: polling
keeps its cadence (the issue's "within its normal p99").

Half the flood comes from a device of the inventory with its right community (linkDown
traps: the per-source rate limit passes `rate_per_source`, each one changes the state
and asks for a confirming poll), half from an address the inventory does not know.
The flood runs in another process (bench/trap_flood.py). The baseline is the same flood
aimed at a decoy socket in a third process: the machine is as busy, only the receiving is
not the service's. Baseline and flood alternate in 2-second slices, five of each, so that
a burst of the machine's other work (other pytest workers building a wheel, say) lands in
both about equally instead of in one 10-second window. Bounds are relative to the
baseline: the flood's p99 scheduler lag may be at most one histogram bucket above the
baseline's, and polls skipped or failed may exceed the baseline's by 2 % of the polls at
most. The figures are printed.

What the cadence bound catches is a receiver that holds the loop in one callback. It no
longer tells the limits apart (the `rate_limited` count does): on 2026-12-08, without the
limits (rate_per_source and burst 100,000), with 200 µs of extra work per datagram, or with
the worker draining its queue without yielding, the flood's p99 stayed in the baseline's
bucket, since asyncio reads one datagram per pass of the loop and the kernel drops the
rest. The failures it did show were the machine's: in a loaded `make test`, both
sequential 10-second pairs missed the bound by 4-5 buckets, hence the slices.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from runtime_helpers import REPO_ROOT, Dev, running_service, v2c, wait_until, write_inventory
from servers import free_udp_port

from borderwatch.collector.scheduler import LAG_BUCKETS

pytestmark = [pytest.mark.slow, pytest.mark.timing]

DEVICES = 40
RATE, SECONDS = 10_000, 10.0
SLICES = 5  # per condition, alternating: SECONDS / SLICES of decoy, then of flood, ...
STRANGER = "127.0.13.50"
FLOOD = REPO_ROOT / "bench" / "trap_flood.py"
DECOY = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    s.recv(4096)
"""


def _snapshot(service) -> dict:  # type: ignore[no-untyped-def]
    sched = service.scheduler
    snaps = service.state.device_snapshots()
    return {"lag": list(sched.lag.counts),
            "skipped": sum(st.overruns + st.missed_ticks for st in sched.stats.values()),
            "failures": sum(s.failures for s in snaps),
            "polls": sum(s.polls for s in snaps),
            "extra_polls": sum(st.extra_polls for st in sched.stats.values())}


def _p99_bucket(counts: list[int]) -> int:
    """Index of the lag bucket holding the 99th percentile (len(LAG_BUCKETS) = +Inf)."""
    total, cumulative = sum(counts), 0
    for index, c in enumerate(counts):
        cumulative += c
        if cumulative >= 0.99 * total:
            return index
    return len(counts) - 1


def _window(before: dict, after: dict) -> dict:
    """What happened between two snapshots: the lag histogram's counts and the counters."""
    return {"lag": [a - b for a, b in zip(after["lag"], before["lag"], strict=True)],
            **{k: after[k] - before[k] for k in ("skipped", "failures", "polls",
                                                 "extra_polls")}}


def _add(total: dict | None, window: dict) -> dict:
    """Two windows as one: lag histograms and counters summed, p99 taken again."""
    if total is None:
        return window
    merged = {k: total[k] + window[k] for k in ("skipped", "failures", "polls",
                                                "extra_polls")}
    merged["lag"] = [a + b for a, b in zip(total["lag"], window["lag"], strict=True)]
    return merged


def _summary(window: dict) -> dict:
    p99 = _p99_bucket(window["lag"])
    return {"ticks": sum(window["lag"]), "p99_bucket": p99,
            "p99_at_most_s": (*LAG_BUCKETS, float("inf"))[p99],
            **{k: window[k] for k in ("skipped", "failures", "polls", "extra_polls")}}


async def _flood(port: int, seconds: float) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(FLOOD), "--target", f"127.0.0.1:{port}", "--rate", str(RATE),
        "--seconds", str(seconds), "--source", "127.0.0.1:public",
        "--source", f"{STRANGER}:public", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)


def cadence_kept(baseline: dict, flooded: dict) -> bool:
    """p99 lag at most one bucket above the baseline's, and polls kept."""
    lost = flooded["skipped"] + flooded["failures"]
    return (flooded["p99_bucket"] <= baseline["p99_bucket"] + 1
            and lost <= baseline["skipped"] + baseline["failures"] + 0.02 * flooded["polls"])


async def _pair(service) -> tuple[dict, dict, dict, dict]:  # type: ignore[no-untyped-def]
    """Baseline slices (the flood aimed at a decoy) alternating with flood slices at the
    service: (baseline, flooded, what was sent, what the receiver made of it)."""
    decoy_port = free_udp_port()
    decoy = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DECOY, str(decoy_port), stdout=asyncio.subprocess.PIPE)
    quiet_total = loud_total = None
    sent: dict = {"sent": 0, "seconds": 0.0}
    received_before = dict(service.traps.stats.results)
    began = time.monotonic()
    try:
        assert decoy.stdout is not None
        await decoy.stdout.readline()
        for _ in range(SLICES):
            start = _snapshot(service)
            await _flood(decoy_port, SECONDS / SLICES)
            quiet = _snapshot(service)
            part = await _flood(service.traps.address[1], SECONDS / SLICES)
            loud = _snapshot(service)
            quiet_total = _add(quiet_total, _window(start, quiet))
            loud_total = _add(loud_total, _window(quiet, loud))
            sent = {k: sent[k] + part[k] for k in ("sent", "seconds")}
    finally:
        decoy.terminate()
        await decoy.wait()
    await asyncio.sleep(0.5)  # the queue drains
    received = {k: v - received_before.get(k, 0)
                for k, v in service.traps.stats.results.items()}
    # the device's token bucket refills in the decoy slices too: it accrues over all of it
    sent["rate"], sent["elapsed"] = sent["sent"] / sent["seconds"], time.monotonic() - began
    assert quiet_total is not None and loud_total is not None
    baseline, flooded = _summary(quiet_total), _summary(loud_total)
    print(f"\nbaseline: {baseline}\nflood:    {flooded} (sent {sent})\nreceiver: {received}")
    return baseline, flooded, sent, received


async def test_a_trap_flood_leaves_the_poll_cadence_alone(tmp_path: Path, snmpd) -> None:
    """10 s of each condition, in alternating slices, on a machine other work shares (three
    pytest workers in `make test`). A pair that misses the bound is measured once more,
    and the test fails only if the second pair misses it too: the receiver without its
    limits misses it in every pair, noise rarely twice in a row."""
    devices = [Dev(f"sw{i:03d}", snmpd.port, f"c{i}", site=f"site{i % 8}")
               for i in range(DEVICES)]
    inv = write_inventory(tmp_path / "inventory.yaml", devices,
                          {f"c{i}": v2c("BW_C") for i in range(DEVICES)},
                          {"interval": 1, "timeout": 0.4, "retries": 1})
    text = inv.read_text() + f"traps: {{listen: '127.0.0.1:{free_udp_port()}'}}\n"
    inv.write_text(text)
    async with running_service(inv, {"BW_C": "public"}) as service:
        await wait_until(lambda: all(s.up for s in service.state.device_snapshots()),
                         within=30, what="a successful poll of every device")
        baseline, flooded, sent, received = await _pair(service)
        pairs = [(baseline, flooded)]
        if not cadence_kept(baseline, flooded):
            baseline, flooded, sent, received = await _pair(service)
            pairs.append((baseline, flooded))
    # the flood reached the receiver, and was sorted: strangers dropped, the device limited
    assert sent["rate"] >= 0.5 * RATE, sent
    assert received.get("unknown_source", 0) > 0 and received.get("rate_limited", 0) > 0, \
        received
    assert received.get("accepted", 0) <= 20 * sent["elapsed"] + 50, (received, sent)
    assert received.get("bad_credentials", 0) == 0
    # the cadence: p99 lag at most one bucket above the baseline's, polls kept
    assert cadence_kept(baseline, flooded), pairs
