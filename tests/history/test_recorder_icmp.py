"""History follows reachability, not the SNMP agent alone: a post whose switch stops
answering SNMP while it answers ping stays up; silent to both, it goes down."""

from __future__ import annotations

from borderwatch.alerts.topology import DeviceInfo, SiteInfo, Topology
from borderwatch.collector.icmp.stats import IcmpRound
from borderwatch.collector.samples import PollResult
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec
from borderwatch.history.recorder import Recorder

T0 = 1_790_000_000.0
LINK = LinkSpec("L1", "core", "core-sw", "eth0", "post", "post-sw", "eth0")


def site_states(ops: list[tuple]) -> list[tuple[str, str, float]]:
    """(site, state, since) of every site change written."""
    return [(op[2], op[3], op[5] - T0) for op in ops if op[0] == "state" and op[1] == "site"]


def test_agent_silent_while_ping_answers_keeps_the_site_up() -> None:
    now = [T0]
    topo = Topology([SiteInfo("core", "Trung tâm", "core"),
                     SiteInfo("post", "Đồn Biên phòng Thanh Lòa", "border_post")], [LINK],
                    [DeviceInfo("core-sw", "core", "switch", ("eth0",)),
                     DeviceInfo("post-sw", "post", "switch", ("eth0",))])
    state = NetworkState([DeviceSpec("core-sw", "core"), DeviceSpec("post-sw", "post")],
                         [LINK], clock=lambda: now[0])
    ops: list[tuple] = []
    recorder = Recorder.from_topology(topo, ops.append)
    for step, (agent, ping) in enumerate([(True, True), (False, True), (False, False)]):
        now[0] = t = T0 + 60 * step
        state.apply(PollResult("core-sw", t, 0.1, True))
        state.apply(PollResult("post-sw", t, 0.1, agent, error=None if agent else "timeout"))
        state.apply_icmp(IcmpRound("post-sw", 3, (0.6,) if ping else (), t, t))
        recorder.observe(state.device_snapshots(), state.link_snapshots(), t)
    # the agent went silent at 60 s: still up; ping silent too at 120 s: down
    assert site_states(ops) == [("core", "up", 0), ("post", "up", 0), ("post", "down", 120)]
