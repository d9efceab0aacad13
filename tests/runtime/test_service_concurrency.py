"""A9: 300 devices under `max_in_flight: 32`; concurrency counted outside the collector.

300 devices (one community each) on a real snmpd behind the UDP fault proxy, which
delays every request by 0.3 s and counts how many requests are inside it at once: that
count, seen from outside the process, must never pass the cap. Start times must be
spread over the interval, not all at t=0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import Dev, ResultLog, running_service, v2c, wait_until, write_inventory
from servers import start_snmpd

N = 300
CAP = 32
INTERVAL = 3.0


@pytest.mark.slow
async def test_300_devices_never_exceed_the_in_flight_cap(tmp_path: Path) -> None:
    names = [f"a9c{i:03d}" for i in range(N)]
    snmpd = start_snmpd(tmp_path / "snmpd", extra_conf="\n".join(
        f"rocommunity {c} 127.0.0.0/8" for c in names))
    proxy = await UdpProxy.start(snmpd.endpoint)
    proxy.to_agent.delay = 0.3  # ~100 requests/s × 0.3 s ≈ 30 wanted in flight, peaks above
    peak = 0
    forward = proxy._from_client

    def counting(data: bytes, client: tuple) -> None:
        nonlocal peak
        forward(data, client)
        # requests received and not yet answered by the agent = requests in flight
        peak = max(peak, proxy.to_agent.seen - proxy.to_client.seen)

    proxy._from_client = counting  # type: ignore[method-assign]
    try:
        devices = [Dev(c, proxy.port, c, extra={"profile": ["system"]}) for c in names]
        inv = write_inventory(tmp_path / "inv.yaml", devices,
                              {c: v2c(f"BW_{c.upper()}") for c in names},
                              {"interval": INTERVAL, "timeout": 1.5, "retries": 0,
                               "max_in_flight": CAP})
        log = ResultLog()
        env = {f"BW_{c.upper()}": c for c in names}
        async with running_service(inv, env) as service:
            service.result_listeners.append(log)
            await wait_until(lambda: len({r.device_id for r in log.results}) == N,
                             within=4 * INTERVAL, what="a first poll of all 300 devices")
            await asyncio.sleep(INTERVAL)
            stats = service.transport.stats
            snaps = service.state.device_snapshots()
    finally:
        proxy.close()
        snmpd.stop()
    first = {}
    for r in log.results:
        first.setdefault(r.device_id, r.started)
    t0 = min(first.values())
    slices = {int((t - t0) / INTERVAL * 10) for t in first.values()}
    failed = [r for r in log.results if not r.ok]
    print(f"\nA9: {len(log.results)} polls, peak in flight seen by the proxy {peak}, by the "
          f"transport {stats.max_in_flight_seen} (cap {CAP}); first polls over "
          f"{len(slices)}/10 slices of the interval; {len(failed)} failed")
    assert peak <= CAP and stats.max_in_flight_seen <= CAP
    assert peak >= CAP // 2  # the load really was concurrent, so the cap was exercised
    assert len(slices) >= 9  # spread over the interval (cf. Prometheus scrape offsets)
    assert not failed, failed[:3]
    assert all(s.up for s in snaps)
