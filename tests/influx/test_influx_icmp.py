"""ICMP metrics end to end: `borderwatch run` (start_service) pings a real loopback address
for an ICMP-only device and an SNMP device (a real snmpd); the borderwatch_icmp_* families
appear on /metrics and the `icmp` points reach VictoriaMetrics through the Influx writer;
the same points, encoded, are stored by a real influxd with the field types of the design."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from influx_helpers import TOKEN, wait_until
from influxd_server import Influxd, start_influxd, write_lines
from servers import start_snmpd
from test_influx_vm import vm  # noqa: F401

from borderwatch.collector.icmp.stats import IcmpRound, IcmpStats
from borderwatch.collector.inventory import load_inventory
from borderwatch.exporters.line_protocol import encode_icmp
from borderwatch.service import start_service

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root here "
                                "(net.ipv4.ping_group_range may allow them unprivileged)")
ENV = {"BW_C": "public", "BW_INFLUX_TOKEN": TOKEN}
FAMILIES = ("borderwatch_icmp_up", "borderwatch_icmp_rtt_seconds",
            "borderwatch_icmp_rtt_average_seconds", "borderwatch_icmp_rtt_jitter_seconds",
            "borderwatch_icmp_loss_ratio", "borderwatch_icmp_echo_requests_total",
            "borderwatch_icmp_echo_replies_total")


@pytest.fixture
def snmpd(tmp_path):
    server = start_snmpd(tmp_path / "snmpd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influxd(tmp_path) -> Iterator[Influxd]:
    server = start_influxd(tmp_path / "influxd")
    try:
        yield server
    finally:
        server.stop()


def write_inventory(path: Path, snmpd_port: int, influx_url: str) -> Path:
    data = {
        "schema_version": 1,
        "credentials": {"c": {"version": "2c", "community_env": "BW_C"}},
        "defaults": {"interval": 1, "timeout": 0.3, "retries": 0,
                     "icmp": {"interval": 0.5, "count": 2, "timeout": 0.2, "socket": "raw"}},
        "sites": [{"id": "huu-nghi", "name": "Hữu Nghị", "kind": "border_gate", "devices": [
            {"id": "sw1", "address": "127.0.0.1", "port": snmpd_port, "credential": "c",
             "profile": ["system"]},
            {"id": "cam1", "address": "127.0.0.31", "snmp": False}]}],
        "influx": {"url": influx_url, "org": "bw", "bucket": "bw",
                   "token_env": "BW_INFLUX_TOKEN", "batch_size": 10, "flush_interval": 0.2,
                   "timeout": 1, "spool": {"dir": str(path.parent / "spool")}},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)
    return path


async def test_icmp_on_metrics_and_in_victoria_metrics(vm, snmpd, tmp_path) -> None:  # noqa: F811
    inventory = load_inventory(write_inventory(tmp_path / "inv.yaml", snmpd.port, vm.url),
                               env=ENV)
    service = await start_service(inventory, "127.0.0.1:0", local_address="127.0.0.1")
    try:
        assert service.icmp is not None and set(service.devices) == {"sw1"}  # cam1: ping only

        def pinged_twice() -> bool:
            snaps = {s.device_id: s for s in service.state.device_snapshots()}
            return all(s.icmp is not None and s.icmp.sent_total >= 4 for s in snaps.values())

        await wait_until(pinged_twice, what="two ping rounds of each device")
        async with aiohttp.ClientSession() as http, \
                http.get(f"{service.http.url}/metrics") as response:
            text = await response.text()
        wanted = {(f"icmp_{f}", d) for f in ("up", "rtt_seconds", "rtt_average_seconds",
                                              "loss_ratio", "echo_requests", "echo_replies")
                  for d in ("sw1", "cam1")}
        for _ in range(200):  # until the points are stored (bounded: 200 × 0.1 s + queries)
            stored = await asyncio.to_thread(vm.samples, '{__name__=~"icmp_.*"}')
            if wanted <= {(name, dict(labels)["device"]) for name, labels in stored}:
                break
            await asyncio.sleep(0.1)
    finally:
        await service.close()
    lines = text.splitlines()
    for family in FAMILIES:
        for device in ("sw1", "cam1"):
            assert any(line.startswith(f'{family}{{device="{device}",site="huu-nghi"}} ')
                       for line in lines), (family, device)
    assert 'borderwatch_icmp_up{device="cam1",site="huu-nghi"} 1.0' in lines
    assert 'borderwatch_icmp_socket_info{socket="raw"} 1.0' in lines
    (rounds,) = [line for line in lines if line.startswith("borderwatch_icmp_rounds_total ")]
    assert float(rounds.split()[1]) >= 4
    # the ICMP-only device's ping rounds are its polls
    assert 'borderwatch_device_up{device="cam1",site="huu-nghi"} 1.0' in lines
    assert wanted <= {(name, dict(labels)["device"]) for name, labels in stored}
    assert all(dict(labels)["site"] == "huu-nghi" for _, labels in stored)


def test_icmp_point_in_influxd(influxd: Influxd) -> None:
    stats = IcmpStats(10)
    rounds = [IcmpRound("cam1", 3, (0.6, 0.64), 1.0, 1_700_000_000.25),
              IcmpRound("cam1", 3, (), 2.0, 1_700_000_030.25)]
    lines = [encode_icmp(r, stats.add(r), "huu-nghi").lines[0] for r in rounds]
    write_lines(influxd, lines)
    (series,) = influxd.series('SELECT * FROM "icmp" GROUP BY *')
    assert series["tags"] == {"device": "cam1", "site": "huu-nghi"}
    rows = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    assert [(r["time"], r["up"], r["loss_ratio"], r["echo_requests"], r["echo_replies"])
            for r in rows] == [(1_700_000_000_250, 1.0, pytest.approx(1 / 3), 3, 2),
                               (1_700_000_030_250, 0.0, pytest.approx(4 / 6), 6, 2)]
    assert rows[1]["rtt_seconds"] == 0.64  # the latest reply stays until a new one
    (keys,) = influxd.series('SHOW FIELD KEYS FROM "icmp"')
    assert dict(keys["values"]) == {
        "up": "float", "rtt_seconds": "float", "rtt_average_seconds": "float",
        "rtt_jitter_seconds": "float", "loss_ratio": "float", "echo_requests": "integer",
        "echo_replies": "integer"}
