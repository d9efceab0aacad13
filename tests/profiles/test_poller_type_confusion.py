"""A12 through the whole poller: wrong types on the wire cost one varbind each.

The evil agent (T1, the sanctioned fake for values a real agent cannot be made to send)
serves a small IF-MIB with correct GET/GETBULK semantics but crafted values.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fakes.evil_agent import EvilAgent, Table, correct

from borderwatch.collector.poller import Poller
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.types import OID, Tag, VarBind
from borderwatch.collector.snmp.v2c import V2cSession
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec

SYS = (1, 3, 6, 1, 2, 1, 1)
IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)


def raw(oid: OID, tag: int, content: bytes) -> tuple[OID, bytes]:
    """A pre-encoded varbind whose value no valid encoder would produce."""
    return oid, ber.tlv(0x30, ber.tlv(6, ber.encode_oid(oid)) + bytes([tag, len(content)])
                        + content)


def crafted_table() -> Table:
    rows: list = [
        VarBind((*SYS, 1, 0), Tag.OCTET_STRING, b"evil box"),
        VarBind((*SYS, 2, 0), Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 32473, 9)),
        VarBind((*SYS, 3, 0), Tag.TIMETICKS, 123456),
        VarBind((*SYS, 5, 0), Tag.INTEGER, 7),  # sysName as an INTEGER
        VarBind((1, 3, 6, 1, 2, 1, 2, 1, 0), Tag.INTEGER, 3),
    ]
    for i in (1, 2, 3):
        rows += [VarBind((*IF, 2, i), Tag.OCTET_STRING, f"eth{i}".encode()),
                 VarBind((*IF, 8, i), Tag.INTEGER, 1),
                 VarBind((*IF, 16, i), Tag.COUNTER32, 500 * i),
                 VarBind((*IFX, 1, i), Tag.OCTET_STRING, f"eth{i}".encode()),
                 VarBind((*IFX, 10, i), Tag.COUNTER64, 2**40 + i)]
    rows += [
        raw((*IFX, 6, 1), 0x46, b"\x01" + b"\x00" * 8),  # Counter64 in 9 bytes
        VarBind((*IF, 10, 1), Tag.COUNTER32, 1001),
        VarBind((*IFX, 6, 2), Tag.OCTET_STRING, b"12345"),  # ifHCInOctets as a string
        VarBind((*IF, 10, 2), Tag.COUNTER32, 1002),
        VarBind((*IFX, 6, 3), Tag.COUNTER64, 2**50),
        raw((*IF, 10, 3), 0x41, b"\x01\x00\x00\x00\x00"),  # never read: HC.3 is fine
        raw((*IF, 14, 3), 0x41, b"\x01\x00\x00\x00\x00"),  # Counter32 in 5 bytes
        VarBind((*IF, 14, 1), Tag.COUNTER32, 4),
        VarBind((*IFX, 15, 1), Tag.OBJECT_IDENTIFIER, (1, 3, 6)),  # an OID for a Gauge
        VarBind((*IF, 5, 1), Tag.GAUGE32, 10_000_000),
    ]
    return Table(rows)


@pytest.fixture
async def agent() -> AsyncIterator[EvilAgent]:
    a = await EvilAgent.start(correct(crafted_table()), host="127.0.0.2")
    try:
        yield a
    finally:
        a.close()



async def test_type_confusion_counted_per_varbind_rest_kept(agent, transport) -> None:
    session = V2cSession(SessionSettings(agent.host, agent.port, community=Secret("x"),
                                         timeout=1.0), transport)
    device = DeviceSpec("evil", "site", profiles=["if-mib"])
    result = await Poller().poll(device, session, asyncio.get_running_loop().time() + 10)
    assert result.ok, result.error
    # sysName, HC.1 (9 bytes), HC.2 (string), ifInErrors.3 (5 bytes), ifHighSpeed.1 (OID)
    assert result.bad_varbinds == 5
    assert any(p.startswith("type confusion: 5 varbind(s) refused") for p in result.problems)
    rx = {dict(s.labels)["ifIndex"]: (s.value, s.counter_bits) for s in result.samples
          if s.metric == "borderwatch_interface_receive_bytes_total"}
    assert rx == {"1": (1001, 32), "2": (1002, 32), "3": (2**50, 64)}
    tx = {dict(s.labels)["ifIndex"]: s.value for s in result.samples
          if s.metric == "borderwatch_interface_transmit_bytes_total"}
    assert tx == {str(i): 2**40 + i for i in (1, 2, 3)}
    errors = {dict(s.labels)["ifIndex"]: s.value for s in result.samples
              if s.metric == "borderwatch_interface_receive_errors_total"}
    assert errors == {"1": 4}
    speed = {dict(s.labels)["ifIndex"]: s.value for s in result.samples
             if s.metric == "borderwatch_interface_speed_bytes"}
    assert speed["1"] == 1_250_000  # ifHighSpeed refused → ifSpeed / 8
    info = next(s for s in result.samples if s.metric == "borderwatch_device_info")
    assert dict(info.labels)["sysName"] == "" and dict(info.labels)["sysDescr"] == "evil box"
    assert result.problem_kinds == {"refused": 5}
    state = NetworkState([device], [])
    # the device answers (up), but its data is incomplete: one event, said once
    events = state.apply(result)
    assert [(e.kind.value, e.message.split(":")[0]) for e in events] == [
        ("data_incomplete", "data incomplete (refused)")]
    assert state.device("evil").up is True and state.device("evil").partial is True
    assert state.apply(result) == []
