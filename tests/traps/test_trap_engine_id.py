"""SNMPv3 traps must carry the sending device's own engine ID (RFC 3412 §6.4): the one the
service's polls discovered. A real snmpd (v3 user, its engine ID set in snmpd.conf) is
polled; net-snmp's snmptrap sends v3 linkDown traps with the device's credential. Another
engine ID is counted (engine_id_mismatch), logged once and not acted on, and it asks for a
poll. When the device really changed its engine ID (re-imaged: a new engineID, snmpd
restarted), that poll rediscovers it, and the device's traps are accepted again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from runtime_helpers import wait_until
from servers import SNMPD_V3_USERS, Snmpd, free_udp_port, start_snmpd
from trap_cli import Sender, send

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.scheduler import EXTRA_POLL_GAP
from borderwatch.service import Service, start_service

ADDR = "127.0.13.13"
USER = "testv3user"
KEYS = SNMPD_V3_USERS[USER]
ENV = {"BW_TE_AUTH": str(KEYS["auth_key"]), "BW_TE_PRIV": str(KEYS["priv_key"])}
SENDER = Sender(ADDR, user=USER, auth=("SHA", ENV["BW_TE_AUTH"]),
                priv=("AES", ENV["BW_TE_PRIV"]))
FOREIGN = "0x80001f8880aabbccdd01"  # not this device's engine


def engine_id(text: str) -> bytes:
    """net-snmp's engine ID for `engineID TEXT`: enterprise 8072, format 4 (text)."""
    return bytes.fromhex("80001f8804") + text.encode()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Snmpd]:
    server = start_snmpd(tmp_path / "snmpd", address=ADDR, extra_conf="engineID bwengine1")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def service(agent: Snmpd, tmp_path: Path) -> AsyncIterator[Service]:
    data = {"schema_version": 1,
            "credentials": {"v3": {"version": "3", "user": USER, "auth_protocol": "SHA",
                                   "auth_key_env": "BW_TE_AUTH", "priv_protocol": "AES",
                                   "priv_key_env": "BW_TE_PRIV"}},
            "defaults": {"interval": 60, "timeout": 0.5, "retries": 1},
            "sites": [{"id": "post", "name": "Đồn", "kind": "core", "devices": [
                {"id": "sw", "address": ADDR, "port": agent.port, "credential": "v3",
                 "interfaces": ["lo"], "icmp": False}]}],
            "traps": {"listen": f"127.0.0.1:{free_udp_port()}"}}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    svc = await start_service(load_inventory(path, env=ENV), "127.0.0.1:0",
                              local_address="127.0.0.1", base_dir=tmp_path, history=None)
    try:
        svc.scheduler.poll_now("sw")  # its first tick may be up to an interval away
        await wait_until(lambda: all(s.up for s in svc.state.device_snapshots()), 30,
                         "the device polled")
        yield svc
    finally:
        await svc.close()


async def test_a_foreign_engine_id_is_not_acted_on_and_a_new_one_is_relearned(
        service: Service, agent: Snmpd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "borderwatch.collector.traps")
    svc = service
    dest = "{}:{}".format(*svc.traps.address)
    session = svc.devices["sw"].session
    snap = svc.state.device("sw")
    st = svc.scheduler.stats["sw"]
    results = svc.traps.stats.results
    assert session.engine_id == engine_id("bwengine1")

    async def trap(engine: bytes | str) -> None:
        hexid = engine if isinstance(engine, str) else "0x" + engine.hex()
        res = await asyncio.to_thread(send, SENDER, dest, "linkDown", "3", "trap", hexid)
        assert res.returncode == 0, res.stderr

    # the device's own engine ID: accepted and acted on
    await trap(engine_id("bwengine1"))
    await wait_until(lambda: snap.traps == 1, 10, "the trap applied")
    # another engine ID (right user and keys): counted, logged once, not acted on, re-polled
    asked = st.extra_polls + st.extra_skipped  # a poll asked for (started, or within the gap)
    for n in (1, 2):
        await trap(FOREIGN)
        await wait_until(lambda n=n: results["engine_id_mismatch"] == n, 10, "a mismatch")
    assert snap.traps == 1 and results["accepted"] == 1
    assert st.extra_polls + st.extra_skipped >= asked + 2
    logged = [r.getMessage() for r in caplog.records if "engine ID" in r.getMessage()]
    assert len(logged) == 1 and FOREIGN[2:] in logged[0], logged
    # the device is re-imaged: a new engine ID. Its first trap is a mismatch (polling still
    # knows the old one) whose poll rediscovers the engine; from then on its traps count.
    agent.extra_conf = "engineID bwengine2"
    await asyncio.to_thread(agent.restart, True)
    # extra polls are at least EXTRA_POLL_GAP apart: let the mismatch's poll start
    await wait_until(lambda: st.last_extra is None or
                     svc.scheduler.clock.monotonic() - st.last_extra > EXTRA_POLL_GAP,
                     2 * EXTRA_POLL_GAP,
                     "the extra-poll gap to pass")
    await trap(engine_id("bwengine2"))
    # A mismatch, unless a poll already ran after the restart (a scheduled one, or one in
    # flight across it, on a slow machine) and rediscovered the engine: then it counts.
    await wait_until(lambda: results["engine_id_mismatch"] == 3 or snap.traps == 2, 10,
                     "the new engine's trap counted as a mismatch, or applied")
    await wait_until(lambda: session.engine_id == engine_id("bwengine2"), 20,
                     "the engine rediscovered by the poll the mismatch asked for")
    if snap.traps < 2:
        await trap(engine_id("bwengine2"))
    await wait_until(lambda: snap.traps == 2, 10, "the new engine's trap applied")
    assert results["engine_id_mismatch"] <= 3 and results["accepted"] == 2
    assert results["bad_credentials"] == 0
