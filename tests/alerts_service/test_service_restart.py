"""The service with a webhook receiver, restarted in the middle of an incident: the
engine state file brings the incident back, so no second page, and the resolve still
comes (once) after recovery. Real snmpd agents, hub blackholed by the T2 proxy."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alert_network import ENV, build
from hook_receiver import Receiver
from runtime_helpers import fetch, running_service, wait_until
from servers import Snmpd


def statuses(recv: Receiver) -> list[str]:
    return [b["status"] for b in recv.ok("/hook/tok")]


async def test_restart_mid_incident_neither_repages_nor_forgets(tmp_path: Path,
                                                                snmpd: Snmpd) -> None:
    recv = await Receiver().start()
    net = await build(tmp_path, snmpd.port, {"webhooks": [
        {"name": "ops", "url": recv.url("/hook/tok"), "language": "vi", "timeout": 2}]})
    state_file = tmp_path / "state" / "state.json"
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            net.cut("hub-sw")
            net.cut("post-sw")
            await wait_until(lambda: statuses(recv) == ["firing"], 30, "the page")
            key = service.alerts.sent[0].incident_key
        saved = json.loads(state_file.read_text())
        assert [i["key"] for i in saved["incidents"]] == [key]
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            assert [i.key for i in service.alerts.engine.open_incidents()] == [key]
            await asyncio.sleep(6)  # many ticks and polls with the hub still dark
            assert service.alerts.sent == [] and statuses(recv) == ["firing"]
            assert [i.key for i in service.alerts.engine.open_incidents()] == [key]
            code, _, body = await fetch(f"{service.http.url}/api/status")
            assert code == 200
            (shown,) = json.loads(body)["alerts"]
            assert (shown["key"], shown["status"], shown["root_cause"]) == \
                (key, "firing", ["site:hub"])
            assert set(shown["cut_off"]) == {"hub", "post"} and shown["notified"] == "firing"
            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            await wait_until(lambda: statuses(recv) == ["firing", "resolved"], 30,
                             "the resolve")
            await asyncio.sleep(2)
        assert statuses(recv) == ["firing", "resolved"]
        bodies = recv.ok()
        assert bodies[0]["dedup_key"] != bodies[1]["dedup_key"]
        assert bodies[1]["incident_key"] == key
        assert bodies[0]["text"].startswith("[NGHIÊM TRỌNG]")  # the receiver's language: vi
        assert json.loads(state_file.read_text())["incidents"] == []
    finally:
        net.close()
        await recv.stop()
