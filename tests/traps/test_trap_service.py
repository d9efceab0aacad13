"""Traps through the whole service, against two real snmpd (one v2c, one v3 device) and
net-snmp's snmptrap / snmpinform: for each trap type in each SNMP version and PDU the
state changes at once (marked trap-sourced), the device is re-polled out of cadence, and
the alert fires without waiting for the engine's tick.

The agents say the opposite of the traps (lo is up, no UPS, no radio): only the trap can
make the alert fire, and the confirming poll then corrects the state (the alert resolves,
or a restore trap clears what the poll cannot see).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime_helpers import wait_until
from servers import SNMPD_V3_USERS, Snmpd, free_udp_port, start_snmpd
from trap_cli import Sender, send

from borderwatch.collector.inventory import load_inventory
from borderwatch.service import Service, start_service

pytestmark = pytest.mark.slow

V2_ADDR, V3_ADDR = "127.0.13.11", "127.0.13.12"
V3_USER = "testv3user"
V3_KEYS = SNMPD_V3_USERS[V3_USER]
ENV = {"BW_TRAPS_COMMUNITY": "public", "BW_TRAPS_AUTH": str(V3_KEYS["auth_key"]),
       "BW_TRAPS_PRIV": str(V3_KEYS["priv_key"])}
INTERVAL = 4.0
TICK = 30.0  # far longer than a case: a page within it came from the trap's nudge
RULES = """\
schema_version: 1
include_defaults: false
rules:
  - {name: LinkDown, kind: link_down, severity: major, for: 0s, clear_for: 0s, flap: false}
  - {name: OnBattery, kind: on_battery, severity: major, for: 0s, clear_for: 0s, flap: false}
  - {name: RadioSignalLow, kind: radio_signal_low, severity: warning, threshold: -80,
     clear: -77, for: 0s, clear_for: 0s, flap: false}
"""
# trap → (the rule it must fire, the trap that clears what the poll cannot see)
CASES: dict[str, tuple[str | None, str | None]] = {
    "linkDown": ("LinkDown", None),  # the confirming poll sees lo up: resolves
    "upsTrapOnBattery": ("OnBattery", "upsTrapAlarmEntryRemoved"),
    "upsTrapAlarmEntryAdded": ("OnBattery", "upsTrapAlarmEntryRemoved"),
    "labMainsLost": ("OnBattery", "labMainsRestored"),
    "labRadioFade": ("RadioSignalLow", "labRadioFadeCleared"),
    "coldStart": (None, None),  # a reboot: an event and a poll (sysUpTime counts it)
    "warmStart": (None, None),
    "linkUp": (None, None),  # lo is up already: an event and a poll, nothing to page
}
SENDERS = {"core-sw": Sender(V2_ADDR, community="public"),
           "post-sw": Sender(V3_ADDR, user=V3_USER, auth=("SHA", ENV["BW_TRAPS_AUTH"]),
                             priv=("AES", ENV["BW_TRAPS_PRIV"]))}
VERSIONS = [("1", "trap", "core-sw"), ("2c", "trap", "core-sw"), ("2c", "inform", "core-sw"),
            ("3", "trap", "post-sw"), ("3", "inform", "post-sw")]


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Snmpd]]:
    base = tmp_path_factory.mktemp("trap-agents")
    started = {}
    try:
        for device, address in (("core-sw", V2_ADDR), ("post-sw", V3_ADDR)):
            started[device] = start_snmpd(base / device, address=address)
        yield started
    finally:
        for agent in started.values():
            agent.stop()


def inventory(agents: dict[str, Snmpd]) -> dict[str, Any]:
    def device(name: str, credential: str) -> dict[str, Any]:
        agent = agents[name]
        return {"id": name, "address": agent.address, "port": agent.port,
                "credential": credential, "interfaces": ["lo"]}
    return {
        "schema_version": 1,
        "credentials": {
            "v2": {"version": "2c", "community_env": "BW_TRAPS_COMMUNITY"},
            "v3": {"version": "3", "user": V3_USER, "auth_protocol": "SHA",
                   "auth_key_env": "BW_TRAPS_AUTH", "priv_protocol": "AES",
                   "priv_key_env": "BW_TRAPS_PRIV"}},
        "defaults": {"interval": INTERVAL, "timeout": 0.5, "retries": 1},
        "sites": [
            {"id": "core", "name": "Trung tâm", "kind": "core",
             "devices": [device("core-sw", "v2")]},
            {"id": "post", "name": "Đồn Biên phòng", "kind": "border_post",
             "devices": [device("post-sw", "v3")]}],
        "links": [{"id": "L1", "medium": "fiber", "capacity_mbps": 100,
                   "a": {"site": "core", "device": "core-sw", "interface": "lo"},
                   "b": {"site": "post", "device": "post-sw", "interface": "lo"}}],
        "alerts": {"rules": "rules.yaml", "state_dir": "alerts", "tick": TICK},
        "traps": {"listen": f"127.0.0.1:{free_udp_port()}"},
    }


@pytest.fixture
async def service(agents: dict[str, Snmpd], tmp_path: Path) -> AsyncIterator[Service]:
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory(agents), allow_unicode=True))
    svc = await start_service(load_inventory(path, env=ENV), "127.0.0.1:0",
                              local_address="127.0.0.1", base_dir=tmp_path)
    try:
        await wait_until(lambda: all(s.up for s in svc.state.device_snapshots()), 30,
                         "both devices polled")
        yield svc
    finally:
        await svc.close()


def firing(svc: Service, since: int, rule: str) -> bool:
    return any(n.status == "firing" and any(a.rule == rule for a in n.alerts)
               for n in svc.alerts.sent[since:])


def open_rule(svc: Service, rule: str) -> bool:
    return any(a.rule == rule and a.phase == "firing" for a in svc.alerts.engine.alerts.values())


@pytest.mark.parametrize(("version", "pdu", "device"), VERSIONS,
                         ids=[f"v{v}-{p}" for v, p, _ in VERSIONS])
async def test_each_trap_updates_state_repolls_and_pages(service: Service, version: str,
                                                          pdu: str, device: str,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    caplog.set_level(logging.INFO, "borderwatch.service")
    svc = service
    sender = SENDERS[device]
    dest = "{}:{}".format(*svc.traps.address)
    st = svc.scheduler.stats[device]
    snap = svc.state.device(device)  # the same object for the whole run (state owns it)
    assert snap is not None
    session_engine = getattr(svc.devices[device].session, "engine_id", None)
    # a v3 trap carries the device's own engine ID, the one polling discovered
    engine = "0x" + session_engine.hex() if session_engine else "0x80001f8880aabbccdd01"
    for kind, (rule, restore) in CASES.items():
        traps, extra, sent = snap.traps, st.extra_polls, len(svc.alerts.sent)
        evaluations = svc.alerts.evaluations
        res = await asyncio.to_thread(send, sender, dest, kind, version, pdu, engine)
        assert res.returncode == 0, f"{kind}: {res.stderr}"
        what = f"{kind} v{version} {pdu}"
        await wait_until(lambda t=traps: snap.traps > t, 10, f"{what} applied to the state")
        # the device re-polled out of cadence, and the poll replaced the trap's values
        await wait_until(lambda e=extra: st.extra_polls > e and not snap.trap_sourced,
                         10 + INTERVAL, f"{what}: a confirming poll")
        assert any(f"device {device} (site " in r.getMessage() and f"trap: {kind}"
                   in r.getMessage() for r in caplog.records), f"{what}: no trap event logged"
        if rule is not None:
            await wait_until(lambda s=sent, r=rule: firing(svc, s, r), 10, f"{what}: page")
            assert svc.alerts.evaluations > evaluations
            if restore is not None:  # the poll cannot see these values: a trap clears them
                await asyncio.to_thread(send, sender, dest, restore, version, pdu, engine)
            else:
                svc.alerts.nudge()  # a poll does not nudge: the resolve would wait a tick
            await wait_until(lambda r=rule: not open_rule(svc, r), 10 + INTERVAL,
                             f"{what}: {rule} resolved")
            # and a poll has replaced the restore trap's value (the next case starts clean)
            await wait_until(lambda: not snap.trap_sourced, 10 + INTERVAL,
                             f"{what}: polled after the restore")
        elif kind.endswith("Start"):
            assert any(f"device rebooted ({kind}" in r.getMessage() for r in caplog.records)
        # the next case's confirming poll must not fall in this one's gap (interval / 2)
        await asyncio.sleep(INTERVAL / 2 + 0.1)
    received = svc.traps.stats.results
    assert received["bad_credentials"] == 0 and received["unknown_source"] == 0
    assert svc.scheduler.stats[device].overruns == 0
