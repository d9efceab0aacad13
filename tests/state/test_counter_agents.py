"""Counter handling end to end: real snmpsim agents with moving counters → poller → state.

Each scenario is a small .snmprec written here, served by our own snmpsim on its own port.
Its counters move with snmpsim's `numeric` variation: value = initial + rate × (seconds
since snmpsim started), wrapping at max. A reboot or a 64 → 32-bit switch is the same
device id being answered from a second recording (another community of the same agent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Snmpsim, free_udp_port, start_snmpsim

from borderwatch.collector.poller import Poller
from borderwatch.collector.samples import PollResult
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.state import Event, EventKind, NetworkState
from borderwatch.collector.topology_spec import DeviceSpec

pytestmark = pytest.mark.slow  # ~25 s: counters must move in real time between polls

RX = "borderwatch_interface_receive_bytes_total"
MAX32 = 4294967295
GAP = 2.0  # seconds between polls: the rate's timing error stays well under 1 %


def recording(uptime: str, counters: dict[str, str], speed_mbit: int = 10) -> str:
    """A one-interface device: system group, ifTable and the given counter records."""
    lines = [
        "1.3.6.1.2.1.1.1.0|4|borderwatch test agent",
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.32473.99",
        f"1.3.6.1.2.1.1.3.0|{uptime}",
        "1.3.6.1.2.1.1.5.0|4|counter-lab",
        "1.3.6.1.2.1.2.1.0|2|1",
        "1.3.6.1.2.1.2.2.1.1.1|2|1",
        "1.3.6.1.2.1.2.2.1.2.1|4|eth0",
        f"1.3.6.1.2.1.2.2.1.5.1|66|{speed_mbit * 1_000_000}",
        "1.3.6.1.2.1.2.2.1.7.1|2|1",
        "1.3.6.1.2.1.2.2.1.8.1|2|1",
    ]
    lines += [f"{oid}|{value}" for oid, value in counters.items()]
    return "\n".join(sorted(lines, key=lambda x: tuple(map(int, x.split("|")[0].split(".")))))


IN32, HC_IN, HIGH_SPEED = "1.3.6.1.2.1.2.2.1.10.1", "1.3.6.1.2.1.31.1.1.1.6.1", \
    "1.3.6.1.2.1.31.1.1.1.15.1"
UPTIME_WRAP_AT, COUNTER_WRAP_AT = 5, 7  # seconds after snmpsim starts

RECORDINGS = {
    # A24 + A26: ifInOctets and sysUpTime both wrap a few seconds after the start
    "wrap": recording(
        f"67:numeric|initial={MAX32 - 100 * UPTIME_WRAP_AT},rate=100,wrap=1,max={MAX32}",
        {IN32: f"65:numeric|min=0,max={MAX32},initial={MAX32 - 20000 * COUNTER_WRAP_AT},"
               "rate=20000,wrap=1"}),
    # A27: ifHCInOctets = 2^63 + k, increasing
    "hc-large": recording("67:numeric|initial=360000,rate=100", {
        HC_IN: f"70:numeric|initial={2**63 + 12345},rate=1000000,max={2**64 - 1}",
        HIGH_SPEED: "66|1000"}),
    # A25: before and after a reboot (uptime and counters drop to near 0)
    "before-reboot": recording("67|843153800", {
        HC_IN: "70:numeric|initial=1000000000000,rate=50000", HIGH_SPEED: "66|100",
        IN32: "65:numeric|initial=3000000000,rate=50000,max=4294967295,wrap=1"}),
    "after-reboot": recording("67:numeric|initial=200,rate=100", {
        HC_IN: "70:numeric|initial=1000,rate=50000", HIGH_SPEED: "66|100",
        IN32: "65:numeric|initial=1000,rate=50000,max=4294967295,wrap=1"}),
    # the ifHC columns disappear (firmware downgrade): the profile falls back to 32 bits
    "with-hc": recording("67:numeric|initial=500000,rate=100", {
        HC_IN: "70:numeric|initial=5000000000000,rate=30000", HIGH_SPEED: "66|100",
        IN32: "65:numeric|initial=2000000000,rate=30000,max=4294967295,wrap=1"}),
    "without-hc": recording("67:numeric|initial=500000,rate=100", {
        IN32: "65:numeric|initial=2000000000,rate=30000,max=4294967295,wrap=1"}),
}


def _start(tmp: Path, names: list[str]) -> Snmpsim:
    data = tmp / "data"
    data.mkdir(parents=True)
    for name in names:
        (data / f"{name}.snmprec").write_text(RECORDINGS[name] + "\n")
    return start_snmpsim(data, tmp / "cache", [("127.0.0.1", free_udp_port())],
                         probe_community=names[0], log_path=tmp / "snmpsim.log", timeout=60)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """One snmpsim serving every recording but "wrap" (whose timing is its own)."""
    sim = _start(tmp_path_factory.mktemp("counters"),
                 [n for n in RECORDINGS if n != "wrap"])
    try:
        yield sim
    finally:
        sim.stop()



class Run:
    """One device polled by a real Poller into a real NetworkState."""

    def __init__(self, sim: Snmpsim, transport: SnmpTransport) -> None:
        self.sim, self.transport = sim, transport
        self.device = DeviceSpec("dev", "site", profiles=["if-mib"], interval=GAP)
        self.poller = Poller()
        self.state = NetworkState([self.device], [])
        self.events: list[Event] = []
        self.results: list[PollResult] = []
        self.rates: list[float | None] = []  # RX rate after each poll

    async def poll(self, community: str) -> PollResult:
        settings = SessionSettings(self.sim.address, self.sim.port,
                                   community=Secret(community), timeout=3.0)
        loop = asyncio.get_running_loop()
        result = await self.poller.poll(self.device, open_session(settings, self.transport),
                                        loop.time() + 10)
        assert result.ok, result.error
        self.events += self.state.apply(result)
        self.results.append(result)
        self.rates.append(self.rx()[1])
        return result

    def rate_ok(self, expected: float, i: int = -1) -> bool:
        """The rate of poll i is `expected` ± 1 %, plus the timing uncertainty of the two
        polls it spans: state times a poll at its midpoint, the agent read the counter
        somewhere within it, so up to half of each poll's duration (a loaded 2-core box
        stretches polls). A wrong wrap or reset would be off by orders of magnitude."""
        prev, cur = self.results[i - 1], self.results[i]
        elapsed = cur.started + cur.duration / 2 - prev.started - prev.duration / 2
        slack = 0.01 + (prev.duration + cur.duration) / 2 / elapsed
        rate = self.rates[i]
        return rate is not None and abs(rate - expected) <= expected * slack

    def rx(self) -> tuple[int, float | None]:
        snap = self.state.device("dev")
        (total,) = snap.series[RX].values()
        rates = list(snap.rates.get(RX, {}).values())
        return total, rates[0] if rates else None


def raw_rx(result: PollResult) -> tuple[int, int]:
    (sample,) = [s for s in result.samples if s.metric == RX]
    return sample.value, sample.counter_bits


async def test_counter32_wrap_and_uptime_wrap(tmp_path: Path, transport) -> None:
    """A24: the rate across a Counter32 wrap is within ±1 %. A26: the 497-day sysUpTime wrap
    is not a reboot and does not reset counter handling."""
    sim = _start(tmp_path, ["wrap"])
    try:
        run = Run(sim, transport)
        raws, uptimes = [], []
        for i in range(6):
            if i:
                await asyncio.sleep(GAP)
            result = await run.poll("wrap")
            raws.append(raw_rx(result))
            uptimes.append(result.sys_uptime_ticks)
    finally:
        sim.stop()
    assert raws[0][0] > MAX32 - 20000 * COUNTER_WRAP_AT, "snmpsim started too slowly"
    assert uptimes[0] > MAX32 - 100 * UPTIME_WRAP_AT, "snmpsim started too slowly"
    assert {bits for _, bits in raws} == {32}
    wrap = next(i for i in range(1, 6) if raws[i][0] < raws[i - 1][0])  # the counter wrapped
    assert any(uptimes[i] < uptimes[i - 1] for i in range(1, 6))  # and so did sysUpTime
    assert run.rates[0] is None
    for i in range(1, 6):
        assert run.rate_ok(20000, i), run.rates
    assert run.rates[wrap] is not None
    assert run.events == [] and run.state.device("dev").reboots == 0
    total, _ = run.rx()
    assert total == raws[0][0] + sum(  # monotonic: every delta added, the wrap's included
        (raws[i][0] - raws[i - 1][0]) % 2**32 for i in range(1, 6))


async def test_counter64_near_2_to_the_63_exact(agent, transport) -> None:
    """A27: totals stay exact integers; rates match the agent's rate."""
    run = Run(agent, transport)
    raws = []
    for i in range(3):
        if i:
            await asyncio.sleep(GAP)
        result = await run.poll("hc-large")
        raws.append(raw_rx(result))
        if i:
            assert run.rate_ok(1_000_000), run.rates
    assert raws[0][0] > 2**63 and {bits for _, bits in raws} == {64}
    total, _ = run.rx()
    assert isinstance(total, int) and total == raws[-1][0]  # no float rounding anywhere


async def test_reboot_no_spike_one_interval_without_rate_one_event(agent, transport) -> None:
    """A25: counters and sysUpTime drop to near 0."""
    run = Run(agent, transport)
    for _ in range(2):
        await run.poll("before-reboot")
        await asyncio.sleep(GAP)
    before_total, _ = run.rx()
    assert run.rate_ok(50000), run.rates
    await run.poll("after-reboot")
    assert run.rx() == (before_total, None)  # no spike, no negative: no rate at all
    assert [e.kind for e in run.events] == [EventKind.REBOOTED]
    await asyncio.sleep(GAP)
    await run.poll("after-reboot")
    total, _ = run.rx()
    assert run.rate_ok(50000) and total > before_total, run.rates
    assert [e.kind for e in run.events] == [EventKind.REBOOTED]  # still just the one


async def test_switch_from_64_to_32_bit_counters_no_false_spike(agent, transport) -> None:
    run = Run(agent, transport)
    for _ in range(2):
        result = await run.poll("with-hc")
        await asyncio.sleep(GAP)
    assert raw_rx(result)[1] == 64
    total, _ = run.rx()
    assert run.rate_ok(30000), run.rates
    result = await run.poll("without-hc")
    assert raw_rx(result)[1] == 32  # the per-interface fallback kicked in
    assert run.rx() == (total, None)
    await asyncio.sleep(GAP)
    await run.poll("without-hc")
    after, _ = run.rx()
    assert run.rate_ok(30000) and after > total, run.rates
    assert run.events == []  # not a reboot


async def test_auto_profiles_are_probed_again_after_a_reboot(agent, transport) -> None:
    run = Run(agent, transport)
    run.device = DeviceSpec("dev", "site", profiles="auto", interval=GAP)
    first = await run.poll("before-reboot")
    steady = await run.poll("before-reboot")
    rebooted = await run.poll("after-reboot")  # the reboot is seen here...
    probed = await run.poll("after-reboot")  # ...and the profiles are probed again here
    assert first.requests > steady.requests
    assert rebooted.requests == steady.requests
    assert probed.requests == first.requests
    assert run.poller.auto_choice("dev") == ("if-mib",)
    assert [e.kind for e in run.events] == [EventKind.REBOOTED]
