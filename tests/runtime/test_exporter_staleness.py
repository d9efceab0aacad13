"""A30: a removed device, or one dead beyond the staleness window, leaves no frozen series.

A real Prometheus scrapes across a restart of the collector with an edited inventory;
a device behind the UDP fault proxy goes silent (blackhole) while the other keeps
answering (real snmpd).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes.udp_proxy import UdpProxy
from runtime_helpers import Dev, running_service, scrape, v2c, wait_until, write_inventory
from servers import free_tcp_port

ENV = {"BW_C": "public"}
DEFAULTS = {"interval": 1, "timeout": 0.3, "retries": 0}


def _query(prom, expr: str) -> list[dict]:
    return prom.query(expr)


@pytest.mark.slow
async def test_removed_device_disappears_from_prometheus_at_once(
        tmp_path: Path, snmpd, prometheus_factory) -> None:
    listen_port = free_tcp_port()
    listen = f"127.0.0.1:{listen_port}"
    both = write_inventory(tmp_path / "both.yaml",
                           [Dev("keep", snmpd.port, "a"), Dev("gone", snmpd.port, "b")],
                           {"a": v2c("BW_C"), "b": v2c("BW_C")}, DEFAULTS)
    one = write_inventory(tmp_path / "one.yaml", [Dev("keep", snmpd.port, "a")],
                          {"a": v2c("BW_C")}, DEFAULTS)
    prom = prometheus_factory([listen], scrape_interval="1s")
    async with running_service(both, ENV, listen=listen):
        await asyncio.to_thread(prom.wait_for, 'borderwatch_interface_up{device="gone"}',
                                lambda r: len(r) > 0, 30)
    async with running_service(one, ENV, listen=listen) as service:
        await wait_until(lambda: service.state.device("keep").up is True, within=10,
                         what="a poll of the kept device")
        # Once Prometheus has scraped the new process, the removed device is gone: no
        # series of it at all, not a frozen last value.
        await asyncio.to_thread(prom.wait_for, "borderwatch_inventory_devices",
                                lambda r: bool(r) and r[0]["value"][1] == "1", 30)
        # ... and the kept device's data is back, from a scrape of the new process.
        kept = await asyncio.to_thread(prom.wait_for, 'borderwatch_interface_up{device="keep"}',
                                       lambda r: len(r) > 0, 30)
        gone = await asyncio.to_thread(_query, prom, '{__name__=~"borderwatch_.+",device="gone"}')
        text = (await scrape(service))["text"]
    assert gone == []
    assert kept
    assert 'device="gone"' not in text


@pytest.mark.slow
async def test_device_dead_beyond_ttl_keeps_up_0_and_drops_its_series(
        tmp_path: Path, snmpd, prometheus_factory) -> None:
    proxy = await UdpProxy.start(snmpd.endpoint)
    try:
        inv = write_inventory(tmp_path / "inv.yaml",
                              [Dev("alive", snmpd.port, "a"), Dev("fading", proxy.port, "b")],
                              {"a": v2c("BW_C"), "b": v2c("BW_C")}, DEFAULTS)
        async with running_service(inv, ENV) as service:
            prom = prometheus_factory([f"127.0.0.1:{service.http.port}"], scrape_interval="1s")
            await asyncio.to_thread(prom.wait_for, 'borderwatch_interface_up{device="fading"}',
                                    lambda r: len(r) > 0, 30)
            proxy.to_agent.blackhole = True  # the radio hop goes dark
            fading = service.state.device("fading")
            await wait_until(lambda: fading is not None and fading.stale, within=15,
                             what="the silent device to go stale (3 intervals)")
            await asyncio.to_thread(
                prom.wait_for, 'borderwatch_interface_up{device="fading"}', lambda r: r == [], 15)
            up = await asyncio.to_thread(_query, prom, "borderwatch_device_up")
            alive_ifs = await asyncio.to_thread(_query, prom,
                                                'borderwatch_interface_up{device="alive"}')
            scraped = await scrape(service)
    finally:
        proxy.close()
    assert {r["metric"]["device"]: r["value"][1] for r in up} == {"alive": "1", "fading": "0"}
    assert alive_ifs
    fading_series = [name for name, rows in scraped["samples"].items()
                     for labels, _ in rows if labels.get("device") == "fading"]
    # what remains of it: reachability and poll bookkeeping, never a frozen measurement
    assert "borderwatch_device_up" in fading_series
    assert not [n for n in fading_series if n.startswith("borderwatch_interface_")]
    assert "borderwatch_device_uptime_seconds" not in fading_series
