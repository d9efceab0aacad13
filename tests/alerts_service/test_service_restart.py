"""The service with a webhook receiver, restarted in the middle of an incident: the
engine state file brings the incident back, so no second page, and the resolve still
comes (once) after recovery. Real snmpd agents, hub blackholed by the T2 proxy."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alert_network import ENV, build
from hook_receiver import Receiver
from runtime_helpers import fetch, running_service, wait_until
from servers import Snmpd

from borderwatch.alerts.engine import Engine
from borderwatch.alerts.notification import Notification
from borderwatch.alerts.rules import KnownIds, RuleSet, load_rules
from borderwatch.alerts.topology import Topology
from borderwatch.collector.inventory import Inventory, load_inventory
from borderwatch.collector.profiles import metric_catalog
from borderwatch.collector.samples import PollResult, Sample
from borderwatch.collector.scheduler import first_tick, stable_offset
from borderwatch.collector.state import NetworkState
from borderwatch.service import device_spec, link_specs


def statuses(recv: Receiver) -> list[str]:
    return [b["status"] for b in recv.ok("/hook/tok")]


async def test_restart_mid_incident_neither_repages_nor_forgets(tmp_path: Path,
                                                                snmpd: Snmpd) -> None:
    recv = await Receiver().start()
    net = await build(tmp_path, snmpd.port, {"webhooks": [
        {"name": "ops", "url": recv.url("/hook/tok"), "language": "vi", "timeout": 2}]})
    state_file = tmp_path / "state" / "state.json"
    try:
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            await wait_until(lambda: all(s.up for s in service.state.device_snapshots()), 20,
                             "every device answering")
            net.cut("hub-sw")
            net.cut("post-sw")
            await wait_until(lambda: statuses(recv) == ["firing"], 30, "the page")
            key = service.alerts.sent[0].incident_key
        saved = json.loads(state_file.read_text())
        assert [i["key"] for i in saved["incidents"]] == [key]
        async with running_service(net.inventory, ENV, base_dir=tmp_path) as service:
            assert [i.key for i in service.alerts.engine.open_incidents()] == [key]
            # many ticks and polls with the hub still dark: counted, not slept, so that a
            # loaded machine (fewer of them in a given time) checks as much as a quiet one
            ticks, polls = service.alerts.evaluations, service.state.device("hub-sw").polls
            await wait_until(lambda: service.alerts.evaluations >= ticks + 10
                             and service.state.device("hub-sw").polls >= polls + 4, 120,
                             "10 engine ticks and 4 polls of the dark hub")
            assert service.alerts.sent == [] and statuses(recv) == ["firing"]
            assert [i.key for i in service.alerts.engine.open_incidents()] == [key]
            code, _, body = await fetch(f"{service.http.url}/api/status")
            assert code == 200
            (shown,) = json.loads(body)["alerts"]
            assert (shown["key"], shown["status"], shown["root_cause"]) == \
                (key, "firing", ["site:hub"])
            assert set(shown["cut_off"]) == {"hub", "post"} and shown["notified"] == "firing"
            net.cut("hub-sw", False)
            net.cut("post-sw", False)
            await wait_until(lambda: statuses(recv) == ["firing", "resolved"], 30,
                             "the resolve")
            await asyncio.sleep(2)
        assert statuses(recv) == ["firing", "resolved"]
        bodies = recv.ok()
        assert bodies[0]["dedup_key"] != bodies[1]["dedup_key"]
        assert bodies[1]["incident_key"] == key
        assert bodies[0]["text"].startswith("[NGHIÊM TRỌNG]")  # the receiver's language: vi
        assert json.loads(state_file.read_text())["incidents"] == []
    finally:
        net.close()
        await recv.stop()


# ----------------------------------------------------------------------------- replay
# The same three sites, rules and timing as above, replayed on a simulated clock so that
# the order of polls and engine ticks is fixed: the real NetworkState and Engine, fed the
# PollResults the poller returns (interfaces up on success, a timeout while cut off), at
# the wall-clock phases the real scheduler gives these devices (hub-sw at .33 s of every
# second, core-sw at .67 s, post-sw at .98 s).

INTERVAL = 1.0  # the inventory's defaults.interval
TICK = 0.5  # the inventory's alerts.tick
IF_LABELS = {name: (("ifAlias", ""), ("ifDescr", name), ("ifIndex", str(i)), ("ifName", name))
             for i, name in enumerate(("eth0", "lo"), start=1)}


def poll_result(device_id: str, at: float, answers: bool) -> PollResult:
    """What the poller returns for one of the test's snmpd devices."""
    if not answers:
        return PollResult(device_id, at, 0.3, ok=False, error="timeout: no response")
    samples = [Sample(metric, labels, value) for labels in IF_LABELS.values()
               for metric, value in (("borderwatch_interface_up", 1),
                                     ("borderwatch_interface_oper_status", 1),
                                     ("borderwatch_interface_admin_status", 1))]
    return PollResult(device_id, at, 0.01, ok=True, samples=samples,
                      sys_uptime_ticks=int(at * 100), profile="system+if-mib")


class Replay:
    """One collector process: a fresh NetworkState, an engine loaded from `saved` (the
    state file's text) or empty, polls at each device's phase, ticks every TICK s."""

    def __init__(self, inventory: Inventory, rules: RuleSet, topology: Topology,
                 start: float, saved: str | None) -> None:
        self.now = start
        effective = [inventory.effective(d) for d in inventory.devices]
        self.state = NetworkState([device_spec(e) for e in effective], link_specs(inventory),
                                  clock=lambda: self.now)
        self.engine = Engine(topology, rules) if saved is None else \
            Engine.load_json(topology, rules, saved)
        # wall = monotonic here: the first tick at or after `start` on the device's phase
        self.next_poll = {e.device_id: first_tick(start, start,
                                                  stable_offset(e.device_id, INTERVAL), INTERVAL)
                          for e in effective}
        self.next_tick = start + TICK  # the service's first evaluation, one tick after start
        self.sent: list[tuple[float, Notification]] = []
        self.statuses: list[dict[str, str]] = []  # site statuses, one per evaluation

    def run_until(self, end: float, cut_off: set[str]) -> None:
        """Advance to `end` with the devices in `cut_off` unreachable."""
        while True:
            device = min(self.next_poll, key=lambda d: self.next_poll[d])
            at = min(self.next_poll[device], self.next_tick)
            if at > end:
                self.now = end
                return
            self.now = at
            if at == self.next_tick:
                self.sent += [(at, n) for n in self.engine.evaluate(self.state, at)]
                assert self.engine.last_analysis is not None
                self.statuses.append(dict(self.engine.last_analysis.status))
                self.next_tick += TICK
            else:
                self.state.apply(poll_result(device, at, device not in cut_off))
                self.next_poll[device] += INTERVAL


async def test_restart_before_first_poll_keeps_the_cut_off_site_isolated(
        tmp_path: Path) -> None:
    """The flaky failure of the test above, replayed deterministically. The hub's node
    fails while post-sw is the next device due (post goes dark one poll before the hub:
    'down', then 'isolated'); the collector restarts while post-sw is again the next due,
    and the repair comes just before hub-sw's poll (the hub answers first: post 'down' until
    its own poll). The restart must change nothing about reachability, and the repair must
    bring the resolve after clear_for, as it does without a restart."""
    net = await build(tmp_path, 161, {})  # (only the inventory is used: no agent is asked)
    net.close()
    inventory = load_inventory(net.inventory, env=ENV)
    topology = Topology.from_inventory(inventory)
    rules = load_rules(tmp_path / "rules.yaml", known=KnownIds.from_topology(topology),
                       metrics=metric_catalog())
    t0 = 1_795_700_000.0
    first = Replay(inventory, rules, topology, t0, None)
    first.run_until(t0 + 10.5, set())
    first.run_until(t0 + 20.5, {"hub-sw", "post-sw"})
    assert [(n.status, n.reason) for _, n in first.sent] == [("firing", "new")]
    assert first.statuses[-1] == {"core": "up", "hub": "down", "post": "isolated"}
    key = first.sent[0][1].incident_key
    saved = first.engine.dump_json()  # what close() writes to the state file

    second = Replay(inventory, rules, topology, t0 + 20.55, saved)
    repaired = t0 + 27.0
    second.run_until(repaired, {"hub-sw", "post-sw"})
    assert second.sent == []
    # nothing new was learned about the post by restarting: still isolated behind the hub
    assert {s["post"] for s in second.statuses} == {"isolated"}
    second.run_until(t0 + 45.0, set())
    assert [(n.status, n.incident_key) for _, n in second.sent] == [("resolved", key)]
    # both devices answer within an interval of the repair; then clear_for (2 s) and a tick
    assert second.sent[0][0] <= repaired + INTERVAL + 2.0 + TICK
