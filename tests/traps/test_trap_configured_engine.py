"""A device's configured `engine_id` (inventory) checks its SNMPv3 traps before any poll
discovered its engine (a trap sender whose engine ID is known up front). The device here
has no agent, so polling never discovers one: net-snmp's snmptrap with the device's user
and keys is accepted from the configured engine and counted as `engine_id_mismatch` from
another, which is not acted on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from runtime_helpers import wait_until
from servers import free_udp_port
from trap_cli import Sender, send

from borderwatch.collector.inventory import InventoryError, load_inventory
from borderwatch.service import Service, start_service

ADDR = "127.0.13.14"
ENV = {"BW_TC_AUTH": "tc-auth-key-1", "BW_TC_PRIV": "tc-priv-key-1"}
SENDER = Sender(ADDR, user="tcuser", auth=("SHA", ENV["BW_TC_AUTH"]),
                priv=("AES", ENV["BW_TC_PRIV"]))
CONFIGURED = "80001f8804746373656e646572"  # net-snmp format 4, "tcsender"
FOREIGN = "0x80001f8880aabbccdd01"


def _data(engine: object) -> dict[str, object]:
    return {"schema_version": 1,
            "credentials": {"v3": {"version": "3", "user": "tcuser", "auth_protocol": "SHA",
                                   "auth_key_env": "BW_TC_AUTH", "priv_protocol": "AES",
                                   "priv_key_env": "BW_TC_PRIV"}},
            "defaults": {"interval": 60, "timeout": 0.5, "retries": 0},
            "sites": [{"id": "post", "name": "Đồn", "kind": "core", "devices": [
                {"id": "ups", "address": ADDR, "port": free_udp_port(), "credential": "v3",
                 "engine_id": engine, "icmp": False}]}],
            "traps": {"listen": f"127.0.0.1:{free_udp_port()}"}}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(_data(CONFIGURED), allow_unicode=True))
    svc = await start_service(load_inventory(path, env=ENV), "127.0.0.1:0",
                              local_address="127.0.0.1", base_dir=tmp_path, history=None)
    try:
        yield svc
    finally:
        await svc.close()


async def test_the_configured_engine_id_decides_before_a_poll_discovered_one(
        service: Service) -> None:
    dest = "{}:{}".format(*service.traps.address)
    results = service.traps.stats.results
    snap = service.state.device("ups")

    async def trap(hexid: str) -> None:
        res = await asyncio.to_thread(send, SENDER, dest, "linkDown", "3", "trap", hexid)
        assert res.returncode == 0, res.stderr

    await trap(FOREIGN)
    await wait_until(lambda: results["engine_id_mismatch"] == 1, 10, "the foreign trap counted")
    assert snap.traps == 0 and results["accepted"] == 0
    await trap("0x" + CONFIGURED)
    await wait_until(lambda: snap.traps == 1, 10, "the configured engine's trap applied")
    assert getattr(service.devices["ups"].session, "engine_id", None) is None  # never polled
    assert results["bad_credentials"] == 0


def test_an_engine_id_that_is_no_hex_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(_data("not-hex"), allow_unicode=True))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, env=ENV)
    assert (f"{path}:18: sites[post].devices[ups].engine_id: 'not-hex' is not an engine ID: "
            "5 to 32 bytes in hex") in str(caught.value)
