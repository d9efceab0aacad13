"""A simulated Lạng Sơn network for engine scenarios: faults in, PollResults out, fake clock.

Not a mock of the engine's inputs: the world has its own, deliberately simple physics —
devices reachable by breadth-first search from the core over live links and site LANs,
interface oper status from the far end's power and the cable, radio levels, UPS and DC
plants with a battery that drains in real (simulated) time — and produces the same
`PollResult`s the poller would. They go through the real `collector.state.NetworkState`
(link state from both ends, staleness) into the engine, polled with a per-device stagger
as the scheduler does, and the engine is evaluated on a fixed tick as the service will.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from borderwatch.alerts.engine import Engine
from borderwatch.alerts.notification import Notification
from borderwatch.alerts.rules import RuleSet
from borderwatch.alerts.topology import Topology
from borderwatch.collector.inventory import Inventory
from borderwatch.collector.samples import Kind, PollResult, Sample
from borderwatch.collector.state import NetworkState
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

# 2026-11-26 14:00 in Vietnam (07:00 UTC): messages show local time
T0 = datetime.datetime(2026, 11, 26, 7, 0, tzinfo=datetime.UTC).timestamp()
INTERVAL = 30.0
TICK = 5.0  # engine evaluation period


@dataclass
class Power:
    """A site's power: mains on/off and a battery that drains while on battery."""

    mains: bool = True
    runtime: float = 4 * 3600.0  # seconds left at the present load
    on_battery_since: float | None = None


@dataclass
class World:
    """The network's physical truth; tests change it between (simulated) seconds."""

    inventory: Inventory
    topology: Topology
    cut: set[str] = field(default_factory=set)  # links whose cable/radio path is broken
    dead_devices: set[str] = field(default_factory=set)  # powered off / crashed
    mute_agents: set[str] = field(default_factory=set)  # forwarding, but SNMP silent
    fade_db: dict[str, float] = field(default_factory=dict)  # device -> RSL drop (dB)
    power: dict[str, Power] = field(default_factory=dict)  # site -> power
    boot_time: dict[str, float] = field(default_factory=dict)  # device -> last boot
    # device -> problem kinds its polls report (a looping walk, a bound, refused values)
    incomplete: dict[str, dict[str, int]] = field(default_factory=dict)

    def site_powered(self, site: str) -> bool:
        p = self.power.get(site)
        return p is None or p.mains or p.runtime > 0

    def alive(self, device: str) -> bool:
        site = self.topology.device_site(device)
        return device not in self.dead_devices and self.site_powered(site or "")

    def link_carries(self, link_id: str) -> bool:
        link = self.topology.links[link_id]
        return link_id not in self.cut and self.alive(link.a_device) and \
            self.alive(link.b_device)

    def reachable_devices(self) -> set[str]:
        """Devices the poller at the core can reach: BFS over site LANs and live links."""
        topo = self.topology
        seen: set[str] = set()
        frontier = [d for core in topo.cores for d in topo.site_devices(core) if self.alive(d)]
        seen.update(frontier)
        while frontier:
            dev = frontier.pop()
            site = topo.device_site(dev) or ""
            nxt = [d for d in topo.site_devices(site) if self.alive(d)]
            nxt += [(lk.b_device if lk.a_device == dev else lk.a_device)
                    for lk in topo.links_of_device(dev) if self.link_carries(lk.link_id)]
            for d in nxt:
                if d not in seen:
                    seen.add(d)
                    frontier.append(d)
        return seen

    def advance_power(self, dt: float) -> None:
        for p in self.power.values():
            if not p.mains:
                p.runtime = max(0.0, p.runtime - dt)

    def fail_mains(self, site: str, now: float, runtime: float) -> None:
        self.power[site] = Power(mains=False, runtime=runtime, on_battery_since=now)

    def restore_mains(self, site: str, now: float) -> None:
        p = self.power.setdefault(site, Power())
        if p.runtime <= 0:  # the site went dark: its devices boot again
            for d in self.topology.site_devices(site):
                self.boot_time[d] = now
        p.mains, p.on_battery_since, p.runtime = True, None, 4 * 3600.0

    # ------------------------------------------------------------------ polls

    def poll(self, device: str, now: float, reachable: set[str]) -> PollResult:
        """What the poller would return for this device now."""
        if device not in reachable or device in self.mute_agents:
            return PollResult(device, now, 2.0, ok=False, error="timeout")
        uptime = int((now - self.boot_time.get(device, T0 - 86400 * 40)) * 100)
        kinds = dict(self.incomplete.get(device, {}))
        return PollResult(device, now, 0.05, ok=True, samples=self._samples(device, now),
                          sys_uptime_ticks=uptime, profile="test", problem_kinds=kinds,
                          problems=[f"walk of 1.3.6.1.2.1.2.2.1.8: {k}" for k in kinds])

    def _samples(self, device: str, now: float) -> list[Sample]:
        topo = self.topology
        info = topo.devices[device]
        out: list[Sample] = []
        site = info.site_id
        for i, name in enumerate(info.interfaces, start=1):
            link = topo.link_at(device, name)
            up = link is None or self.link_carries(link.link_id)
            labels = (("ifAlias", ""), ("ifDescr", name), ("ifIndex", str(i)),
                      ("ifName", name))
            speed = 125_000_000.0  # bytes/s (1 Gbit/s)
            # traffic: 10 % of the link's capacity (a VSAT link carries 2 Mbit/s, not 1 Gbit/s)
            rate = (link.capacity_bps if link and link.capacity_bps else 1e9) / 8 * 0.1
            octets = int((now - T0 + 86400) * rate) if up else int(86400 * rate)
            out += [Sample("borderwatch_interface_up", labels, 1 if up else 0),
                    Sample("borderwatch_interface_oper_status", labels, 1 if up else 2),
                    Sample("borderwatch_interface_admin_status", labels, 1),
                    Sample("borderwatch_interface_speed_bytes", labels, speed),
                    Sample("borderwatch_interface_receive_bytes_total", labels, octets,
                           Kind.COUNTER, 64),
                    Sample("borderwatch_interface_transmit_bytes_total", labels, octets,
                           Kind.COUNTER, 64),
                    Sample("borderwatch_interface_receive_errors_total", labels, 3,
                           Kind.COUNTER, 32)]
            if name == "radio-1":
                rl = (("ifIndex", str(i)), ("radio", name))
                nominal = -45.0
                signal = nominal - self.fade_db.get(device, 0.0) if up else -99.0
                out += [Sample("borderwatch_radio_signal_dbm", rl, signal),
                        Sample("borderwatch_radio_nominal_signal_dbm", rl, nominal),
                        Sample("borderwatch_radio_snr_db", rl,
                               35.0 - self.fade_db.get(device, 0.0))]
            if name == "ath0":
                rl = (("radio", "1"), ("ssid", "bw"))
                out.append(Sample("borderwatch_radio_signal_dbm", rl,
                                  -64.0 - self.fade_db.get(device, 0.0) if up else -99.0))
            if name == "sat-1":
                out.append(Sample("borderwatch_vsat_receive_esno_db", (),
                                  9.5 - self.fade_db.get(device, 0.0)))
        power = self.power.get(site, Power())
        if info.role == "ups":
            on_batt = not power.mains
            out += [Sample("borderwatch_ups_on_battery", (), 1 if on_batt else 0),
                    Sample("borderwatch_ups_seconds_on_battery", (),
                           now - power.on_battery_since if on_batt and power.on_battery_since
                           else 0),
                    Sample("borderwatch_ups_battery_runtime_seconds", (), power.runtime)]
        if info.role == "dc_power":
            out += [Sample("borderwatch_power_mains_ok", (), 1 if power.mains else 0),
                    Sample("borderwatch_power_battery_runtime_seconds", (), power.runtime)]
        return out


@dataclass
class Sent:
    """A notification and when the fake clock saw it."""

    at: float
    notification: Notification


class Run:
    """Drives a World through NetworkState and an Engine on a fake clock."""

    def __init__(self, inventory: Inventory, topology: Topology, rules: RuleSet,
                 engine: Engine | None = None, start: float = T0) -> None:
        self.world = World(inventory, topology)
        self.now = start
        self.state = NetworkState(
            [DeviceSpec(d.id, s.id, interval=INTERVAL) for s in inventory.sites
             for d in s.devices],
            [LinkSpec(lk.id, lk.a.site, lk.a.device, lk.a.interface, lk.b.site,
                      lk.b.device, lk.b.interface, lk.medium, lk.capacity_mbps * 1e6,
                      lk.capacity_up_mbps * 1e6 if lk.capacity_up_mbps else None)
             for lk in inventory.links],
            clock=lambda: self.now)
        self.engine = engine or Engine(topology, rules)
        self.sent: list[Sent] = []
        devices = [d.id for s in inventory.sites for d in s.devices]
        # staggered first polls across one interval, as the scheduler spreads them
        self._queue = [(start + INTERVAL * i / len(devices), i, d)
                       for i, d in enumerate(devices)]
        heapq.heapify(self._queue)
        self._next_tick = start
        self._reachable: set[str] | None = None

    def run(self, seconds: float, at: Iterable[tuple[float, Callable[[World, float], None]]]
            = ()) -> list[Sent]:
        """Advance `seconds`, applying world changes at the given offsets from now."""
        end = self.now + seconds
        changes = sorted(((self.now + off, i, fn) for i, (off, fn) in enumerate(at)),
                         key=lambda c: (c[0], c[1]))
        first = len(self.sent)
        while True:
            t_poll = self._queue[0][0]
            t_change = changes[0][0] if changes else float("inf")
            t = min(t_poll, self._next_tick, t_change)
            if t > end:
                break
            self.world.advance_power(t - self.now)
            self.now = t
            if t == t_change:
                _, _, fn = changes.pop(0)
                fn(self.world, t)
                self._reachable = None
            elif t == t_poll:
                _, i, device = heapq.heappop(self._queue)
                if self._reachable is None:
                    self._reachable = self.world.reachable_devices()
                self.state.apply(self.world.poll(device, t, self._reachable))
                heapq.heappush(self._queue, (t + INTERVAL, i, device))
            else:
                self._reachable = None  # power drains: recompute at the next poll
                self.sent += [Sent(t, n) for n in self.engine.evaluate(self.state, t)]
                self._next_tick = t + TICK
        self.world.advance_power(end - self.now)
        self.now = end
        return self.sent[first:]
