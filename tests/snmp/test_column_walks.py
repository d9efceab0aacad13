"""Multi-column walks (several table columns per GETBULK) against per-column walks.

Differential: `walk_columns()` must return exactly what `walk()` of each column returns,
against real agents (snmpsim serving recorded dumps with 52-59 interfaces, columns that
end at different rows and sparse columns; net-snmp snmpd, including the end of a view)
and against the evil agent's faults (short, misordered and tooBig answers, error-status,
loops, endless columns, endOfMibView, SNMPv1, silence). And it must send fewer requests.
"""

from __future__ import annotations

import asyncio

import pytest
from fakes.evil_agent import EvilAgent, Reply, Table, answer, correct, serve
from servers import SNMPD_SYSONLY_COMMUNITY, Snmpd, Snmpsim
from test_snmpsim_walks import read_dump

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import OID, SnmpError, SnmpTimeout, Tag, VarBind, WalkResult
from borderwatch.collector.snmp.v2c import V2cSession

pytest_plugins = ("snmp_fixtures",)  # transport, evil_agent

IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_COLUMNS = [(*IF_ENTRY, c) for c in range(1, 23)] + [(*IF_X_ENTRY, c) for c in range(1, 20)]
SYS_OR_COLUMNS = [(1, 3, 6, 1, 2, 1, 1, 9, 1, c) for c in (2, 3, 4)]
COMMUNITY = "walk-c0lumns-51e2"


def deadline(seconds: float = 60.0) -> float:
    return asyncio.get_running_loop().time() + seconds


def v2c(address: str, port: int, transport: SnmpTransport, community: str,
        **kw: object) -> V2cSession:
    # Generous: snmpsim is slow on a loaded machine, and a timeout would fail the compare.
    options: dict[str, object] = {"community": Secret(community), "timeout": 5.0,
                                  "retries": 2}
    options.update(kw)
    return V2cSession(SessionSettings(address, port, **options),  # type: ignore[arg-type]
                      transport)


async def per_column(session: V2cSession, roots: list[OID], **kw: object) -> list:
    """What walk() gives for each root: its WalkResult, or the error it raised."""
    out: list[WalkResult | SnmpError] = []
    for root in roots:
        try:
            out.append(await session.walk(root, deadline=deadline(), **kw))  # type: ignore[arg-type]
        except SnmpError as exc:
            out.append(exc)
    return out


async def grouped(session: V2cSession, roots: list[OID], per: int = 4,
                  **kw: object) -> list:
    """walk_columns() over groups of `per` roots, as the poller calls it."""
    out: list[WalkResult | SnmpError] = []
    for i in range(0, len(roots), per):
        out += await session.walk_columns(roots[i:i + per], deadline=deadline(), **kw)  # type: ignore[arg-type]
    return out


def outline(outcomes: list, static: set[OID] | None = None) -> list:
    """Comparable form: OIDs, tags, values (for OIDs in `static`, or all when None),
    complete flag and problem; an error by type."""
    shape = []
    for o in outcomes:
        if isinstance(o, SnmpError):
            shape.append(type(o).__name__)
            continue
        shape.append((o.root, o.complete, o.problem,
                      [(vb.oid, vb.tag, vb.value if static is None or vb.oid in static else None)
                       for vb in o.varbinds]))
    return shape


# ----------------------------------------------------------------------------- real agents


@pytest.mark.parametrize(("dump", "reps", "columns"), [
    ("network/switch/cisco-c3560", 25, IF_COLUMNS),  # 52-57 rows: ends at different rows
    ("network/switch/cisco-c3560", 7, IF_COLUMNS[::3]),  # many pages; ends fall mid-page
    ("network/router/cisco-unmarked-0", 25, IF_COLUMNS),  # sparse: columns of 1 and 28 rows
    ("network/router/vyatta-unknown", 10, IF_COLUMNS[::2]),  # 23 and 24 rows
    ("cloud/arista-dcs-7150s-52-cl", 25, IF_COLUMNS[::3]),  # 59 interfaces
])
async def test_snmpsim_dumps_same_as_per_column(snmpsim_dumps: Snmpsim,
                                                transport: SnmpTransport, dump: str,
                                                reps: int, columns: list[OID]) -> None:
    static = {vb.oid for vb in read_dump(dump) if vb.value is not None}
    address, port = snmpsim_dumps.endpoint
    plain = v2c(address, port, transport, dump, max_repetitions=reps)
    expected = outline(await per_column(plain, columns), static)
    assert sum(len(r[3]) for r in expected) > 150  # a real table, not an empty walk
    joint = v2c(address, port, transport, dump, max_repetitions=reps)
    joint.varbind_budget = 4 * reps  # the size a quick agent reaches (snmpsim is slow)
    assert outline(await grouped(joint, columns), static) == expected
    assert joint.requests_sent < plain.requests_sent
    # The second walk sizes its first request by the rows the first one found.
    assert outline(await grouped(joint, columns), static) == expected


async def test_snmpsim_v1_getnext_of_several_columns(snmpsim_dumps: Snmpsim,
                                                     transport: SnmpTransport) -> None:
    dump = "network/wifi/ubiquiti-m5"
    rows = read_dump(dump)
    static = {vb.oid for vb in rows if vb.value is not None}
    last_columns = [(1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, c) for c in range(9, 13)]
    assert rows[-1].oid[:12] == last_columns[-1]  # the end of the data
    roots = IF_COLUMNS[:9] + last_columns
    address, port = snmpsim_dumps.endpoint
    plain = v2c(address, port, transport, dump, version="1")
    expected = outline(await per_column(plain, roots), static)
    joint = v2c(address, port, transport, dump, version="1")
    assert outline(await grouped(joint, roots), static) == expected
    assert joint.requests_sent < plain.requests_sent


async def test_snmpd_tables_same_as_per_column(snmpd: Snmpd, transport: SnmpTransport) -> None:
    # Counters move between two walks of a live agent: values are compared where static.
    hr_storage = [(1, 3, 6, 1, 2, 1, 25, 2, 3, 1, c) for c in range(1, 8)]
    roots = IF_COLUMNS + SYS_OR_COLUMNS + hr_storage
    plain = v2c(snmpd.address, snmpd.port, transport, "public", max_repetitions=5)
    expected = outline(await per_column(plain, roots))
    joint = v2c(snmpd.address, snmpd.port, transport, "public", max_repetitions=5)
    got = outline(await grouped(joint, roots))

    def stable(shape: list) -> list:
        return [(root, complete, problem,
                 [(oid, tag, value if tag in (Tag.OCTET_STRING, Tag.OBJECT_IDENTIFIER)
                   else None) for oid, tag, value in vbs])
                for root, complete, problem, vbs in shape]

    assert stable(got) == stable(expected)
    assert sum(len(r[3]) for r in expected) > 50
    assert joint.requests_sent < plain.requests_sent


async def test_snmpd_end_of_view(snmpd: Snmpd, transport: SnmpTransport) -> None:
    # The sysonly community sees only the system group: sysORUpTime is the last column
    # of the view, so its repeater meets endOfMibView while the others are still going.
    roots = [*SYS_OR_COLUMNS, (1, 3, 6, 1, 2, 1, 1, 9, 1, 1)]
    for version in ("2c", "1"):
        plain = v2c(snmpd.address, snmpd.port, transport, SNMPD_SYSONLY_COMMUNITY,
                    version=version, max_repetitions=3)
        joint = v2c(snmpd.address, snmpd.port, transport, SNMPD_SYSONLY_COMMUNITY,
                    version=version, max_repetitions=3)
        expected = outline(await per_column(plain, roots))
        assert outline(await joint.walk_columns(roots, deadline=deadline())) == expected
        assert all(r[1] and len(r[3]) >= 5 for r in expected[:3])
        assert joint.walks_columns


# ----------------------------------------------------------------------------- evil agent

A = (1, 3, 6, 1, 4, 1, 99, 1, 1)  # a table entry of the evil agent


def sparse_table() -> Table:
    """Four columns: 30 rows, 30 with holes, 3 rows, empty; plus objects after them."""
    rows = [VarBind((*A, 1, i), Tag.INTEGER, i) for i in range(1, 31)]
    rows += [VarBind((*A, 2, i), Tag.OCTET_STRING, f"p{i}".encode())
             for i in range(1, 46) if i % 3]
    rows += [VarBind((*A, 3, i), Tag.COUNTER64, 2**40 + i) for i in (2, 17, 29)]
    rows += [VarBind((*A, 5, i), Tag.GAUGE32, i) for i in range(1, 4)]
    rows += [VarBind((1, 3, 6, 1, 4, 1, 99, 2, 0), Tag.OCTET_STRING, b"after")]
    return Table(rows)


SPARSE = sparse_table()
ROOTS = [(*A, c) for c in (1, 2, 3, 4)]  # column 4 has no rows at all


def evil_session(agent: EvilAgent, transport: SnmpTransport, **kw: object) -> V2cSession:
    options: dict[str, object] = {"timeout": 0.5, "retries": 1, "max_repetitions": 10}
    options.update(kw)
    return v2c(agent.host, agent.port, transport, COMMUNITY, **options)


async def differential(evil_agent, transport: SnmpTransport, scenario, *,  # type: ignore[no-untyped-def]
                       roots: list[OID] = ROOTS, walk_kw: dict | None = None,
                       **kw: object) -> tuple[V2cSession, list]:
    """Per-column and joint walks through the same scenario; asserts they agree."""
    walk_kw = walk_kw or {}
    plain_agent = await evil_agent(scenario)
    expected = outline(await per_column(evil_session(plain_agent, transport, **kw), roots,
                                        **walk_kw))
    agent = await evil_agent(scenario)
    joint = evil_session(agent, transport, **kw)
    got = outline(await joint.walk_columns(roots, deadline=deadline(), **walk_kw))
    assert got == expected
    return joint, expected


async def test_holes_and_ends_at_different_rows(evil_agent, transport) -> None:
    joint, expected = await differential(evil_agent, transport, correct(SPARSE))
    assert [len(r[3]) for r in expected] == [30, 30, 3, 0]
    assert all(r[1] for r in expected)
    assert joint.requests_sent < 4 + 5 + 1 + 1  # per column: 4, 5, 1 and 1 requests


async def test_second_walk_asks_for_the_rows_found_last_time(evil_agent, transport) -> None:
    agent = await evil_agent(correct(SPARSE))
    joint = evil_session(agent, transport, max_repetitions=25)
    roots = [(*A, 3), (*A, 5)]  # 3 rows each
    first = await joint.walk_columns(roots, deadline=deadline())
    again = await joint.walk_columns(roots, deadline=deadline())
    assert outline(again) == outline(first) and [len(r[3]) for r in outline(first)] == [3, 3]
    # The first request of a session asks for max-repetitions 25 varbinds in all (12
    # rows of 2 columns); the second walk for the 3 rows found + 1 to see the end.
    assert [r.error_index for r in agent.requests] == [12, 4]


async def test_a_short_table_goes_in_one_request(evil_agent, transport) -> None:
    # 12 columns of 3 rows: once the walks know that, one request holds them all (12 x 4
    # = 48 varbinds, within the budget) instead of one per 4 columns.
    short = Table([VarBind((*A, c, i), Tag.GAUGE32, c * 100 + i)
                   for c in range(1, 13) for i in range(1, 4)]
                  + [VarBind((1, 3, 6, 1, 4, 1, 99, 2, 0), Tag.OCTET_STRING, b"after")])
    roots = [(*A, c) for c in range(1, 13)]
    plain_agent = await evil_agent(correct(short))
    expected = outline(await per_column(evil_session(plain_agent, transport), roots))
    agent = await evil_agent(correct(short))
    joint = evil_session(agent, transport, max_repetitions=25)
    assert joint.columns_per_walk(roots) == joint.columns_per_request  # nothing known yet
    first = await grouped(joint, roots, per=joint.columns_per_request)
    assert outline(first) == expected
    assert joint.columns_per_walk(roots) == len(roots)
    sent = joint.requests_sent
    assert outline(await joint.walk_columns(roots, deadline=deadline())) == expected
    assert joint.requests_sent == sent + 1
    assert agent.requests[-1].error_index == 4  # max-repetitions: 3 rows + 1 to see the end
    # A long table keeps the few-columns walks, which a poller runs side by side.
    long_agent = await evil_agent(correct(SPARSE))
    long = evil_session(long_agent, transport, max_repetitions=25)
    await grouped(long, ROOTS)
    assert long.columns_per_walk(ROOTS) == long.columns_per_request


async def test_end_of_mib_view(evil_agent, transport) -> None:
    # Columns at the end of the agent's MIB: repeaters run into endOfMibView.
    table = Table([vb for vb in SPARSE.rows if vb.oid[:len(A)] == A])
    joint, expected = await differential(evil_agent, transport, correct(table),
                                         roots=[(*A, 3), (*A, 5), (*A, 6)])
    assert [len(r[3]) for r in expected] == [3, 3, 0]
    assert joint.walks_columns


async def test_short_answers_that_hold_whole_rows_continue(evil_agent, transport) -> None:
    def scenario(agent, request):  # at most 6 varbinds: one row, and half of the next
        return [Reply(answer(request, serve(SPARSE, request)[:6]))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert joint.walks_columns


async def test_answers_shorter_than_a_row_fall_back_and_stick(evil_agent, transport) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, serve(SPARSE, request)[:2]))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert not joint.walks_columns  # per-column walks worked: the agent can't do more


async def test_column_major_answers_are_caught(evil_agent, transport) -> None:
    def scenario(agent, request):  # an agent that ignores RFC 3416's row-major order
        rows = serve(SPARSE, request)
        n = len(request.varbinds)
        if request.pdu_type == ber.GET_BULK_REQUEST and n > 1:
            rows = [row for c in range(n) for row in rows[c::n]]
        return [Reply(answer(request, rows))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert not joint.walks_columns


@pytest.mark.parametrize("status", [5, 2])  # genErr, noSuchName to several repeaters
async def test_error_status_to_several_repeaters(status, evil_agent, transport) -> None:
    def scenario(agent, request):
        if len(request.varbinds) > 1:
            return [Reply(answer(request, request.varbinds, error_status=status,
                                 error_index=2))]
        return [Reply(answer(request, serve(SPARSE, request)))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert not joint.walks_columns


async def test_error_status_for_every_request_is_reported_per_column(evil_agent,
                                                                     transport) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, request.varbinds, error_status=5, error_index=1))]

    joint, expected = await differential(evil_agent, transport, scenario)
    assert expected == ["SnmpErrorStatus"] * 4
    assert joint.walks_columns  # per-column walks failed too: nothing joint about it


async def test_toobig_halves_repetitions(evil_agent, transport) -> None:
    def scenario(agent, request):
        if request.pdu_type == ber.GET_BULK_REQUEST and \
                len(request.varbinds) * request.error_index > 12:
            return [Reply(answer(request, [], error_status=1))]
        return [Reply(answer(request, serve(SPARSE, request)))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert joint.max_repetitions < 10 and joint.walks_columns


async def test_toobig_for_one_row_of_several_columns(evil_agent, transport) -> None:
    def scenario(agent, request):
        if len(request.varbinds) > 1:
            return [Reply(answer(request, [], error_status=1))]
        return [Reply(answer(request, serve(SPARSE, request)))]

    joint, _ = await differential(evil_agent, transport, scenario)
    assert not joint.walks_columns
    assert joint.max_repetitions == 10  # restored, as walk() does


class LoopingTable(Table):
    """A MIB whose GETNEXT of A.2.11 answers A.2.11 again (a stuck agent)."""

    def next(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        if oid == (*A, 2, 11):
            return VarBind(oid, Tag.OCTET_STRING, b"again")
        return super().next(oid)


async def test_loop_in_one_column(evil_agent, transport) -> None:
    joint, expected = await differential(evil_agent, transport,
                                         correct(LoopingTable(SPARSE.rows)))
    assert expected[1][1:3] == (False, "OID not increasing")
    assert [r[1] for r in expected] == [True, False, True, True]
    assert joint.walks_columns  # walk() saw the loop too


class EndlessTable(Table):
    """A MIB whose column A.4 never ends: GETNEXT of A.4.n answers A.4.n+1."""

    def next(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        column = (*A, 4)
        if oid == column or oid[:len(column)] == column:
            n = oid[-1] + 1 if len(oid) > len(column) else 1
            return VarBind((*column, n), Tag.INTEGER, n)
        return super().next(oid)


async def test_max_rows_and_an_endless_column(evil_agent, transport) -> None:
    _, expected = await differential(evil_agent, transport,
                                     correct(EndlessTable(SPARSE.rows)),
                                     walk_kw={"max_rows": 25})
    cut = "row bound reached after 25 rows"
    assert [(r[1], r[2], len(r[3])) for r in expected] == [
        (False, cut, 25), (False, cut, 25), (True, None, 3), (False, cut, 25)]


async def test_v1_getnext_of_several_columns(evil_agent, transport) -> None:
    table = Table([vb for vb in SPARSE.rows if vb.oid[:len(A)] == A])  # ends the MIB

    def v1_agent(agent, request):
        rows = serve(table, request)
        for i, row in enumerate(rows, 1):
            if isinstance(row, VarBind) and row.tag == Tag.END_OF_MIB_VIEW:
                return [Reply(answer(request, request.varbinds, error_status=2,
                                     error_index=i))]
        return [Reply(answer(request, rows))]

    roots = [*ROOTS, (*A, 5)]
    joint, expected = await differential(evil_agent, transport, v1_agent, roots=roots,
                                         version="1")
    assert [len(r[3]) for r in expected] == [30, 30, 3, 0, 3]
    assert joint.walks_columns
    assert joint.requests_sent < 30 + 30 + 3 + 3


async def test_silence_times_out_every_column(evil_agent, transport) -> None:
    agent = await evil_agent(lambda agent, request: [])
    joint = evil_session(agent, transport, timeout=0.2, retries=0)
    outcomes = await joint.walk_columns(ROOTS, deadline=deadline())
    assert all(isinstance(o, SnmpTimeout) for o in outcomes)
    assert "walk of 1.3.6.1.4.1.99.1.1.1 (+3 more columns)" in str(outcomes[0])
    assert len(agent.requests) == 1
