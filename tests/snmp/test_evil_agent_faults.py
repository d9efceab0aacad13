"""Crafted faults from the evil agent (T1): reliability tests A5–A9, A11, A12, A14–A19."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fakes.evil_agent import EvilAgent, Reply, Table, answer, correct, serve
from test_ber_codec import MALFORMED

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import (
    BadValue,
    SnmpDeadline,
    SnmpErrorStatus,
    SnmpMalformed,
    SnmpTimeout,
    Tag,
    VarBind,
)
from borderwatch.collector.snmp.v2c import V2cSession

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_IN_OCTETS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1)
COMMUNITY = "evil-c0mmunity-7f3a"

pytest_plugins = ("snmp_fixtures",)  # transport, evil_agent


def make_table(interfaces: int = 30) -> Table:
    rows = [VarBind(SYS_UPTIME, Tag.TIMETICKS, 4242), VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]
    for i in range(1, interfaces + 1):
        rows.append(VarBind((*IF_DESCR, i), Tag.OCTET_STRING, f"eth{i}".encode()))
        rows.append(VarBind((*IF_IN_OCTETS, i), Tag.COUNTER32, 1000 * i))
        rows.append(VarBind((*IF_X_TABLE, 1, 6, i), Tag.COUNTER64, 2**40 + i))
    return Table(rows)


TABLE = make_table()
IF_TABLE_ROWS = [r for r in TABLE.rows if r[0][:8] == IF_TABLE]


def session(agent: EvilAgent, transport: SnmpTransport, **overrides: object) -> V2cSession:
    options: dict[str, object] = {"timeout": 0.3, "retries": 1, "community": Secret(COMMUNITY)}
    options.update(overrides)
    settings = SessionSettings(agent.host, agent.port, **options)  # type: ignore[arg-type]
    return V2cSession(settings, transport)


def deadline(seconds: float = 10.0) -> float:
    return asyncio.get_running_loop().time() + seconds


async def eventually(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until predicate() holds (bounded), for effects that arrive after a result."""
    end = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ matching (A5–A8)


async def test_a8_wrong_request_id_is_dropped_and_times_out(evil_agent, transport) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, serve(TABLE, request), request_id=request.request_id + 1))]

    agent = await evil_agent(scenario)
    s = session(agent, transport)
    with pytest.raises(SnmpTimeout) as info:
        await s.get([SYS_UPTIME], deadline=deadline())
    text = str(info.value)
    assert f"get of 1.3.6.1.2.1.1.3.0 on 127.0.0.2:{agent.port} timed out after" in text
    assert "check community/ACL/reachability" in text
    assert COMMUNITY not in text
    assert len(agent.requests) == 2  # retries=1: two attempts, each answered wrongly
    assert transport.stats.dropped["unknown request-id"] == 2
    assert transport.stats.timeouts == 1 and transport.stats.retries == 1


async def test_a7_reply_from_another_address_needs_accept_any_source(evil_agent,
                                                                     transport) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, serve(TABLE, request)), from_other=True)]

    agent = await evil_agent(scenario, host="127.0.0.2", other_host="127.0.0.3")
    with pytest.raises(SnmpTimeout):
        await session(agent, transport).get([SYS_NAME], deadline=deadline())
    assert transport.stats.dropped["wrong source"] == 2

    got = await session(agent, transport, accept_any_source=True).get([SYS_NAME],
                                                                      deadline=deadline())
    assert got == [VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]


async def test_a5_duplicate_responses_are_used_once(evil_agent, transport) -> None:
    def scenario(agent, request):
        data = answer(request, serve(TABLE, request))
        return [Reply(data), Reply(data, delay=0.02)]

    agent = await evil_agent(scenario)
    s = session(agent, transport, max_repetitions=7)
    result = await s.walk(IF_TABLE, deadline=deadline())
    assert result.complete and result.varbinds == IF_TABLE_ROWS  # nothing counted twice
    await eventually(lambda: agent.replies_sent == 2 * len(agent.requests))
    await eventually(lambda: transport.stats.dropped["duplicate"] == len(agent.requests))
    assert transport.stats.responses == len(agent.requests)


async def test_a6_late_reply_to_attempt_one_is_used_once(evil_agent, transport) -> None:
    # Attempt 1 is answered after the retry went out; the retry is answered at once.
    # Whichever arrives first answers the request; the other is a dropped duplicate, and a
    # stale reply never answers the next request.
    seen: dict[int, int] = {}

    def scenario(agent, request):
        n = seen[request.request_id] = seen.get(request.request_id, 0) + 1
        data = answer(request, serve(TABLE, request))
        return [Reply(data, delay=0.5 if n == 1 else 0.0)]

    agent = await evil_agent(scenario)
    s = session(agent, transport, timeout=0.25, retries=2)
    assert await s.get([SYS_UPTIME], deadline=deadline()) == [
        VarBind(SYS_UPTIME, Tag.TIMETICKS, 4242)]
    assert transport.stats.retries == 1
    # The next request is in flight when the stale reply of the first one lands.
    assert await s.get([SYS_NAME], deadline=deadline()) == [
        VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]
    await eventually(lambda: transport.stats.dropped["duplicate"] >= 1)
    assert transport.stats.responses == 2


async def test_a6_late_reply_alone_answers_the_retried_request(evil_agent, transport) -> None:
    def scenario(agent, request):
        first = sum(r.request_id == request.request_id for r in agent.requests) == 1
        return [Reply(answer(request, serve(TABLE, request)), delay=0.4)] if first else []

    agent = await evil_agent(scenario)
    s = session(agent, transport, timeout=0.3, retries=3)
    assert await s.get([SYS_NAME], deadline=deadline()) == [
        VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]
    assert len(agent.requests) == 2  # one retry, then the late answer to attempt 1 counted
    assert transport.stats.responses == 1


# ------------------------------------------------------------------ concurrency (A9)


async def test_a9_in_flight_cap_holds_across_300_devices(evil_agent) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, serve(TABLE, request)), delay=0.02)]

    agent = await evil_agent(scenario)
    transport = await SnmpTransport.create(max_in_flight=32, local_address="127.0.0.1")
    try:
        sessions = [session(agent, transport, community=Secret(f"dev{i}"), timeout=5.0)
                    for i in range(300)]
        results = await asyncio.gather(
            *(s.get([SYS_UPTIME], deadline=deadline(60)) for s in sessions))
        assert all(r == [VarBind(SYS_UPTIME, Tag.TIMETICKS, 4242)] for r in results)
        assert len(agent.requests) == 300
        assert agent.max_in_flight <= 32
        assert transport.stats.max_in_flight_seen == 32  # the cap was reached, and held
        assert {r.community for r in agent.requests} == {f"dev{i}".encode() for i in range(300)}
    finally:
        await transport.close()


# ------------------------------------------------------------------ bad input (A11, A12)


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
async def test_a11_malformed_answer_marks_only_that_device(case, evil_agent, transport,
                                                          caplog) -> None:
    data, word = MALFORMED[case]
    bad = await evil_agent(lambda agent, request: [Reply(data)] if data else [Reply(b"")])
    good = await evil_agent(correct(TABLE), host="127.0.0.4")
    caplog.set_level(logging.INFO, logger="collector")
    bad_get = session(bad, transport, timeout=0.15).get([SYS_UPTIME], deadline=deadline())
    good_get = session(good, transport).get([SYS_NAME], deadline=deadline())
    outcome, ok = await asyncio.gather(bad_get, good_get, return_exceptions=True)
    assert ok == [VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]
    assert isinstance(outcome, SnmpMalformed), outcome
    assert f"malformed response to get of 1.3.6.1.2.1.1.3.0 from 127.0.0.2:{bad.port}" in str(
        outcome)
    assert word in str(outcome)
    assert transport.stats.malformed >= 1
    assert not caplog.records  # nothing at INFO or above, no traceback


async def test_a11_malformed_answer_with_our_request_id_fails_at_once(evil_agent,
                                                                      transport) -> None:
    def scenario(agent, request):
        bad_name = ber.tlv(0x30, b"\x04\x01\x2b\x05\x00")  # varbind name is not an OID
        return [Reply(answer(request, [(SYS_UPTIME, bad_name)]))]

    agent = await evil_agent(scenario)
    s = session(agent, transport, timeout=5.0, retries=3)
    with pytest.raises(SnmpMalformed, match="expected OID"):
        await s.get([SYS_UPTIME], deadline=deadline())
    assert len(agent.requests) == 1  # no retries, no waiting for the timeout


async def test_a11_transport_survives_a_flood_of_garbage(evil_agent, transport) -> None:
    def scenario(agent, request):
        junk = [Reply(bytes([i]) * i) for i in range(0, 200, 7)]
        return [*junk, Reply(answer(request, serve(TABLE, request)), delay=0.05)]

    agent = await evil_agent(scenario)
    got = await session(agent, transport).get([SYS_NAME], deadline=deadline())
    assert got == [VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]
    assert transport.stats.malformed >= 25


async def test_a12_bad_values_cost_one_varbind_each(evil_agent, transport) -> None:
    if_hc_in = (*IF_X_TABLE, 1, 6, 1)
    counter32_5_bytes = ber.tlv(0x30, ber.tlv(6, ber.encode_oid((*IF_IN_OCTETS, 1)))
                                + b"\x41\x05\x01\x00\x00\x00\x00")
    counter64_9_bytes = ber.tlv(0x30, ber.tlv(6, ber.encode_oid(if_hc_in))
                                + b"\x46\x09\x01" + b"\x00" * 8)
    table = Table([
        VarBind(SYS_UPTIME, Tag.TIMETICKS, 9),
        VarBind(SYS_NAME, Tag.INTEGER, 7),  # sysName as an INTEGER
        ((*IF_IN_OCTETS, 1), counter32_5_bytes),
        (if_hc_in, counter64_9_bytes),
        VarBind((*IF_X_TABLE, 1, 6, 2), Tag.OCTET_STRING, b"12345"),  # ifHCInOctets as string
        VarBind((*IF_X_TABLE, 1, 15, 1), Tag.OBJECT_IDENTIFIER, (1, 3, 6)),  # OID for a Gauge
    ])
    agent = await evil_agent(correct(table))
    s = session(agent, transport)
    got = await s.get([SYS_UPTIME, SYS_NAME, (*IF_IN_OCTETS, 1)], deadline=deadline())
    assert got[0] == VarBind(SYS_UPTIME, Tag.TIMETICKS, 9)
    assert got[1] == VarBind(SYS_NAME, Tag.INTEGER, 7)
    assert got[2].tag == Tag.BAD_VALUE and isinstance(got[2].value, BadValue)
    assert "Counter32 out of range" in got[2].value.reason
    walk = await s.walk(IF_X_TABLE, deadline=deadline())
    assert walk.complete
    assert [vb.tag for vb in walk.varbinds] == [Tag.BAD_VALUE, Tag.OCTET_STRING,
                                                Tag.OBJECT_IDENTIFIER]
    assert "Counter64 out of range" in walk.varbinds[0].value.reason


# ------------------------------------------------------------------ walks (A14–A19)


async def test_a14_end_of_mib_view_after_n_requests(evil_agent, transport) -> None:
    def scenario(agent, request):
        if len(agent.requests) >= 3:
            return [Reply(answer(request, [VarBind(vb.oid, Tag.END_OF_MIB_VIEW, None)
                                           for vb in request.varbinds]))]
        return [Reply(answer(request, serve(TABLE, request)))]

    agent = await evil_agent(scenario)
    result = await session(agent, transport, max_repetitions=5).walk(IF_TABLE,
                                                                     deadline=deadline())
    assert result.complete and result.problem is None
    assert result.varbinds == IF_TABLE_ROWS[:10]
    assert len(agent.requests) == 3


@pytest.mark.parametrize("kind", ["same OID again", "jump back"])
async def test_a15_oid_loop_stops_that_subtree_only(kind, evil_agent, transport) -> None:
    def scenario(agent, request):
        rows = serve(TABLE, request)
        if request.varbinds[0].oid[:8] == IF_TABLE and len(agent.requests) >= 2:
            start = request.varbinds[0].oid
            back = start if kind == "same OID again" else IF_TABLE_ROWS[0][0]
            rows = [VarBind(back, Tag.OCTET_STRING, b"loop"), *rows]
        return [Reply(answer(request, rows))]

    agent = await evil_agent(scenario)
    s = session(agent, transport, max_repetitions=4)
    result = await s.walk(IF_TABLE, deadline=deadline())
    assert not result.complete and result.problem == "OID not increasing"
    assert result.varbinds == IF_TABLE_ROWS[:4]  # rows so far are kept
    assert len(agent.requests) == 2  # bounded: stops at the first repeat
    other = await s.walk(IF_X_TABLE, deadline=deadline())  # the device's other subtrees
    assert other.complete and len(other.varbinds) == 30


async def test_a16_endless_table_is_capped_and_marked_truncated(evil_agent, transport) -> None:
    def scenario(agent, request):
        start = request.varbinds[0].oid
        n = start[-1] + 1 if len(start) > len(IF_X_TABLE) else 1
        rows = [VarBind((*IF_X_TABLE, n + i), Tag.COUNTER32, n + i)
                for i in range(max(1, request.error_index))]
        return [Reply(answer(request, rows))]

    agent = await evil_agent(scenario)
    result = await session(agent, transport, max_repetitions=25).walk(
        IF_X_TABLE, deadline=deadline(), max_rows=1000)
    assert not result.complete and result.problem == "row bound reached after 1000 rows"
    assert len(result.varbinds) == 1000
    assert len(agent.requests) == 40


async def test_a17_toobig_with_empty_varbinds_halves_and_remembers(evil_agent,
                                                                   transport) -> None:
    def scenario(agent, request):
        if request.pdu_type == ber.GET_BULK_REQUEST and request.error_index > 10:
            return [Reply(answer(request, [], error_status=1))]  # tooBig, no varbinds
        return [Reply(answer(request, serve(TABLE, request)))]

    agent = await evil_agent(scenario)
    s = session(agent, transport, max_repetitions=40)
    result = await s.walk(IF_TABLE, deadline=deadline())
    assert result.complete and result.varbinds == IF_TABLE_ROWS
    assert [r.error_index for r in agent.requests[:3]] == [40, 20, 10]
    assert s.max_repetitions == 10
    before = len(agent.requests)
    again = await s.walk(IF_TABLE, deadline=deadline())
    assert again.varbinds == IF_TABLE_ROWS
    assert all(r.error_index <= 10 for r in agent.requests[before:])  # remembered


async def test_a17_toobig_on_a_get_splits_the_request(evil_agent, transport) -> None:
    def scenario(agent, request):
        if len(request.varbinds) > 2:
            return [Reply(answer(request, [], error_status=1))]
        return [Reply(answer(request, serve(TABLE, request)))]

    agent = await evil_agent(scenario)
    s = session(agent, transport, max_oids_per_get=8)
    oids = [(*IF_DESCR, i) for i in range(1, 9)]
    got = await s.get(oids, deadline=deadline())
    assert [vb.value for vb in got] == [f"eth{i}".encode() for i in range(1, 9)]
    assert s.max_oids_per_get == 2


async def test_a18_short_getbulk_answers_continue_from_the_last_oid(evil_agent,
                                                                    transport) -> None:
    def scenario(agent, request):
        return [Reply(answer(request, serve(TABLE, request)[:3]))]  # only the first 3 rows

    agent = await evil_agent(scenario)
    result = await session(agent, transport, max_repetitions=25).walk(IF_TABLE,
                                                                      deadline=deadline())
    assert result.complete and result.varbinds == IF_TABLE_ROWS
    assert len(agent.requests) == 21  # 60 rows 3 at a time, then one that leaves the table


@pytest.mark.parametrize(("status", "name"), [(5, "genErr"), (6, "noAccess"),
                                              (16, "authorizationError")])
async def test_a19_error_status_is_named_and_not_retried(status, name, evil_agent,
                                                         transport) -> None:
    agent = await evil_agent(lambda agent, request: [
        Reply(answer(request, request.varbinds, error_status=status, error_index=1))])
    s = session(agent, transport, retries=3)
    with pytest.raises(SnmpErrorStatus) as info:
        await s.walk(IF_TABLE, deadline=deadline())
    assert info.value.name == name and info.value.status == status
    assert f"agent answered {name} (index 1) to walk of 1.3.6.1.2.1.2.2 on 127.0.0.2" in str(
        info.value)
    with pytest.raises(SnmpErrorStatus, match=name):
        await s.get([SYS_NAME], deadline=deadline())
    assert len(agent.requests) == 2  # one each: an answer is not retried


# ------------------------------------------------------------------ v1 and deadlines


async def test_v1_walk_ends_at_no_such_name_and_get_marks_missing(evil_agent,
                                                                  transport) -> None:
    def v1_agent(agent, request):
        rows = serve(TABLE, request)
        for i, row in enumerate(rows, 1):
            if isinstance(row, VarBind) and row.tag in (Tag.END_OF_MIB_VIEW,
                                                        Tag.NO_SUCH_INSTANCE):
                return [Reply(answer(request, request.varbinds, error_status=2,
                                     error_index=i))]
        return [Reply(answer(request, rows))]

    agent = await evil_agent(v1_agent)
    s = session(agent, transport, version="1")
    result = await s.walk((*IF_X_TABLE, 1, 6), deadline=deadline())
    assert result.complete and len(result.varbinds) == 30
    assert {r.pdu_type for r in agent.requests} == {ber.GET_NEXT_REQUEST}
    assert {r.version for r in agent.requests} == {0}
    got = await s.get([SYS_UPTIME, (1, 3, 6, 1, 9, 9), SYS_NAME], deadline=deadline())
    assert got == [VarBind(SYS_UPTIME, Tag.TIMETICKS, 4242),
                   VarBind((1, 3, 6, 1, 9, 9), Tag.NO_SUCH_INSTANCE, None),
                   VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]


async def test_poll_deadline_is_never_overrun(evil_agent, transport) -> None:
    agent = await evil_agent(lambda agent, request: [])  # silent
    s = session(agent, transport, timeout=30.0, retries=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(SnmpTimeout, match=r"timed out after \d+\.\d s"):
        await s.walk(IF_TABLE, deadline=started + 0.3)
    assert loop.time() - started < 10  # nowhere near timeout × attempts (180 s)
    assert len(agent.requests) == 1
    with pytest.raises(SnmpTimeout, match="timed out"):
        await s.get([SYS_NAME], deadline=loop.time() - 1)


async def test_reply_after_the_request_gave_up_is_dropped_as_late(evil_agent,
                                                                  transport) -> None:
    agent = await evil_agent(lambda agent, request: [
        Reply(answer(request, serve(TABLE, request)), delay=0.5)])
    s = session(agent, transport, timeout=0.2, retries=0)
    with pytest.raises(SnmpTimeout):
        await s.get([SYS_NAME], deadline=deadline())
    await eventually(lambda: transport.stats.dropped["late"] == 1)
    assert transport.stats.responses == 0


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_agent_and_source_check(evil_agent, transport) -> None:
    agent = await evil_agent(correct(TABLE), host="::1")
    s = session(agent, transport)
    assert s.target == f"[::1]:{agent.port}"
    assert await s.get([SYS_NAME], deadline=deadline()) == [
        VarBind(SYS_NAME, Tag.OCTET_STRING, b"gw")]


async def test_timeouts_say_whether_the_deadline_ran_out_or_the_agent_fell_silent(
        evil_agent, transport) -> None:
    """Issue 11: "agent stopped answering after 10375 rows" was printed when the poll's
    deadline had run out. Each cause now names itself."""
    slow = await evil_agent(lambda agent, request: [
        Reply(answer(request, serve(TABLE, request)), delay=0.15)])
    s = session(slow, transport, timeout=2.0, retries=1, max_repetitions=10)
    with pytest.raises(SnmpDeadline) as info:
        await s.walk(IF_TABLE, deadline=deadline(0.5))
    text = str(info.value)
    assert "the poll deadline ran out (" in text and " rows read)" in text, text
    assert "stopped answering" not in text

    def silent_after_two(agent, request):
        if len(agent.requests) > 2:
            return []
        return [Reply(answer(request, serve(TABLE, request)))]

    quiet = await evil_agent(silent_after_two, host="127.0.0.3")
    s = session(quiet, transport, timeout=0.3, retries=1, max_repetitions=10)
    with pytest.raises(SnmpTimeout) as info:
        await s.walk(IF_TABLE, deadline=deadline())
    assert not isinstance(info.value, SnmpDeadline)
    assert "(agent stopped answering after 20 rows: 2 attempt(s) of 0.3 s unanswered)" \
        in str(info.value)
