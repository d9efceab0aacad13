"""The engine's ICMP rules on a simulated clock: SiteLatencyHigh and SiteLossHigh fire after
`for`, hold inside the hysteresis band, clear after `clear_for`; the site's value is its best
pinged device; a device whose agent is silent while ping answers is SnmpAgentDown only."""

from __future__ import annotations

import pytest

from borderwatch.alerts.engine import Engine
from borderwatch.alerts.rules import default_rules
from borderwatch.alerts.topology import DeviceInfo, SiteInfo, Topology
from borderwatch.collector.icmp.stats import IcmpRound
from borderwatch.collector.samples import PollResult
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

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


# ----------------------------------------------------------------------------- degraded links
# core ==L1== hub ==L2== post: a slow or lossy hop is paged once, naming the link, and the
# degraded-path alerts of the sites behind it are members of that page (issue 13, point 1).

CHAIN = [LinkSpec("L1", "core", "core-sw", "eth0", "hub", "hub-sw", "eth0", "microwave", 1e8),
         LinkSpec("L2", "hub", "hub-sw", "eth1", "post", "post-sw", "eth0", "vsat", 2e6)]


class Chain:
    def __init__(self) -> None:
        self.now = T0
        topo = Topology([SiteInfo("core", "Trung tâm", "core"),
                         SiteInfo("hub", "Trạm Thất Khê", "hub", name_en="That Khe hub"),
                         SiteInfo("post", "Đồn Biên phòng Bắc Xa", "border_post",
                                  name_en="Bac Xa border post")], CHAIN,
                        [DeviceInfo("core-sw", "core", "switch", ("eth0",)),
                         DeviceInfo("hub-sw", "hub", "switch", ("eth0", "eth1")),
                         DeviceInfo("post-sw", "post", "switch", ("eth0",))])
        self.state = NetworkState([DeviceSpec(d, s, interval=STEP) for d, s in
                                   (("core-sw", "core"), ("hub-sw", "hub"),
                                    ("post-sw", "post"))], CHAIN, clock=lambda: self.now,
                                  icmp_window=1)
        self.engine = Engine(topo, default_rules())
        self.sent: list = []

    def step(self, rtt: dict[str, float], lost: dict[str, int] | None = None) -> set[str]:
        """One interval: every switch polled and pinged (10 echoes, `lost` of them lost)."""
        self.now += STEP
        t = self.now
        for device in ("core-sw", "hub-sw", "post-sw"):
            self.state.apply(PollResult(device, t, 0.1, True))
            n = 10 - (lost or {}).get(device, 0)
            self.state.apply_icmp(IcmpRound(device, 10, (rtt.get(device, 0.001),) * n, t, t))
        self.sent += self.engine.evaluate(self.state, t)
        return {k for k, a in self.engine.alerts.items() if a.phase.value == "firing"}


def test_a_slow_hop_pages_once_naming_the_link_with_hysteresis() -> None:
    w = Chain()
    healthy = {"hub-sw": 0.05, "post-sw": 0.65}  # VSAT: 0.6 s added by L2, below 1 s
    for _ in range(12):
        assert w.step(healthy) == set()
    slow = {"hub-sw": 0.05, "post-sw": 2.0}  # L2 adds 1.95 s; post's path 2 s > 1.5 s
    firing = [w.step(slow) for _ in range(12)]
    assert firing[-1] == {"LinkLatencyHigh/link=L2", "SiteLatencyHigh/site=post"}
    (page,) = w.sent  # one page: the link, with the site behind it as a member
    assert page.status == "firing" and page.labels["alertname"] == "LinkLatencyHigh"
    assert [c.ident for c in page.root_cause] == ["L2"]
    assert {a.rule for a in page.alerts} == {"LinkLatencyHigh", "SiteLatencyHigh"}
    assert page.annotations["summary_en"].startswith(
        "[WARNING] VSAT link Tram That Khe–Bac Xa (L2) degraded: adds 1950 ms of ping round trip "
        "towards Bac Xa border post"), page.annotations["summary_en"]
    assert "(L2) suy giảm: tăng trễ ping thêm 1950 ms tới Đồn Biên phòng Bắc Xa" in \
        page.annotations["summary_vi"]
    # 0.7 s < 0.85 s added < 1 s: the link holds (hysteresis); the site's 0.9 s clears it
    band = {"hub-sw": 0.05, "post-sw": 0.9}
    held = [w.step(band) for _ in range(14)]
    assert all("LinkLatencyHigh/link=L2" in f for f in held)
    assert "SiteLatencyHigh/site=post" not in held[-1]
    assert len(w.sent) == 1  # the site's member alert resolving pages nobody
    back = [w.step(healthy) for _ in range(12)]  # 0.6 s < 0.7 s: resolves after clear_for
    assert back[0] and back[-1] == set()
    assert [(n.status, n.labels["alertname"]) for n in w.sent[1:]] == \
        [("resolved", "LinkLatencyHigh")]


def test_loss_on_the_first_hop_is_that_link_not_the_one_behind_it() -> None:
    w = Chain()
    rtt = {"hub-sw": 0.05, "post-sw": 0.1}
    lossy = {"hub-sw": 2, "post-sw": 2}  # 20 % from L1 on: hub and post both behind it
    for _ in range(12):
        firing = w.step(rtt, lossy)
    assert firing == {"LinkLossHigh/link=L1", "SiteLossHigh/site=hub",
                      "SiteLossHigh/site=post"}  # L2 adds nothing: not degraded
    (page,) = w.sent
    assert [c.ident for c in page.root_cause] == ["L1"]
    assert "adds 20% ping loss towards That Khe hub" in page.annotations["summary_en"]
    assert "mất thêm 20% gói ping tới Trạm Thất Khê" in page.annotations["summary_vi"]


def test_a_site_with_no_degraded_link_still_pages_for_its_path() -> None:
    w = Chain()
    # the hub's switch does not answer ping: no link value, the post's site alert alone
    for _ in range(12):
        w.now += STEP
        t = w.now
        for device in ("core-sw", "hub-sw", "post-sw"):
            w.state.apply(PollResult(device, t, 0.1, True))
        w.state.apply_icmp(IcmpRound("core-sw", 10, (0.001,) * 10, t, t))
        w.state.apply_icmp(IcmpRound("post-sw", 10, (2.0,) * 10, t, t))
        w.sent += w.engine.evaluate(w.state, t)
    (page,) = w.sent
    assert page.labels["alertname"] == "SiteLatencyHigh"
