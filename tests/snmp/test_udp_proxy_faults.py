"""Delay, loss and duplicates on the wire (T2 proxy) in front of REAL agents: A2, A4–A6, A10."""

from __future__ import annotations

import asyncio

from servers import Snmpd, Snmpsim

from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.types import VarBind, parse_oid
from borderwatch.collector.snmp.v2c import V2cSession

pytest_plugins = ("snmp_fixtures",)  # transport, udp_proxy

SYS_NAME = parse_oid("1.3.6.1.2.1.1.5.0")
IF_TABLE = parse_oid("1.3.6.1.2.1.2.2")
IF_X_TABLE = parse_oid("1.3.6.1.2.1.31.1.1")


def session(endpoint: tuple[str, int], transport: SnmpTransport, community: str = "public",
            **kw: object) -> V2cSession:
    options: dict[str, object] = {"timeout": 1.0, "retries": 1}
    options.update(kw)
    settings = SessionSettings(endpoint[0], endpoint[1], community=Secret(community),
                               **options)  # type: ignore[arg-type]
    return V2cSession(settings, transport)


def deadline(seconds: float = 60.0) -> float:
    return asyncio.get_running_loop().time() + seconds


def oids(rows: list[VarBind]) -> list[tuple[int, ...]]:
    return [vb.oid for vb in rows]


async def eventually(predicate, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a4_twenty_percent_loss_is_absorbed_by_retries(snmpd: Snmpd, transport,
                                                             udp_proxy) -> None:
    direct = session(snmpd.endpoint, transport)
    reference = {root: oids((await direct.walk(root, deadline=deadline())).varbinds)
                 for root in (IF_TABLE, IF_X_TABLE)}
    proxy = await udp_proxy(snmpd.endpoint, seed=20)
    proxy.to_agent.drop = proxy.to_client.drop = 0.2
    lossy = session(proxy.endpoint, transport, timeout=0.15, retries=8, max_repetitions=10)
    for _cycle in range(2):
        for root in (IF_TABLE, IF_X_TABLE):
            result = await lossy.walk(root, deadline=deadline())
            assert result.complete and oids(result.varbinds) == reference[root]
    assert proxy.to_agent.dropped > 0 and proxy.to_client.dropped > 0
    lost = proxy.to_agent.dropped + proxy.to_client.dropped
    assert transport.stats.retries >= lost  # every loss cost a retry (a slow answer may too)
    assert lossy.requests_sent + direct.requests_sent == transport.stats.sent


async def test_a2_satellite_rtt_walk_completes(snmpsim_dumps: Snmpsim, snmpd: Snmpd,
                                               transport, udp_proxy) -> None:
    community = snmpsim_dumps.community_for("cisco-c3560")
    columns = [parse_oid("1.3.6.1.2.1.31.1.1.1.6"), parse_oid("1.3.6.1.2.1.2.2.1.8")]
    direct = session(snmpsim_dumps.endpoint, transport, community, max_repetitions=25)
    reference = [(await direct.walk(c, deadline=deadline())).varbinds for c in columns]
    proxy = await udp_proxy(snmpsim_dumps.endpoint)
    proxy.to_agent.delay = proxy.to_client.delay = 0.3  # RTT 600 ms ± 100 ms
    proxy.to_agent.jitter = proxy.to_client.jitter = 0.05
    far = session(proxy.endpoint, transport, community, timeout=2.0, retries=1,
                  max_repetitions=25)
    near = session(snmpd.endpoint, transport)
    done_near: list[int] = []

    async def far_walks() -> list[list[VarBind]]:
        return [(await far.walk(c, deadline=deadline())).varbinds for c in columns]

    async def near_gets() -> None:
        for i in range(10):
            await near.get([SYS_NAME], deadline=deadline())
            done_near.append(i)

    far_task = asyncio.ensure_future(far_walks())
    await near_gets()
    assert not far_task.done()  # the fast device was not held up by the slow one
    assert await far_task == reference
    assert len(done_near) == 10
    assert far.requests_sent >= 6 and proxy.to_client.forwarded == far.requests_sent


async def test_a5_every_response_twice(snmpd: Snmpd, transport, udp_proxy) -> None:
    direct = session(snmpd.endpoint, transport)
    reference = oids((await direct.walk(IF_TABLE, deadline=deadline())).varbinds)
    proxy = await udp_proxy(snmpd.endpoint)
    proxy.to_client.dup = 1
    doubled = session(proxy.endpoint, transport, max_repetitions=10)
    result = await doubled.walk(IF_TABLE, deadline=deadline())
    assert result.complete and oids(result.varbinds) == reference
    await eventually(lambda: transport.stats.dropped["duplicate"] == doubled.requests_sent)
    assert transport.stats.responses == direct.requests_sent + doubled.requests_sent


async def test_a6_first_response_later_than_the_retry(snmpd: Snmpd, transport,
                                                      udp_proxy) -> None:
    proxy = await udp_proxy(snmpd.endpoint)
    proxy.to_client.schedule = [0.5]  # the first answer arrives after the retry went out
    s = session(proxy.endpoint, transport, timeout=0.3, retries=2)
    assert (await s.get([SYS_NAME], deadline=deadline()))[0].value == b"testbed-snmpd"
    assert s.requests_sent == 2 and transport.stats.retries == 1
    assert (await s.get([SYS_NAME], deadline=deadline()))[0].value == b"testbed-snmpd"
    await eventually(lambda: transport.stats.dropped["duplicate"] == 1)
    assert transport.stats.responses == 2


async def test_a10_cancelling_walks_in_flight_leaves_nothing_behind(snmpd: Snmpd, transport,
                                                                    udp_proxy) -> None:
    baseline = asyncio.all_tasks()
    proxy = await udp_proxy(snmpd.endpoint)
    proxy.to_client.delay = 2.0
    walks = [asyncio.ensure_future(
        session(proxy.endpoint, transport, timeout=5.0).walk(IF_TABLE, deadline=deadline()))
        for _ in range(50)]
    await eventually(lambda: transport.stats.in_flight == 50)
    for task in walks:
        task.cancel()
    outcomes = await asyncio.gather(*walks, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert transport.stats.in_flight == 0
    proxy.close()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - baseline == set()
    # The transport still works, with every in-flight slot back (64 at once, none waiting).
    direct = [session(snmpd.endpoint, transport) for _ in range(64)]
    got = await asyncio.gather(*(s.get([SYS_NAME], deadline=deadline()) for s in direct))
    assert all(g[0].value == b"testbed-snmpd" for g in got)
    assert transport.stats.max_in_flight_seen == 64
