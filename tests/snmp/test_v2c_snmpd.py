"""V2cSession against a real net-snmp snmpd: gets, walks equal to snmpbulkwalk, A14, A20."""

from __future__ import annotations

import asyncio
import logging

import pytest
from netsnmp_cli import assert_same_walk, bulkwalk
from servers import SNMPD_SYSNAME, Snmpd, snmpget

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import SnmpTimeout, Tag, VarBind, parse_oid

SYS_UPTIME = parse_oid("1.3.6.1.2.1.1.3.0")
SYS_NAME = parse_oid("1.3.6.1.2.1.1.5.0")
SYSTEM = parse_oid("1.3.6.1.2.1.1")
IF_TABLE = parse_oid("1.3.6.1.2.1.2.2")
IF_X_TABLE = parse_oid("1.3.6.1.2.1.31.1.1")
CANARY = "cnry-COMM-7f3a9c"

pytest_plugins = ("snmp_fixtures",)  # transport, evil_agent


def settings(snmpd: Snmpd, **kw: object) -> SessionSettings:
    options: dict[str, object] = {"community": Secret("public"), "timeout": 1.0, "retries": 1}
    options.update(kw)
    return SessionSettings(snmpd.address, snmpd.port, **options)  # type: ignore[arg-type]


def deadline(seconds: float = 20.0) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_get_sysuptime_and_sysname(snmpd: Snmpd, transport: SnmpTransport) -> None:
    session = open_session(settings(snmpd), transport)
    up, name = await session.get([SYS_UPTIME, SYS_NAME], deadline=deadline())
    assert name == VarBind(SYS_NAME, Tag.OCTET_STRING, SNMPD_SYSNAME.encode())
    assert up.oid == SYS_UPTIME and up.tag == Tag.TIMETICKS
    res = snmpget(snmpd.address, snmpd.port, ["1.3.6.1.2.1.1.3.0"], extra=["-Ot"])
    theirs = int(res.stdout.rsplit("=", 1)[1].strip())
    assert up.value <= theirs  # read before snmpget's
    missing = await session.get([parse_oid("1.3.6.1.2.1.1.5.1"), parse_oid("1.3.6.1.2.1.99.1.0")],
                                deadline=deadline())
    assert [vb.tag for vb in missing] == [Tag.NO_SUCH_INSTANCE, Tag.NO_SUCH_OBJECT]
    assert session.requests_sent == 2


@pytest.mark.parametrize("max_repetitions", [1, 7, 25, 200])
async def test_walks_equal_snmpbulkwalk(snmpd: Snmpd, transport: SnmpTransport,
                                        max_repetitions: int) -> None:
    session = open_session(settings(snmpd, max_repetitions=max_repetitions), transport)
    for root in (IF_TABLE, IF_X_TABLE):
        text = ".".join(map(str, root))
        before = bulkwalk(snmpd.address, snmpd.port, text)
        result = await session.walk(root, deadline=deadline())
        after = bulkwalk(snmpd.address, snmpd.port, text)
        assert result.complete and result.problem is None
        assert len(result.varbinds) > 20
        assert_same_walk(result.varbinds, before, after)
    assert transport.stats.retries == 0 and transport.stats.malformed == 0


async def test_v1_getnext_walk_matches_v2c_bulk_walk(snmpd: Snmpd,
                                                     transport: SnmpTransport) -> None:
    v1 = open_session(settings(snmpd, version="1"), transport)
    v2 = open_session(settings(snmpd), transport)
    one = await v1.walk(IF_TABLE, deadline=deadline())
    two = await v2.walk(IF_TABLE, deadline=deadline())
    assert one.complete and [vb.oid for vb in one.varbinds] == [vb.oid for vb in two.varbinds]
    assert v1.requests_sent == len(one.varbinds) + 1  # GETNEXT: one row per request
    got = await v1.get([SYS_NAME, parse_oid("1.3.6.1.2.1.1.5.7")], deadline=deadline())
    assert got == [VarBind(SYS_NAME, Tag.OCTET_STRING, SNMPD_SYSNAME.encode()),
                   VarBind(parse_oid("1.3.6.1.2.1.1.5.7"), Tag.NO_SUCH_INSTANCE, None)]


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_a14_walk_to_the_end_of_a_restricted_view_ends_cleanly(
        snmpd: Snmpd, transport: SnmpTransport, version: str) -> None:
    session = open_session(settings(snmpd, community=Secret("sysonly"), version=version,
                                    max_repetitions=5), transport)
    result = await session.walk(parse_oid("1.3.6.1.2.1"), deadline=deadline())
    assert result.complete and result.problem is None
    assert result.varbinds and all(vb.oid[:7] == SYSTEM for vb in result.varbinds)
    again = await session.walk(SYSTEM, deadline=deadline())
    assert [vb.oid for vb in result.varbinds] == [vb.oid for vb in again.varbinds]
    # The view ends inside the walked subtree, so the last answer was endOfMibView/noSuchName.
    assert session.requests_sent < 2 * (len(result.varbinds) + 2)


async def test_a20_wrong_community_times_out_without_echoing_it(
        snmpd: Snmpd, transport: SnmpTransport, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = open_session(settings(snmpd, community=Secret(CANARY), timeout=0.3), transport)
    with pytest.raises(SnmpTimeout) as info:
        await session.walk(IF_X_TABLE, deadline=deadline())
    text = str(info.value)
    assert text.startswith(f"walk of 1.3.6.1.2.1.31.1.1 on 127.0.0.1:{snmpd.port} timed out after")
    assert text.endswith("s (check community/ACL/reachability)")
    everything = text + repr(info.value) + caplog.text + repr(session.settings)
    for form in (CANARY, CANARY.encode().hex(), CANARY.encode().hex().upper()):
        assert form not in everything
    # Other devices are unaffected: the right community still answers on the same transport.
    good = open_session(settings(snmpd), transport)
    assert (await good.get([SYS_NAME], deadline=deadline()))[0].value == SNMPD_SYSNAME.encode()
