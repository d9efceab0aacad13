"""The poller with joint column walks (four columns per GETBULK) against per-column walks.

Same device, same profiles, two sessions: one that walks columns jointly (v1/v2c/v3,
once the agent answered quickly) and one told not to (`walks_columns = False`, which is also
what a session without `walk_columns`, e.g. SNMPv3 today, gets). The samples must be the
same; the joint one must send fewer requests. Real snmpsim serving recorded dumps, and
real net-snmp snmpd.
"""

from __future__ import annotations

import asyncio

import pytest
from servers import Snmpd, Snmpsim

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import PollResult
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.snmp.v2c import V2cSession
from borderwatch.collector.topology_spec import DeviceSpec


def session(sim: Snmpsim, transport: SnmpTransport, dump: str, *, joint: bool) -> V2cSession:
    settings = SessionSettings(sim.address, sim.port, community=Secret(sim.community_for(dump)),
                               timeout=5.0, retries=2)
    s = V2cSession(settings, transport)
    if not joint:
        s.walks_columns = False
    return s


async def poll(poller: Poller, device: DeviceSpec, s: V2cSession) -> PollResult:
    return await poller.poll(device, s, asyncio.get_running_loop().time() + 120)


def shape(result: PollResult) -> list:
    """Samples as comparable tuples; counters (and uptime) move, so they compare by name
    and labels only."""
    out = [(s.metric, s.labels, None if s.metric.endswith(("_total", "_seconds")) else s.value)
           for s in result.samples]
    return sorted(out, key=repr)


@pytest.mark.parametrize("dump", ["cisco-c3560", "cisco-unmarked-0"])
async def test_joint_and_per_column_polls_give_the_same_samples(snmpsim_dumps, transport,
                                                                 dump) -> None:
    # snmpsim: 52-57 rows, columns ending at different rows (c3560), sparse columns
    # (unmarked-0). Joint walks are forced on; the session may still turn them off (snmpsim
    # is several times slower per varbind with several repeaters), which is also fine.
    poller = Poller()
    device = DeviceSpec(dump, "site", profiles=["system", "if-mib"])
    plain = await poll(poller, device, session(snmpsim_dumps, transport, dump, joint=False))
    joint_session = session(snmpsim_dumps, transport, dump, joint=True)
    joint_session.answers_quickly = True
    joint = await poll(poller, device, joint_session)
    assert plain.ok and joint.ok, (plain.error, joint.error)
    assert plain.problems == [] and joint.problems == []
    assert len(plain.samples) > 100
    assert shape(joint) == shape(plain)
    assert joint.varbinds == plain.varbinds
    again = await poll(poller, device, joint_session)  # sized by the first poll's rows
    assert again.problems == [] and shape(again) == shape(plain)


async def test_snmpd_polls_walk_jointly_once_answers_are_quick(snmpd: Snmpd,
                                                               transport) -> None:
    settings = SessionSettings(snmpd.address, snmpd.port, community=Secret("public"),
                               timeout=5.0, retries=2)
    poller = Poller()
    device = DeviceSpec("snmpd", "site", profiles=["system", "if-mib"])
    plain_session = V2cSession(settings, transport)
    plain_session.walks_columns = False
    joint_session = V2cSession(settings, transport)
    assert not joint_session.answers_quickly  # per column before a quick answer
    plain = await poll(poller, device, plain_session)
    first = await poll(poller, device, joint_session)
    steady = await poll(poller, device, joint_session)
    assert plain.ok and first.ok and steady.ok and not steady.problems
    assert joint_session.answers_quickly and joint_session.walks_columns
    # Counters move on a live agent: names, labels and static values only.
    assert shape(steady) == shape(plain) and len(plain.samples) > 10
    assert steady.requests < plain.requests
