"""End to end: the collector (start_service) polling a real snmpd, its PollResults fed to an
InfluxWriter built from the inventory's `influx:` section through the service's result
hook, VictoriaMetrics stopped under load, borderwatch restarted during the outage, the
store back: every polled point arrives once (the issue's outage test)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from influx_helpers import TOKEN, wait_until
from servers import start_snmpd
from test_influx_vm import assert_stored_exactly_once, expected_points, vm  # noqa: F401

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.exporters.influx import InfluxWriter
from borderwatch.service import Service, start_service

DEVICES = 6
ENV = {f"BW_C{i}": f"bw-c{i}" for i in range(DEVICES)} | {"BW_INFLUX_TOKEN": TOKEN}


@pytest.fixture
def snmpd_many(tmp_path):
    """One real snmpd answering DEVICES communities: DEVICES distinct inventory devices."""
    extra = "\n".join(f"rocommunity bw-c{i} 127.0.0.0/8" for i in range(DEVICES))
    server = start_snmpd(tmp_path / "snmpd", extra_conf=extra)
    try:
        yield server
    finally:
        server.stop()


def write_inventory(path: Path, snmpd_port: int, influx_url: str) -> Path:
    devices = [{"id": f"dev{i}", "address": "127.0.0.1", "port": snmpd_port,
                "credential": f"c{i}", "profile": ["system", "if-mib"]}
               for i in range(DEVICES)]
    data = {
        "schema_version": 1,
        "credentials": {f"c{i}": {"version": "2c", "community_env": f"BW_C{i}"}
                        for i in range(DEVICES)},
        # SNMP polls only: the exactly-once check counts the points of the poll journal
        # (ping rounds write points of their own, tests/influx/test_influx_icmp.py)
        "defaults": {"interval": 0.5, "timeout": 0.2, "retries": 1, "icmp": {"enabled": False}},
        "sites": [{"id": "dong-dang", "name": "Đồng Đăng", "kind": "border_gate",
                   "devices": devices[:3]},
                  {"id": "huu-nghi", "name": "Hữu Nghị", "kind": "border_gate",
                   "devices": devices[3:]}],
        "influx": {"url": influx_url, "org": "bw", "bucket": "bw",
                   "token_env": "BW_INFLUX_TOKEN", "batch_size": 100, "flush_interval": 0.2,
                   "timeout": 1, "retry_initial": 0.05, "retry_max": 0.3,
                   "spool": {"dir": "spool", "max_bytes": 16 << 20}},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)
    return path


@contextlib.asynccontextmanager
async def borderwatch(inventory_path: Path, journal: list[PollResult],
                      ) -> AsyncIterator[tuple[Service, InfluxWriter]]:
    """The collector as `borderwatch run` builds it: its Influx writer comes from the
    inventory's `influx:` section and is fed through the service's result hook."""
    inventory = load_inventory(inventory_path, env=ENV)
    service = await start_service(inventory, "127.0.0.1:0", local_address="127.0.0.1")
    assert service.influx is not None, "the service did not build the Influx writer"
    # The journal listener goes after the writer's, so it records exactly what was submitted.
    service.result_listeners.append(journal.append)
    try:
        yield service, service.influx
    finally:
        await service.close()  # polls stop, then the writer spools what is left and fsyncs


async def test_outage_and_restart_under_polling(vm, snmpd_many, tmp_path) -> None:  # noqa: F811
    path = write_inventory(tmp_path / "inventory.yaml", snmpd_many.port, vm.url)
    journal: list[PollResult] = []
    async with borderwatch(path, journal) as (_, first):
        await wait_until(lambda: first.stats.points_written > 100, what="first writes")
        # VictoriaMetrics 1.79 loses its last seconds of accepted points at a SIGKILL
        # (tests/influx/vm_server.py persist()); under continuous polling stop it cleanly.
        vm.stop()
        before = len(journal)
        await wait_until(lambda: first.stats.spool_points > 200, what="points spooled")
    spooled_first = first.stats.spool_points  # after close(): memory spooled too
    assert first.stats.dropped == {}
    async with borderwatch(path, journal) as (service, writer):  # restarted during the outage
        assert writer.stats.spool_points == spooled_first
        await wait_until(lambda: writer.stats.spool_points > spooled_first + 200,
                         what="the new process spools too")
        async with aiohttp.ClientSession() as http, \
                http.get(f"{service.http.url}/metrics") as response:
            exposition = await response.text()
        spool_line = [line for line in exposition.splitlines()
                      if line.startswith("borderwatch_influx_spool_points ")]
        assert spool_line and float(spool_line[0].split()[1]) > 0, "spool not on /metrics"
        vm.start()
        await wait_until(lambda: writer.stats.spool_points == 0, what="replay")
        await wait_until(lambda: len(journal) > before + 40, what="fresh polls after")
        replayed = writer.stats.points_replayed
    assert all(r.ok for r in journal)
    sites = {f"dev{i}": "dong-dang" if i < 3 else "huu-nghi" for i in range(DEVICES)}
    expected = expected_points(journal, sites)
    assert_stored_exactly_once(vm, expected)
    assert writer.stats.dropped == {}
    print(f"\nservice outage: {len(journal)} polls of {DEVICES} devices, {len(expected)} "
          f"samples, all stored once; {len(journal) - before} polls after the store "
          f"stopped; {spooled_first} points spooled before the restart, {replayed} replayed "
          "after it")
