"""Sessions against real snmpsim serving snmpsim-data dumps: walks equal the dump files,
clean ends at the end of data (snmpsim repeats the last OID there), missing objects (A13)."""

from __future__ import annotations

import asyncio
import bz2
from pathlib import Path

import pytest
from servers import SNMPSIM_V3_USER, Snmpsim, dump_path

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import OID, Tag, VarBind, parse_oid

C3560 = "network/switch/cisco-c3560"
UBNT = "network/wifi/ubiquiti-m5"
EATON = "UPS/eaton-93e-80"

pytest_plugins = ("snmp_fixtures",)  # transport, evil_agent


def read_dump(name: str) -> list[VarBind]:
    """The varbinds of a .snmprec(.bz2) dump, as a correct agent serves them.

    A record with a variation module (`66:numeric|...`) changes over time: its value is
    None here and only its OID and type are compared.
    """
    path: Path = dump_path(name)
    raw = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
    rows = []
    for line in raw.decode("latin-1").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        oid_text, tag_text, value = line.split("|", 2)
        tag_text, _, variation = tag_text.partition(":")
        hexed = tag_text.endswith("x")
        tag = int(tag_text.rstrip("x"))
        if variation:
            plain: object = None
        elif tag in (Tag.OCTET_STRING, Tag.IP_ADDRESS, Tag.OPAQUE):
            plain = bytes.fromhex(value) if hexed else value.encode("latin-1")
        elif tag == Tag.OBJECT_IDENTIFIER:
            plain = parse_oid(value)
        else:
            plain = int(value)
        rows.append(VarBind(parse_oid(oid_text), tag, plain))
    return sorted(rows)


def subtree(rows: list[VarBind], root: OID) -> list[VarBind]:
    return [vb for vb in rows if vb.oid[:len(root)] == root and len(vb.oid) > len(root)]


def assert_matches_dump(got: list[VarBind], expected: list[VarBind]) -> None:
    """Same OIDs, types and (for static records) values as the dump file."""
    assert [(vb.oid, vb.tag) for vb in got] == [(vb.oid, vb.tag) for vb in expected]
    for mine, record in zip(got, expected, strict=True):
        if record.value is not None:
            assert mine.value == record.value, (mine, record)


def session_for(sim: Snmpsim, transport: SnmpTransport, community: str, **kw: object):
    settings = SessionSettings(sim.address, sim.port, community=Secret(community),
                               timeout=3.0, retries=1, **kw)  # type: ignore[arg-type]
    return open_session(settings, transport)


def deadline(seconds: float = 60.0) -> float:
    return asyncio.get_running_loop().time() + seconds


@pytest.mark.parametrize(("dump", "root"), [
    (C3560, "1.3.6.1.2.1.31.1.1"),  # ifXTable, 64-bit counters
    (C3560, "1.3.6.1.2.1.2.2"),  # ifTable
    (UBNT, "1.3.6.1.4.1.41112.1.4"),  # airMAX, the last subtree of the dump
    (EATON, "1.3.6.1.2.1.33.1.2"),  # UPS-MIB battery group
])
async def test_walk_equals_the_dump(snmpsim_dumps: Snmpsim, transport: SnmpTransport,
                                    dump: str, root: str) -> None:
    session = session_for(snmpsim_dumps, transport, dump, max_repetitions=40)
    result = await session.walk(parse_oid(root), deadline=deadline())
    assert result.complete and result.problem is None
    expected = subtree(read_dump(dump), parse_oid(root))
    assert len(expected) >= 7
    assert_matches_dump(result.varbinds, expected)


async def test_walk_off_the_end_of_data_stops_cleanly(snmpsim_dumps: Snmpsim,
                                                      transport: SnmpTransport) -> None:
    # snmpsim answers past its last OID by repeating that OID (as endOfMibView): the walk
    # must end complete, without "OID not increasing" and without looping.
    rows = read_dump(UBNT)
    last_column = rows[-1].oid[:-6]  # 1.3.6.1.4.1.41112.1.4.7.1.12 + a 6-part index
    for version in ("2c", "1"):
        session = session_for(snmpsim_dumps, transport, UBNT, version=version)
        result = await session.walk(last_column, deadline=deadline())
        assert result.complete and result.problem is None
        assert_matches_dump(result.varbinds, subtree(rows, last_column))
        assert session.requests_sent <= 3


async def test_a13_missing_objects_come_back_as_exceptions(snmpsim_dumps: Snmpsim,
                                                           transport: SnmpTransport) -> None:
    session = session_for(snmpsim_dumps, transport, C3560)
    ups = [parse_oid("1.3.6.1.2.1.33.1.2.1.0"), parse_oid("1.3.6.1.2.1.33.1.2.4.0")]
    up = parse_oid("1.3.6.1.2.1.1.3.0")
    got = await session.get([up, *ups], deadline=deadline())
    assert got[0].tag == Tag.TIMETICKS
    assert [vb.tag for vb in got[1:]] == [Tag.NO_SUCH_INSTANCE, Tag.NO_SUCH_INSTANCE]
    empty = await session.walk(parse_oid("1.3.6.1.2.1.33"), deadline=deadline())
    assert empty.complete and empty.varbinds == []


async def test_many_dumps_share_one_transport(snmpsim_dumps: Snmpsim,
                                              transport: SnmpTransport) -> None:
    sys_object_id = parse_oid("1.3.6.1.2.1.1.2.0")
    dumps = (C3560, UBNT, EATON)
    sessions = [session_for(snmpsim_dumps, transport, d) for d in dumps]
    got = await asyncio.gather(*(s.get([sys_object_id], deadline=deadline()) for s in sessions))
    for dump, (vb,) in zip(dumps, got, strict=True):
        assert_matches_dump([vb], [r for r in read_dump(dump) if r.oid == sys_object_id])


async def test_v3_context_selects_the_dump(snmpsim_dumps: Snmpsim,
                                           transport: SnmpTransport) -> None:
    user = SNMPSIM_V3_USER
    settings = SessionSettings(
        snmpsim_dumps.address, snmpsim_dumps.port, "3", user=user["user"],
        auth_protocol=user["auth_proto"], auth_key=Secret(user["auth_key"]),
        priv_protocol=user["priv_proto"], priv_key=Secret(user["priv_key"]), context=UBNT,
        timeout=3.0, retries=1)
    session = open_session(settings, transport)
    try:
        root = parse_oid("1.3.6.1.4.1.41112.1.4.5")
        result = await session.walk(root, deadline=deadline())
        assert result.complete
        assert_matches_dump(result.varbinds, subtree(read_dump(UBNT), root))
    finally:
        await session.close()
