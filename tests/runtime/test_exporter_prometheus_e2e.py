"""A real Prometheus scrapes borderwatch while it polls real agents; values read back via PromQL.

Agents: snmpsim serving the cisco-c3560, ubiquiti-m5 and eaton-93e-80 dumps, a real
net-snmp snmpd over v2c, v3 SHA/AES-128 and v3 SHA-256/AES-256, and a port where
nothing listens. The interface counters Prometheus returns are compared with what
net-snmp's snmpget reads from the same agents.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from runtime_helpers import (
    Dev,
    fetch,
    running_service,
    scrape,
    snmpget_counter,
    v2c,
    v3,
    wait_until,
    write_inventory,
)
from servers import SNMPD_V3_USERS, free_udp_port, snmpget

IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
LIVE = ("c3560", "ubnt-m5", "eaton-ups", "snmpd-v2c", "snmpd-v3-aes128", "snmpd-v3-aes256")


def _counter_oid_value(host: str, port: int, community: str, if_index: str) -> int:
    """The interface's receive octets as snmpget sees them (64-bit, else 32-bit)."""
    for column in (IF_HC_IN, IF_IN):
        res = snmpget(host, port, [f"{column}.{if_index}"], community=community)
        value = snmpget_counter(res.stdout)
        if value is not None:
            return value
    raise AssertionError(f"snmpget found no octet counter for ifIndex {if_index}")


@pytest.mark.slow
async def test_prometheus_reads_back_what_agents_answer(tmp_path: Path, snmpd, snmpsim_dumps,
                                                        prometheus_factory) -> None:
    sim = snmpsim_dumps
    env = {
        "BW_C3560": sim.community_for("cisco-c3560"),
        "BW_M5": sim.community_for("ubiquiti-m5"),
        "BW_EATON": sim.community_for("eaton-93e-80"),
        "BW_PUBLIC": "public",
    }
    u1, u2 = SNMPD_V3_USERS["testv3user"], SNMPD_V3_USERS["testv3sha256"]
    env |= {"BW_V3A_AUTH": u1["auth_key"], "BW_V3A_PRIV": u1["priv_key"],
            "BW_V3B_AUTH": u2["auth_key"], "BW_V3B_PRIV": u2["priv_key"]}
    creds = {
        "c3560": v2c("BW_C3560"), "m5": v2c("BW_M5"), "eaton": v2c("BW_EATON"),
        "public": v2c("BW_PUBLIC"),
        "v3a": v3("testv3user", "SHA", "AES-128", "BW_V3A"),
        "v3b": v3("testv3sha256", "SHA-256", "AES-256", "BW_V3B"),
    }
    devices = [
        Dev("c3560", sim.port, "c3560", site="ls-core"),
        Dev("ubnt-m5", sim.port, "m5", site="bp-tanthanh"),
        Dev("eaton-ups", sim.port, "eaton", site="ls-core"),
        Dev("snmpd-v2c", snmpd.port, "public"),
        Dev("snmpd-v3-aes128", snmpd.port, "v3a"),
        Dev("snmpd-v3-aes256", snmpd.port, "v3b"),
        Dev("dead", free_udp_port(), "public", site="bp-dead"),
    ]
    # snmpsim answers a c3560 poll (~50 GETBULKs) in 2-4 s on this box, and serves the
    # three dumps from one process: a roomy interval and deadline, big GETBULK pages.
    inv = write_inventory(tmp_path / "inventory.yaml", devices, creds,
                          {"interval": 10, "timeout": 2, "retries": 1, "poll_deadline": 9,
                           "max_repetitions": 60})
    # Moving counter: the value Prometheus returns must lie between two snmpget readings.
    lo_before = _counter_oid_value(snmpd.address, snmpd.port, "public", "1")

    async with running_service(inv, env) as service:
        prom = prometheus_factory([f"127.0.0.1:{service.http.port}"], scrape_interval="1s")
        await wait_until(lambda: all(s.up is not None for s in service.state.device_snapshots()),
                         within=40, what="a first poll of every device")
        c3560 = service.state.device("c3560")
        assert c3560 is not None and not c3560.problems, c3560.problems

        def query(expr: str) -> list[dict]:
            return prom.query(expr)

        # Wait (off the loop: Prometheus' client is blocking) for a scrape after the polls.
        await asyncio.to_thread(prom.wait_for, "count(borderwatch_device_up)",
                                lambda r: bool(r) and r[0]["value"][1] == "7", 30)
        up = {r["metric"]["device"]: r["value"][1] for r in
              await asyncio.to_thread(query, "borderwatch_device_up")}
        assert up == {**dict.fromkeys(LIVE, "1"), "dead": "0"}, up
        sites = {r["metric"]["device"]: r["metric"]["site"] for r in
                 await asyncio.to_thread(query, "borderwatch_device_up")}
        assert sites["ubnt-m5"] == "bp-tanthanh" and sites["dead"] == "bp-dead"
        target_up = await asyncio.to_thread(query, 'up{job="borderwatch"}')
        assert [r["value"][1] for r in target_up] == ["1"]

        # Static dump: every interface counter equals snmpget's value exactly.
        rx = await asyncio.to_thread(
            query, 'borderwatch_interface_receive_bytes_total{device="c3560"}')
        assert len(rx) >= 50  # the c3560 dump has 57 interfaces
        for r in rx:
            # (Prometheus drops labels whose value is empty, so an empty ifAlias is absent
            # there; the exposition itself always carries it: checked below.)
            assert {"site", "device", "ifIndex", "ifName", "ifDescr"} <= set(r["metric"]), \
                r["metric"]
            assert r["metric"]["site"] == "ls-core"
        exposed = (await scrape(service))["samples"]["borderwatch_interface_receive_bytes_total"]
        assert all({"site", "device", "ifIndex", "ifName", "ifAlias", "ifDescr"} <= set(labels)
                   for labels, _ in exposed)
        sample = sorted(rx, key=lambda r: int(r["metric"]["ifIndex"]))[:5]
        for r in sample:
            expect = _counter_oid_value(sim.address, sim.port, env["BW_C3560"],
                                        r["metric"]["ifIndex"])
            assert int(float(r["value"][1])) == expect, (r["metric"]["ifName"], expect)

        # Live snmpd (v2c and both v3 users): lo's counter lies between two snmpget reads.
        lo_after = _counter_oid_value(snmpd.address, snmpd.port, "public", "1")
        for device in ("snmpd-v2c", "snmpd-v3-aes128", "snmpd-v3-aes256"):
            got = await asyncio.to_thread(
                query, f'borderwatch_interface_receive_bytes_total{{device="{device}",'
                       f'ifIndex="1"}}')
            assert len(got) == 1, (device, got)
            value = int(float(got[0]["value"][1]))
            assert lo_before <= value <= lo_after, (device, lo_before, value, lo_after)

        # Profile metrics of the radio and the UPS dumps reach Prometheus with their labels.
        for expr in ('borderwatch_radio_signal_dbm{device="ubnt-m5",site="bp-tanthanh"}',
                     'borderwatch_ups_battery_charge_ratio{device="eaton-ups"}'):
            assert await asyncio.to_thread(query, expr), expr

        # The exporter renders from state: its render time is tiny next to the scrape
        # timeout (1 s here); recorded for the report, asserted only as a ratio.
        t0 = time.perf_counter()
        status, _, body = await fetch(f"{service.http.url}/metrics")
        render = time.perf_counter() - t0
        assert status == 200
        lines = body.count(b"\n")
        print(f"\n/metrics for {len(devices)} devices: {len(body)} bytes, {lines} lines, "
              f"{render * 1000:.1f} ms")
        assert render < 0.5  # half Prometheus' 1 s scrape_timeout, on a shared 2-core box
