"""A3 (no overlapping polls) and A29 (/metrics from cache) with delayed and dead agents.

Agents: a real snmpd; two UDP fault proxies in front of it (1.2 s and 3 s response
delay); a port where nothing listens. A real Prometheus scrapes every second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import (
    Dev,
    fetch,
    running_service,
    scrape,
    v2c,
    values_by_device,
    wait_until,
    write_inventory,
)
from servers import free_udp_port

SYSTEM_ONLY = ["system"]  # one GET per poll, so a poll lasts about one response delay


@pytest.mark.slow
async def test_overrun_skipped_counted_logged_and_metrics_never_wait(
        tmp_path: Path, snmpd, prometheus_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    slow_ok = await UdpProxy.start(snmpd.endpoint)
    slow_ok.to_client.delay = 1.2  # a satellite hop that still answers within the budget
    overrun = await UdpProxy.start(snmpd.endpoint)
    overrun.to_client.delay = 3.0  # longer than the 2 s interval
    try:
        common = {"profile": SYSTEM_ONLY, "interval": 2}
        devices = [
            Dev("fast", snmpd.port, "public", extra=common),
            Dev("vsat-slow", slow_ok.port, "public", extra=common),
            # poll_deadline == interval: a poll may use its whole interval, so with a 3 s
            # delay it is still running when the next tick comes (the A3 case).
            Dev("vsat-overrun", overrun.port, "public",
                extra={**common, "timeout": 2, "retries": 0, "poll_deadline": 2}),
            Dev("dead", free_udp_port(), "public", extra=common),
        ]
        inv = write_inventory(tmp_path / "inventory.yaml", devices, {"public": v2c("BW_P")},
                              {"timeout": 1.5, "retries": 0})
        async with running_service(inv, {"BW_P": "public"}) as service:
            prom = prometheus_factory([f"127.0.0.1:{service.http.port}"],
                                      scrape_interval="1s")
            st = service.scheduler.stats["vsat-overrun"]
            in_flight_seen: set[int] = set()
            scrape_times: list[float] = []

            async def watch() -> None:
                # Sample how many polls of the device run at once, and time /metrics
                # whenever a slow poll is in flight.
                while True:
                    in_flight_seen.add(st.polls_started - st.polls_finished)
                    if service.scheduler.polls_in_flight():
                        t0 = time.perf_counter()
                        status, _, _ = await fetch(f"{service.http.url}/metrics")
                        scrape_times.append(time.perf_counter() - t0)
                        assert status == 200
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            try:
                await wait_until(lambda: st.overruns >= 2, within=30,
                                 what="two skipped ticks of vsat-overrun")
                await asyncio.to_thread(
                    prom.wait_for, 'count_over_time(up{job="borderwatch"}[1m])',
                    lambda r: bool(r) and int(r[0]["value"][1]) >= 5, 30)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            scraped = await scrape(service)
            sched = {d: service.scheduler.stats[d] for d in service.devices}
            prom_up = await asyncio.to_thread(
                prom.query, 'min_over_time(up{job="borderwatch"}[1m])')
            prom_scrapes = await asyncio.to_thread(
                prom.query, 'count_over_time(up{job="borderwatch"}[1m])')
            prom_duration = await asyncio.to_thread(
                prom.query, 'max_over_time(scrape_duration_seconds{job="borderwatch"}[1m])')
            prom_dev = await asyncio.to_thread(prom.query, "borderwatch_device_up")
    finally:
        slow_ok.close()
        overrun.close()

    # A3: never two polls of one device at once; every tick either polled or was skipped.
    assert in_flight_seen <= {0, 1}
    o = sched["vsat-overrun"]
    assert o.overruns >= 2 and o.polls_started + o.overruns == o.ticks
    assert all(sched[d].overruns == 0 for d in ("fast", "vsat-slow", "dead"))
    overruns = values_by_device(scraped, "borderwatch_poll_overruns_total")
    assert overruns["vsat-overrun"] >= 2 and overruns["fast"] == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "borderwatch.collector.scheduler"]
    assert len(warnings) == 1 and "vsat-overrun" in warnings[0]  # once per episode, named

    # A29: /metrics answered from state while slow polls were in flight, and Prometheus
    # never failed a scrape (1 s interval and timeout).
    assert scrape_times, "no /metrics request overlapped a slow poll"
    print(f"\nA29 /metrics during slow polls: {len(scrape_times)} requests, max "
          f"{max(scrape_times) * 1000:.1f} ms (the slow device needs 1200 ms per poll)")
    assert max(scrape_times) < 0.25 * 1.2
    assert [r["value"][1] for r in prom_up] == ["1"]
    assert int(prom_scrapes[0]["value"][1]) >= 4
    assert float(prom_duration[0]["value"][1]) < 0.5
    up = {r["metric"]["device"]: r["value"][1] for r in prom_dev}
    assert up == {"fast": "1", "vsat-slow": "1", "vsat-overrun": "0", "dead": "0"}, up
