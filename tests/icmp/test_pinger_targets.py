"""The pinger's schedule against the kernel's real ICMP on loopback, in this process: a new
target list (hot reload) takes over, a target that left is not reported again, and an
empty list idles until targets arrive. Raw sockets: root or CAP_NET_RAW."""

from __future__ import annotations

import asyncio
import os

import pytest

from borderwatch.collector.icmp import IcmpRound, IcmpSettings, Pinger, PingTarget

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")
SETTINGS = IcmpSettings(interval=0.2, count=2, spacing=0.01, timeout=0.5, socket="raw")


class Rounds(list[IcmpRound]):
    """The rounds reported so far, and a way to wait for more."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def add(self, r: IcmpRound) -> None:
        self.append(r)
        self.arrived.set()

    async def wait(self, device: str, n: int, within: float) -> None:
        async def enough() -> None:
            while sum(r.device_id == device for r in self) < n:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(enough(), within)


def test_a_new_target_list_takes_over_and_a_removed_target_falls_silent() -> None:
    async def scenario() -> tuple[Rounds, int]:
        rounds = Rounds()
        pinger = Pinger([PingTarget("a", "127.0.0.61")], SETTINGS, rounds.add)
        pinger.start()
        try:
            await rounds.wait("a", 2, 30)
            pinger.set_targets([PingTarget("b", "127.0.0.62")])
            switched = len(rounds)
            await rounds.wait("b", 3, 30)
        finally:
            await pinger.stop()
        return rounds, switched

    rounds, switched = asyncio.run(scenario())
    later = rounds[switched:]
    # at most the round of "a" already in flight at the switch... and it is not reported
    assert [r.device_id for r in later] == ["b"] * len(later)
    assert all(r.sent == 2 and len(r.rtts) == 2 for r in rounds)


def test_an_empty_pinger_idles_until_a_reload_brings_targets() -> None:
    async def scenario() -> Rounds:
        rounds = Rounds()
        pinger = Pinger([], SETTINGS, rounds.add)
        pinger.start()
        try:
            await asyncio.sleep(0.5)
            assert rounds == []
            pinger.set_targets([PingTarget("c", "127.0.0.63")])
            await rounds.wait("c", 2, 30)
        finally:
            await pinger.stop()
        return rounds

    assert {r.device_id for r in asyncio.run(scenario())} == {"c"}
