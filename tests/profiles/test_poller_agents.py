"""The poller against real agents: snmpsim serving snmpsim-data dumps, and net-snmp snmpd."""

from __future__ import annotations

import asyncio

import pytest
from servers import SNMPSIM_V3_USER, Snmpd, Snmpsim, free_udp_port, snmpget

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import PollResult
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.state import EventKind, NetworkState
from borderwatch.collector.topology_spec import DeviceSpec

RX = "borderwatch_interface_receive_bytes_total"
TX = "borderwatch_interface_transmit_bytes_total"
COUNTER_OIDS = {  # (metric, bits) → column whose value the sample must equal
    (RX, 64): "1.3.6.1.2.1.31.1.1.1.6", (RX, 32): "1.3.6.1.2.1.2.2.1.10",
    (TX, 64): "1.3.6.1.2.1.31.1.1.1.10", (TX, 32): "1.3.6.1.2.1.2.2.1.16",
}



def sim_session(sim: Snmpsim, transport: SnmpTransport, dump: str, **kw):
    settings = SessionSettings(sim.address, sim.port, community=Secret(sim.community_for(dump)),
                               timeout=5.0, retries=1, **kw)
    return open_session(settings, transport)


async def poll(poller: Poller, device: DeviceSpec, session) -> PollResult:
    return await poller.poll(device, session, asyncio.get_running_loop().time() + 60)


def metrics(result: PollResult) -> set[str]:
    return {s.metric for s in result.samples}


@pytest.mark.parametrize(("dump", "chosen", "must_have"), [
    ("cisco-c3560", ("if-mib",), "borderwatch_interface_up"),
    ("ubiquiti-m5", ("airmax", "if-mib"), "borderwatch_radio_signal_dbm"),
    ("eaton-93e-80", ("if-mib", "ups-mib"), "borderwatch_ups_on_battery"),
])
async def test_auto_selects_profiles_and_remembers(snmpsim_dumps, transport, dump, chosen,
                                                   must_have) -> None:
    poller = Poller()
    device = DeviceSpec(dump, "site", profiles="auto")
    session = sim_session(snmpsim_dumps, transport, dump)
    first = await poll(poller, device, session)
    assert first.ok, first.error
    assert poller.auto_choice(dump) == chosen
    assert first.profile == "+".join(("system", *chosen))
    assert must_have in metrics(first) and first.problems == []
    second = await poll(poller, device, session)
    # the choice is remembered: the steady state sends no probe
    assert second.requests < first.requests
    assert metrics(second) == metrics(first)
    assert first.sys_uptime_ticks == second.sys_uptime_ticks is not None


async def test_interface_counters_match_snmpget(snmpsim_dumps, transport) -> None:
    dump = "cisco-c3560"
    result = await poll(Poller(), DeviceSpec(dump, "site"),
                        sim_session(snmpsim_dumps, transport, dump))
    assert result.ok
    ours = {}
    for s in result.samples:
        if s.metric in (RX, TX):
            ours[f"{COUNTER_OIDS[s.metric, s.counter_bits]}.{dict(s.labels)['ifIndex']}"] = s.value
    assert len(ours) == 2 * 57
    assert any(oid.startswith(COUNTER_OIDS[RX, 32]) for oid in ours)  # Null0's fallback
    cli = snmpget(snmpsim_dumps.address, snmpsim_dumps.port, sorted(ours),
                  community=snmpsim_dumps.community_for(dump), timeout=5)
    assert cli.returncode == 0, cli.stderr
    theirs = {}
    for line in cli.stdout.splitlines():
        oid, _, rest = line.partition(" = ")
        theirs[oid.lstrip(".")] = int(rest.split(": ", 1)[1])
    assert theirs == ours
    state = NetworkState([DeviceSpec(dump, "site")], [])
    state.apply(result)
    totals = state.device(dump).series[RX]
    assert {dict(k)["ifIndex"]: v for k, v in totals.items()} == {
        oid.rsplit(".", 1)[1]: v for oid, v in ours.items() if
        oid.startswith((COUNTER_OIDS[RX, 64] + ".", COUNTER_OIDS[RX, 32] + "."))}


async def test_ups_profile_on_a_switch_is_a_mismatch_logged_once(snmpsim_dumps,
                                                                 transport) -> None:
    """A13: UPS-MIB objects missing on a switch: metrics absent, device up, one event."""
    dump = "cisco-c3560"
    device = DeviceSpec(dump, "site", profiles=["if-mib", "ups-mib"])
    poller, state = Poller(), NetworkState([device], [])
    session = sim_session(snmpsim_dumps, transport, dump)
    events = []
    for _ in range(2):
        result = await poll(poller, device, session)
        assert result.ok
        assert not any(m.startswith("borderwatch_ups_") for m in metrics(result))
        assert result.problems == [
            "profile mismatch: ups-mib: the device answers none of its objects"]
        events += state.apply(result)
    assert [e.kind for e in events] == [EventKind.PROFILE_MISMATCH]
    assert state.device(dump).up is True
    assert result.profile == "system+if-mib"


async def test_v3_poll_gives_the_same_samples_as_v2c(snmpsim_dumps, transport) -> None:
    dump = "ubiquiti-m5"
    v2c = await poll(Poller(), DeviceSpec(dump, "s"), sim_session(snmpsim_dumps, transport, dump))
    u = SNMPSIM_V3_USER
    settings = SessionSettings(
        snmpsim_dumps.address, snmpsim_dumps.port, version="3", user=u["user"],
        auth_protocol=u["auth_proto"], auth_key=Secret(u["auth_key"]),
        priv_protocol=u["priv_proto"], priv_key=Secret(u["priv_key"]),
        context=snmpsim_dumps.community_for(dump), timeout=5.0)
    session = open_session(settings, transport)
    try:
        v3 = await poll(Poller(), DeviceSpec(dump, "s"), session)
    finally:
        await session.close()
    assert v3.ok, v3.error
    assert sorted(map(repr, v3.samples)) == sorted(map(repr, v2c.samples))


async def test_no_agent_is_a_timeout_not_an_exception(transport) -> None:
    settings = SessionSettings("127.0.0.1", free_udp_port(), community=Secret("public"),
                               timeout=0.3, retries=1)
    result = await poll(Poller(), DeviceSpec("dead", "s"), open_session(settings, transport))
    assert not result.ok and result.samples == []
    assert result.error.startswith("timeout: ")
    assert "public" not in result.error
    assert result.requests == 2  # one try + one retry, no probing of a silent device


async def test_poll_deadline_passed_mid_poll_keeps_what_came_in(snmpsim_dumps,
                                                                transport) -> None:
    dump = "cisco-c3560"
    session = sim_session(snmpsim_dumps, transport, dump)
    poller = Poller()
    await poll(poller, DeviceSpec(dump, "s"), session)  # learn the profiles
    # A deadline a quarter of the quickest whole poll measured here, on this machine at
    # this load: long enough for the first GET (one of ~15 requests), too short for the
    # column walks, unless the agent got four times quicker than it just was.
    whole = min([(await poll(poller, DeviceSpec(dump, "s"), session)).duration
                 for _ in range(3)])
    loop = asyncio.get_running_loop()
    result = await poller.poll(DeviceSpec(dump, "s"), session, loop.time() + whole / 4)
    if result.ok:  # the GET made it: the walks that did not are problems, not a crash
        assert result.problems and result.problems[0].startswith("timeout: ")
        assert "borderwatch_device_uptime_seconds" in metrics(result)
    else:
        assert result.error.startswith("timeout: ")


async def test_real_snmpd_interfaces(snmpd: Snmpd, transport) -> None:
    settings = SessionSettings(snmpd.address, snmpd.port, community=Secret("public"),
                               timeout=2.0)
    session = open_session(settings, transport)
    poller = Poller()
    # lo's counters move while we poll (our own packets), so bracket them with snmpget
    oids = [f"{COUNTER_OIDS[RX, bits]}.1" for bits in (64, 32)]

    def read() -> dict[str, int]:
        lines = snmpget(snmpd.address, snmpd.port, oids).stdout.splitlines()
        return {line.split(" = ")[0].lstrip("."): int(line.split(": ")[-1]) for line in lines
                if "Counter" in line}

    before = read()
    result = await poll(poller, DeviceSpec("snmpd", "s"), session)
    after = read()
    assert result.ok, result.error
    # (host-resources appears only once snmpd has sampled hrProcessorLoad, after ~1 min)
    assert "if-mib" in poller.auto_choice("snmpd")
    lo = next(s for s in result.samples if s.metric == RX and dict(s.labels)["ifIndex"] == "1")
    column = f"{COUNTER_OIDS[RX, lo.counter_bits]}.1"
    assert before[column] <= lo.value <= after[column]
    assert dict(lo.labels)["ifName"] == "lo"
    assert all(0 <= s.value <= 1 for s in result.samples
               if s.metric == "borderwatch_cpu_load_ratio")


async def test_auto_choice_is_probed_again_after_the_reprobe_interval(snmpsim_dumps,
                                                                      transport) -> None:
    now = [1_000_000.0]
    poller = Poller(clock=lambda: now[0], reprobe_interval=3600)
    dump = "ubiquiti-m5"
    device = DeviceSpec(dump, "site")
    session = sim_session(snmpsim_dumps, transport, dump)
    first = await poll(poller, device, session)
    now[0] += 3599
    steady = await poll(poller, device, session)
    now[0] += 2
    again = await poll(poller, device, session)
    # >=: the first poll of a session sizes its joint walks before any answer was seen
    assert first.requests >= again.requests > steady.requests
    assert poller.auto_choice(dump) == ("airmax", "if-mib")


async def test_cancelling_a_poll_propagates(transport) -> None:
    settings = SessionSettings("127.0.0.1", free_udp_port(), community=Secret("public"),
                               timeout=5.0, retries=3)
    task = asyncio.create_task(poll(Poller(), DeviceSpec("slow", "s"),
                                    open_session(settings, transport)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
