"""A device removed by a hot reload while InfluxDB (VictoriaMetrics here) is down: its
points already spooled are still delivered once the store is back, and none of it after
its removal (issue 12)."""

from __future__ import annotations

from pathlib import Path

import yaml
from influx_helpers import wait_until
from test_influx_service import ENV, snmpd_many, write_inventory  # noqa: F401
from test_influx_vm import assert_stored_exactly_once, expected_points, vm  # noqa: F401

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.samples import PollResult
from borderwatch.service import start_service

REMOVED = "dev5"


async def test_removed_device_spooled_points_are_delivered(vm, snmpd_many,  # noqa: F811
                                                           tmp_path: Path) -> None:
    path = write_inventory(tmp_path / "inventory.yaml", snmpd_many.port, vm.url)
    data = yaml.safe_load(path.read_text())
    data["defaults"]["icmp"] = {"enabled": False}  # SNMP points only: the ones compared
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    service = await start_service(load_inventory(path, env=ENV), "127.0.0.1:0",
                                  local_address="127.0.0.1",
                                  reload_from=lambda: load_inventory(path, env=ENV))
    journal: list[PollResult] = []
    service.result_listeners.append(journal.append)
    writer = service.influx
    assert writer is not None
    try:
        await wait_until(lambda: writer.stats.points_written > 100, what="first writes")
        vm.stop()
        down_at = len(journal)
        await wait_until(lambda: writer.stats.spool_points > 200, what="points spooled")
        spooled = [r for r in journal[down_at:] if r.device_id == REMOVED]
        data = yaml.safe_load(path.read_text())
        for site in data["sites"]:
            site["devices"] = [d for d in site["devices"] if d["id"] != REMOVED]
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        outcome = await service.reloader.reload("test")
        assert outcome.ok and outcome.diff.removed == (REMOVED,)
        removed_polls = len([r for r in journal if r.device_id == REMOVED])
        vm.start()
        await wait_until(lambda: writer.stats.spool_points == 0, what="replay")
        before = len(journal)
        await wait_until(lambda: len(journal) > before + 20, what="fresh polls after")
    finally:
        await service.close()
    assert spooled, "the removed device had no polls while the store was down"
    # nothing of it after the reload (a poll in flight at the reload was cancelled)
    assert len([r for r in journal if r.device_id == REMOVED]) == removed_polls
    sites = {f"dev{i}": "dong-dang" if i < 3 else "huu-nghi" for i in range(6)}
    assert_stored_exactly_once(vm, expected_points(journal, sites))  # dev5's included
    assert writer.stats.dropped == {}
