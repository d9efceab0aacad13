"""Engine fed by the real collector: snmpsim agents → Poller → NetworkState → Engine.

The session snmpsim serves recorded dumps. In them, Cisco C3560 Gi0/49 and Huawei S5720
GigabitEthernet0/0/1 are up and S5720 GigabitEthernet0/0/3 is down, so a link defined on
that port is reported down by a real agent. A device polled with a community no dump
answers to times out like a dead device. Time for the engine advances by one poll
interval per cycle (fake); the polls themselves are real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from servers import Snmpsim

from borderwatch.alerts.engine import Engine
from borderwatch.alerts.notification import Notification
from borderwatch.alerts.rules import default_rules
from borderwatch.alerts.topology import DeviceInfo, SiteInfo, Topology
from borderwatch.collector.poller import Poller
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.factory import open_session
from borderwatch.collector.snmp.settings import SessionSettings
from borderwatch.collector.snmp.transport import SnmpTransport
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

INTERVAL = 30.0
DUMPS = {"core-sw": "network/switch/cisco-c3560", "hub-sw": "network/router/huawei-s5720",
         "hub-ups": "UPS/eaton-93e-80", "post-sw": "no-such-dump"}
PROFILES = {"core-sw": ("if-mib",), "hub-sw": ("if-mib",), "hub-ups": ("ups-mib",),
            "post-sw": ("if-mib",)}
SITES = [SiteInfo("core", "Trung tâm Lạng Sơn", "core", commune="phường Đông Kinh"),
         SiteInfo("hub", "Nút truyền dẫn Đồng Đăng", "hub", commune="xã Đồng Đăng"),
         SiteInfo("post", "Đồn Biên phòng Thanh Lòa", "border_post", commune="xã Ba Sơn")]
ROLES = {"core-sw": ("core", "switch"), "hub-sw": ("hub", "switch"),
         "hub-ups": ("hub", "ups"), "post-sw": ("post", "switch")}
L1 = LinkSpec("L1", "core", "core-sw", "Gi0/49", "hub", "hub-sw", "GigabitEthernet0/0/1",
              "fiber", 1e9)
L2 = LinkSpec("L2", "hub", "hub-sw", "GigabitEthernet0/0/3", "post", "post-sw", "Gi0/49",
              "fiber", 1e9)


@pytest.fixture
async def transport() -> AsyncIterator[SnmpTransport]:
    t = await SnmpTransport.create(local_address="127.0.0.1")
    try:
        yield t
    finally:
        await t.close()


class Collector:
    """The real collector pipeline for a few devices, with the engine on top."""

    def __init__(self, sim: Snmpsim, transport: SnmpTransport, devices: list[str],
                 links: list[LinkSpec]) -> None:
        # as in the inventory, a device declares the interfaces its links end on
        declared = [DeviceInfo(d, *ROLES[d], tuple(
            iface for k in links for dev, iface in ((k.a_device, k.a_interface),
                                                    (k.b_device, k.b_interface)) if dev == d))
            for d in devices]
        sites = {d.site_id for d in declared}
        self.topology = Topology([s for s in SITES if s.site_id in sites], links, declared)
        self.specs = [DeviceSpec(d, self.topology.device_site(d) or "", profiles=PROFILES[d],
                                 interval=INTERVAL) for d in devices]
        self.state = NetworkState(self.specs, links)  # one LinkSpec serves both
        self.engine = Engine(self.topology, default_rules())
        # the session snmpsim's community is the dump's relative path; no dump answers to
        # "no-such-dump", so that device times out
        assert {DUMPS[d] for d in devices} - {"no-such-dump"} <= set(sim.communities)
        self.sessions = {spec.device_id: open_session(SessionSettings(
            sim.address, sim.port, community=Secret(DUMPS[spec.device_id]),
            # generous for live agents (a loaded box), short for the one that never answers
            timeout=0.3 if DUMPS[spec.device_id] == "no-such-dump" else 3.0,
            retries=0 if DUMPS[spec.device_id] == "no-such-dump" else 1), transport)
            for spec in self.specs}
        self.poller = Poller()
        self.t0 = time.time()
        self.sent: list[Notification] = []

    async def cycle(self, k: int, poll: bool = True) -> list[Notification]:
        """Poll every device once (for real), then evaluate at t0 + k intervals.

        With poll=False only the engine's clock moves on (the service evaluates on a
        tick between polls too; the state stays fresh for three real intervals)."""
        loop = asyncio.get_running_loop()
        if poll:
            results = await asyncio.gather(*(
                self.poller.poll(spec, self.sessions[spec.device_id], loop.time() + 20)
                for spec in self.specs))
            for result in results:
                self.state.apply(result)
        out = self.engine.evaluate(self.state, self.t0 + k * INTERVAL)
        self.sent += out
        return out


async def test_quiet_real_network_sends_nothing(snmpsim_dumps: Snmpsim, transport) -> None:
    run = Collector(snmpsim_dumps, transport, ["core-sw", "hub-sw", "hub-ups"], [L1])
    for k in range(4):  # 90 s: past every `for` of the reachability rules
        await run.cycle(k, poll=k < 2)
    assert run.sent == []
    assert run.state.device("hub-ups").series["borderwatch_ups_on_battery"]  # really polled
    assert {s.link_id: s.state for s in run.state.link_snapshots()} == {"L1": "up"}
    assert run.engine.last_analysis is not None
    assert dict(run.engine.last_analysis.status) == {"core": "up", "hub": "up"}
    assert run.engine.open_incidents() == []


async def test_link_down_reported_by_a_real_agent_isolates_the_post(snmpsim_dumps: Snmpsim,
                                                                    transport) -> None:
    """hub-sw reports GigabitEthernet0/0/3 down and post-sw does not answer: one page for
    the post with L2 as root cause, the link and device alerts inside it, nothing else."""
    run = Collector(snmpsim_dumps, transport, ["core-sw", "hub-sw", "hub-ups", "post-sw"],
                    [L1, L2])
    first = await run.cycle(0)
    assert [(n.status, n.reason, n.severity) for n in first] == [("firing", "new",
                                                                  "critical")]
    page = first[0]
    assert [c.element for c in page.root_cause] == ["link:L2"]
    assert [s.site_id for s in page.cut_off] == ["post"]
    assert page.annotations["summary_vi"].startswith(
        "[NGHIÊM TRỌNG] Mất liên lạc Đồn Biên phòng Thanh Lòa (xã Ba Sơn). Nguyên nhân gốc: "
        "mất tuyến cáp quang Đồng Đăng – Thanh Lòa (L2).")
    for k in range(1, 4):  # 90 s: LinkDown and DeviceUnreachable fire, as members
        assert await run.cycle(k, poll=k < 2) == []
    (incident,) = run.engine.open_incidents()
    assert {"LinkDown/link=L2", "DeviceUnreachable/device=post-sw",
            "SiteIsolated/site=post"} <= set(incident.seen_alerts)
    assert run.state.device("post-sw").up is False
    assert run.state.device("hub-sw").up is True



