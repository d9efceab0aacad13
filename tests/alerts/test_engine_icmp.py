"""The engine's ICMP rules on a simulated clock: SiteLatencyHigh and SiteLossHigh fire after
`for`, hold inside the hysteresis band, clear after `clear_for`; the site's value is its best
pinged device; a device whose agent is silent while ping answers is SnmpAgentDown only."""

from __future__ import annotations

import pytest

from alerts.engine import Engine
from alerts.rules import default_rules
from alerts.topology import DeviceInfo, SiteInfo, Topology
from collector.icmp.stats import IcmpRound
from collector.samples import PollResult
from collector.state import NetworkState
from collector.topology_spec import DeviceSpec, LinkSpec

T0 = 1_790_000_000.0
STEP = 30.0
LINK = LinkSpec("L1", "core", "core-sw", "eth0", "post", "post-sw", "eth0", "vsat", 2e6)


class World:
    def __init__(self) -> None:
        self.now = T0
        self.topo = Topology([SiteInfo("core", "Trung tâm", "core"),
                              SiteInfo("post", "Đồn Biên phòng Bắc Xa", "border_post")], [LINK],
                             [DeviceInfo("core-sw", "core", "switch", ("eth0",)),
                              DeviceInfo("post-sw", "post", "switch", ("eth0",)),
                              DeviceInfo("post-cam", "post", "camera", ())])
        self.state = NetworkState([DeviceSpec("core-sw", "core", interval=STEP),
                                   DeviceSpec("post-sw", "post", interval=STEP),
                                   DeviceSpec("post-cam", "post", interval=STEP, snmp=False)],
                                  [LINK], clock=lambda: self.now, icmp_window=1)
        self.engine = Engine(self.topo, default_rules())

    def step(self, post_rtt: float, *, agent: bool = True, lost: int = 0) -> set[str]:
        """One poll interval: both switches polled, the post's devices pinged (the camera
        always slower); the firing alerts after evaluation."""
        self.now += STEP
        t = self.now
        self.state.apply(PollResult("core-sw", t, 0.1, True))
        self.state.apply(PollResult("post-sw", t, 0.1, agent, error=None if agent else "timeout"))
        for device, rtt in (("post-sw", post_rtt), ("post-cam", post_rtt + 1.0)):
            self.state.apply_icmp(IcmpRound(device, 10, (rtt,) * (10 - lost), t, t))
        self.engine.evaluate(self.state, t)
        return {k.split("/")[0] for k, a in self.engine.alerts.items()
                if a.phase.value == "firing"}


def test_latency_fires_holds_in_the_band_and_clears() -> None:
    w = World()
    assert w.step(0.6) == set()
    seen = [w.step(2.0) for _ in range(11)]  # above 1.5 s: pending 5 min, then firing
    assert seen[8] == set() and seen[10] == {"SiteLatencyHigh"}
    assert all(w.step(1.2) == {"SiteLatencyHigh"} for _ in range(4))  # 1.0 < 1.2 < 1.5: held
    below = [w.step(0.8) for _ in range(12)]  # below the clear: resolves after clear_for 5m
    assert below[0] == {"SiteLatencyHigh"} and below[-1] == set()


@pytest.mark.parametrize(("lost", "fires"), [(2, True), (1, False)])
def test_loss_above_ten_per_cent(lost: int, fires: bool) -> None:
    w = World()
    for _ in range(12):
        firing = w.step(0.6, lost=lost)
    assert firing == ({"SiteLossHigh"} if fires else set())


def test_agent_silent_ping_answers_is_a_device_warning_only() -> None:
    w = World()
    w.step(0.6)
    for _ in range(5):
        firing = w.step(0.6, agent=False)
    assert firing == {"SnmpAgentDown"}
    assert w.engine.last_analysis is not None
    assert dict(w.engine.last_analysis.status) == {"core": "up", "post": "up"}
