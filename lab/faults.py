"""Fault injection into a running lab: cut links, mains failure, radio fades, reboots, kills.

snmpsim cannot change a value at runtime, so a fault rewrites the affected devices' data
files (their normal records, with the faults' overrides applied) and restarts those agents
only: each is silent for about a second while it restarts (a reboot is silent for `down`
seconds on purpose). Moving values stay continuous across a restart: every linear `numeric`
record (octet counters, sysUpTime) is rebased to the value it has reached by then, minus
the time its link was cut; a cut freezes the counters of both link ends at their value.
Sine-shaped levels (RSL/SNR wobble) restart their phase, a jump of at most a few tenths.

When the inventory has a core site, agents of sites that no working link joins to a core
(a cut, or a link ending on a stopped agent) are stopped as well: the poller at the core
could not reach them either (lab/README-faults.md).

All times are wall-clock (time.time()) because snmpsim's `numeric` module counts from
its process start with time.time().
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from borderwatch.collector.inventory import Inventory
from borderwatch.lab.agents import Agent, Lab
from borderwatch.lab.devices import LabError
from borderwatch.lab.dumps import (
    IF_DESCR,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_IN_OCTETS,
    IF_NAME,
    IF_OPER_STATUS,
    IF_OUT_OCTETS,
    UBNT_SIGNAL,
    Record,
    build_records,
    record_text,
)

log = logging.getLogger(__name__)

COUNTER_COLUMNS = (IF_IN_OCTETS, IF_OUT_OCTETS, IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS)
RADIO = (1, 3, 6, 1, 4, 1, 32473, 1, 1, 1)
RADIO_RSL, RADIO_SNR, RADIO_MSE = (*RADIO, 3), (*RADIO, 5), (*RADIO, 6)
DC = (1, 3, 6, 1, 4, 1, 32473, 3)
DC_MAINS, DC_VOLTAGE, DC_CURRENT = (*DC, 1, 0), (*DC, 2, 0), (*DC, 3, 0)
DC_RUNTIME, DC_LOAD = (*DC, 5, 0), (*DC, 6, 0)
UPS = (1, 3, 6, 1, 2, 1, 33, 1)
UPS_SECONDS_ON_BATTERY = (*UPS, 2, 2, 0)
UPS_MINUTES_REMAINING = (*UPS, 2, 3, 0)
UPS_CHARGE_REMAINING = (*UPS, 2, 4, 0)
UPS_OUTPUT_SOURCE = (*UPS, 4, 1, 0)  # 3 normal, 5 battery
UPS_INPUT_FREQUENCY = (*UPS, 3, 3, 1, 2)
UPS_INPUT_VOLTAGE = (*UPS, 3, 3, 1, 3)
TAG_MAX = {"65": 2**32 - 1, "70": 2**64 - 1}

ACTIONS = ("kill", "revive", "cut_link", "restore_link", "fade_link", "unfade_link",
           "fail_mains", "restore_mains", "reboot", "flap_link", "clear")


class FaultError(Exception):
    """A fault request names nothing in the lab or cannot be applied (message for the user)."""


# What a fault did to one agent → how `borderwatch lab fault` says it ({s}: the seconds).
EFFECTS = {
    "restarted": "restarted with the change ({s:.1f} s silent)",
    "stopped": "stopped: silent until revive",
    "rebooting": "rebooting: silent for {s:g} s, then uptime starts from 0",
    "booted": "booted: answering again ({s:.1f} s to start), uptime from 0",
    "cut_off": "silent: cut off from the core (no working path to a core site)",
    "reachable": "answering again: a path to the core is back ({s:.1f} s to start)",
    "waits_down": "agent down: the change applies when it is back",
    "waits_cut_off": "cut off from the core: the change applies when it is reachable",
}


@dataclass(frozen=True)
class Effect:
    """One agent touched by a fault: what happened to it (a key of EFFECTS)."""

    device: str
    what: str
    seconds: float | None = None

    def text(self) -> str:
        """The sentence for people, e.g. "restarted with the change (1.4 s silent)"."""
        return EFFECTS[self.what].format(s=self.seconds or 0.0)


@dataclass(frozen=True)
class FaultResult:
    """What one fault did: a summary ("link L27 cut") and one effect per agent touched."""

    summary: str
    effects: tuple[Effect, ...] = ()

    def lines(self) -> list[str]:
        """The summary, then one aligned line per agent."""
        width = max((len(e.device) for e in self.effects), default=0)
        return [self.summary, *(f"  {e.device:<{width}}  {e.text()}" for e in self.effects)]

    def one_line(self) -> str:
        """Summary and effects on one line, for the lab's log."""
        if not self.effects:
            return self.summary
        return f"{self.summary} ({'; '.join(f'{e.device} {e.text()}' for e in self.effects)})"

    def as_json(self) -> dict[str, object]:
        """For `borderwatch lab fault --json`: stable keys, seconds rounded to 0.1 s."""
        return {"summary": self.summary,
                "effects": [{"device": e.device, "effect": e.what,
                             "seconds": None if e.seconds is None else round(e.seconds, 1),
                             "text": e.text()} for e in self.effects]}

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class Topology:
    """What the faults need from the inventory: link ends, sites, device sites."""

    links: dict[str, tuple[tuple[str, str], ...]]  # link id → ((device, ifName), ...)
    site_of: dict[str, str]  # device id → site id
    # Sites of kind core: where the poller stands. Without one, nothing is ever cut off.
    cores: frozenset[str] = frozenset()

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> Topology:
        """The topology of an inventory."""
        links = {link.id: ((link.a.device, link.a.interface), (link.b.device, link.b.interface))
                 for link in inventory.links}
        return cls(links, {d.id: inventory.site_of(d).id for d in inventory.devices},
                   frozenset(s.id for s in inventory.sites if s.kind == "core"))

    def reachable_sites(self, broken: Iterable[str]) -> set[str] | None:
        """Sites with a path from a core over links not in `broken` (None: no core site).

        Management traffic rides the same links as the payload: a site the core cannot
        reach over working links is a site whose agents the poller cannot reach either.
        """
        hops = self.hops(broken)
        return None if hops is None else set(hops)

    def hops(self, broken: Iterable[str]) -> dict[str, int] | None:
        """Per reachable site, how many links from a core over links not in `broken` (None:
        no core site)."""
        if not self.cores:
            return None
        down = set(broken)
        neighbours: dict[str, set[str]] = {}
        for link, ends in self.links.items():
            if link in down:
                continue
            sites = [self.site_of[d] for d, _ in ends if d in self.site_of]
            for a in sites:
                neighbours.setdefault(a, set()).update(s for s in sites if s != a)
        hops = dict.fromkeys(self.cores, 0)
        todo = deque(sorted(self.cores))
        while todo:
            site = todo.popleft()
            for nxt in sorted(neighbours.get(site, ())):
                if nxt not in hops:
                    hops[nxt] = hops[site] + 1
                    todo.append(nxt)
        return hops

    def wake_order(self, devices: Iterable[str], broken: Iterable[str]) -> list[str]:
        """Devices rejoined to the core, nearest first (then by name): a hub before the
        sites behind it, as a repaired path brings them back. By name alone a border gate
        came back before its hub; the collector then saw the gate answer through a hub and
        a link still dark, took the gate for a site with a path of its own, and reported
        the hub and its other gates as having lost redundancy: a repair's changes that no
        real one makes, enough with the others of a restore to count as a flap."""
        hops = self.hops(broken) or {}
        return sorted(devices, key=lambda d: (hops.get(self.site_of.get(d, ""), len(hops)), d))


def _settings(rec: Record) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in rec.value.split(",") if "=" in kv)


def _rec(oid: tuple[int, ...], tag: str, value: object) -> Record:
    return Record(oid, tag, str(value))


def _base_number(rec: Record) -> float | None:
    """A record's starting value: a plain integer, or a numeric line's `initial`."""
    if rec.tag.endswith(":numeric"):
        try:
            return float(_settings(rec).get("initial", "0"))
        except ValueError:
            return None
    try:
        return float(rec.value)
    except ValueError:
        return None


def _shifted(rec: Record, delta: float) -> Record:
    """The record with its (starting) value moved by delta."""
    if rec.tag.endswith(":numeric"):
        settings = _settings(rec)
        settings["initial"] = str(round(float(settings.get("initial", "0")) + delta))
        return Record(rec.oid, rec.tag, ",".join(f"{k}={v}" for k, v in settings.items()))
    base = _base_number(rec)
    return rec if base is None else _rec(rec.oid, rec.tag, round(base + delta))


def _overlap(intervals: Iterable[tuple[float, float | None]], start: float, end: float) -> float:
    total = 0.0
    for a, b in intervals:
        total += max(0.0, min(end, b if b is not None else end) - max(start, a))
    return total


def interface_indexes(records: dict[tuple[int, ...], Record], name: str) -> list[tuple[int, ...]]:
    """ifIndex rows whose ifName or ifDescr is `name` (how inventory link ends name them)."""
    out = []
    for col in (IF_NAME, IF_DESCR):
        n = len(col)
        for oid, rec in records.items():
            if oid[:n] == col and record_text(rec) == name and oid[n:] not in out:
                out.append(oid[n:])
    return out


@dataclass
class DeviceFaults:
    """The faults touching one device, as apply_faults() needs them."""

    origin: float  # when the device's base values held (first start, or the last reboot)
    rebooted: bool = False
    cuts: dict[tuple[int, ...], list[tuple[float, float | None]]] = field(default_factory=dict)
    fades: dict[tuple[int, ...], float] = field(default_factory=dict)  # radio row → dB
    mains_since: float | None = None
    drain: float = 1.0  # how many times faster than real time the battery runs down


def apply_faults(base: list[Record], faults: DeviceFaults, now: float) -> list[Record]:
    """A device's records at `now` with its faults applied (for an agent starting now)."""
    recs = {r.oid: r for r in base}
    out = dict(recs)
    # Linear numeric values (counters, sysUpTime) continue from where they are.
    for oid, rec in recs.items():
        if not rec.tag.endswith(":numeric"):
            continue
        settings = _settings(rec)
        if "function" in settings:
            continue
        rate = float(settings.get("rate", "1"))
        if rate == 0:
            continue
        counter = next((oid[len(c):] for c in COUNTER_COLUMNS if oid[:len(c)] == c), None)
        base_tag = rec.tag.split(":")[0]
        initial = 0.0 if faults.rebooted and base_tag in ("65", "67", "70") else \
            float(settings.get("initial", "0"))
        intervals = faults.cuts.get(counter, []) if counter is not None else []
        running = (now - faults.origin) - _overlap(intervals, faults.origin, now)
        value = round(initial + rate * max(0.0, running))
        if base_tag in TAG_MAX:
            value %= TAG_MAX[base_tag]
        if counter is not None and any(b is None for _, b in intervals):
            out[oid] = _rec(oid, base_tag, value)  # link cut: the counter stands still
        else:
            settings["initial"] = str(value)
            out[oid] = Record(oid, rec.tag, ",".join(f"{k}={v}" for k, v in settings.items()))
    for index, intervals in faults.cuts.items():
        if any(b is None for _, b in intervals) and IF_OPER_STATUS + index in recs:
            out[IF_OPER_STATUS + index] = _rec(IF_OPER_STATUS + index, "2", 2)  # down
    for index, db in faults.fades.items():
        for col, sign in ((RADIO_RSL, -1), (RADIO_SNR, -1), (RADIO_MSE, 1)):
            if col + index in out:
                out[col + index] = _shifted(out[col + index], sign * db * 10)  # 0.1 dB units
    total_fade = sum(faults.fades.values())
    if total_fade:
        for oid, rec in recs.items():  # airMAX signal (dBm) when the fade is on a Ubiquiti
            if oid[:len(UBNT_SIGNAL)] == UBNT_SIGNAL:
                out[oid] = _shifted(rec, -total_fade)
    if faults.mains_since is not None:
        _on_battery(recs, out, now - faults.mains_since, faults.drain)
    return sorted(out.values(), key=lambda r: r.oid)


def _on_battery(recs: dict[tuple[int, ...], Record], out: dict[tuple[int, ...], Record],
                elapsed: float, drain: float) -> None:
    """UPS-MIB and lab DC-plant values of a site whose mains failed `elapsed` seconds ago."""
    per_second = drain / 60  # minutes of runtime used per second
    if UPS_OUTPUT_SOURCE in recs:
        out[UPS_OUTPUT_SOURCE] = _rec(UPS_OUTPUT_SOURCE, "2", 5)  # battery(5)
        out[UPS_SECONDS_ON_BATTERY] = _rec(UPS_SECONDS_ON_BATTERY, "2:numeric",
                                           f"rate=1,initial={round(elapsed)}")
        minutes = _base_number(recs.get(UPS_MINUTES_REMAINING, _rec((), "2", 60))) or 60
        out[UPS_MINUTES_REMAINING] = _rec(
            UPS_MINUTES_REMAINING, "2:numeric",
            f"rate={-per_second:.6f},initial={max(0.0, minutes - elapsed * per_second):.2f},"
            "min=0")
        charge = _base_number(recs.get(UPS_CHARGE_REMAINING, _rec((), "2", 100))) or 100
        drop = charge / (minutes * 60) * drain  # percent per second, empty with the runtime
        out[UPS_CHARGE_REMAINING] = _rec(
            UPS_CHARGE_REMAINING, "2:numeric",
            f"rate={-drop:.6f},initial={max(0.0, charge - elapsed * drop):.2f},min=0,max=100")
        for oid in recs:
            if oid[:len(UPS_INPUT_VOLTAGE)] in (UPS_INPUT_VOLTAGE, UPS_INPUT_FREQUENCY):
                out[oid] = _rec(oid, "2", 0)
    if DC_MAINS in recs:
        out[DC_MAINS] = _rec(DC_MAINS, "2", 2)  # fail
        load = _base_number(recs[DC_LOAD]) if DC_LOAD in recs else 2000
        out[DC_CURRENT] = _rec(DC_CURRENT, "2:numeric",
                               f"rate=0,deviation=15,initial={-round(load or 2000)},"
                               "min=-20000,max=20000")  # discharging
        if DC_VOLTAGE in recs:
            out[DC_VOLTAGE] = _shifted(recs[DC_VOLTAGE], -150)  # 53.5 V float → ~52 V
        runtime = _base_number(recs.get(DC_RUNTIME, _rec((), "66", 240))) or 240
        out[DC_RUNTIME] = _rec(
            DC_RUNTIME, "66:numeric",
            f"rate={-per_second:.6f},initial={max(0.0, runtime - elapsed * per_second):.2f},"
            "min=0")


def write_records(agent: Agent, records: list[Record]) -> None:
    """Replace an agent's data file; its build stamp goes so the next lab start rebuilds."""
    tmp = agent.data_file.with_name(f".{agent.data_file.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.writelines(rec.line() + "\n" for rec in records)
    os.replace(tmp, agent.data_file)
    agent.stamp.unlink(missing_ok=True)


@dataclass(order=True)
class _Step:
    at: float
    seq: int
    action: str = field(compare=False)
    target: str = field(compare=False)
    options: dict[str, float] = field(compare=False, default_factory=dict)


class FaultInjector:
    """The lab's faults: applies requests, runs timed steps (flaps, scenarios, reboots)."""

    def __init__(self, lab: Lab, topology: Topology, *, clock: Callable[[], float] = time.time
                 ) -> None:
        self.lab = lab
        self.topology = topology
        self.clock = clock
        self.agents = {a.spec.device_id: a for a in lab.agents}
        now = clock()
        self.origin = {d: (a.spawned_at or now) for d, a in self.agents.items()}
        self.rebooted: set[str] = set()
        self.down: set[str] = set()  # agents stopped by kill or a reboot in progress
        # agents silent because no working path joins their site to a core (lab/README-faults)
        self.cut_off: set[str] = set()
        self.cuts: dict[str, list[list[float | None]]] = {}  # link → [[start, end|None]]
        self.fades: dict[str, float] = {}
        self.mains: dict[str, tuple[float, float]] = {}  # site → (since, drain)
        self.steps: list[_Step] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._effects: dict[str, Effect] = {}  # of the fault being applied, by device
        self._named: list[str] = []  # the devices it names or touches directly: listed first
        # Called after each fault is in effect (lab.traps.LabTraps: the devices' traps).
        self.on_applied: Callable[[FaultInjector, str, str], None] | None = None

    # ------------------------------------------------------------------ requests

    def apply(self, action: str, target: str = "", **options: float) -> FaultResult:
        """Apply one fault now; returns what was done, raises FaultError when it cannot."""
        if action not in ACTIONS:
            raise FaultError(f"unknown fault {action!r} (one of: {', '.join(ACTIONS)})")
        return self._apply(action, target, **options)

    def _apply(self, action: str, target: str, **options: float) -> FaultResult:
        with self._lock:
            self._effects, self._named = {}, []
            summary = str(getattr(self, f"_do_{action}")(target, **options))
            self._update_reach()  # kill, reboot, revive change paths too
            if self.on_applied is not None:
                self.on_applied(self, action, target)
            order = [*dict.fromkeys(self._named), *self._effects]  # then the consequences
            return FaultResult(summary, tuple(self._effects[d] for d in dict.fromkeys(order)
                                              if d in self._effects))

    def _note(self, device: str, what: str, seconds: float | None = None, *,
              named: bool = False) -> None:
        """Record what happened to an agent; the first note of a device is the one kept
        (a device cut off by this very fault is not also "waiting for reachability").
        `named`: a device the fault is about (listed before the ones cut off or back)."""
        self._effects.setdefault(device, Effect(device, what, seconds))
        if named:
            self._named.append(device)

    def schedule(self, delay: float, action: str, target: str, **options: float) -> None:
        """Run a fault `delay` seconds from now (flaps, scenario steps, reboot comebacks)."""
        if action not in ACTIONS:
            raise FaultError(f"unknown fault {action!r} (one of: {', '.join(ACTIONS)})")
        with self._lock:
            self._seq += 1
            self.steps.append(_Step(self.clock() + delay, self._seq, action, target, options))
            self.steps.sort()

    def run_due(self) -> list[FaultResult]:
        """Apply the steps that are due; a failing step is logged, not raised."""
        done = []
        while True:
            with self._lock:
                if not self.steps or self.steps[0].at > self.clock():
                    return done
                step = self.steps.pop(0)
            try:
                done.append(self._apply(step.action, step.target, **step.options))
                log.info("fault step: %s", done[-1].one_line())
            except (FaultError, LabError) as exc:
                log.warning("fault step %s %s failed: %s", step.action, step.target, exc)

    def status(self) -> dict[str, object]:
        """The active faults, for `borderwatch lab fault status`."""
        with self._lock:
            return {"cut_links": sorted(k for k, v in self.cuts.items() if v and v[-1][1] is None),
                    "faded_links": dict(self.fades), "mains_failed": sorted(self.mains),
                    "agents_down": sorted(self.down), "cut_off": sorted(self.cut_off),
                    "pending_steps": len(self.steps)}

    # ------------------------------------------------------------------ faults

    def _device(self, device: str) -> Agent:
        if device not in self.agents:
            raise FaultError(f"no simulated device {device!r} in the lab")
        return self.agents[device]

    def _link(self, link: str) -> tuple[tuple[str, str], ...]:
        if link not in self.topology.links:
            raise FaultError(f"no link {link!r} in the inventory")
        ends = tuple(e for e in self.topology.links[link] if e[0] in self.agents)
        if not ends:
            raise FaultError(f"link {link}: neither end is a simulated device")
        return ends

    def _do_kill(self, device: str) -> str:
        self.lab.stop_one(self._device(device).spec.device_id)
        self.down.add(device)
        self._note(device, "stopped", named=True)
        return f"agent {device} killed"

    def _do_revive(self, device: str) -> str:
        self._device(device)
        self.down.discard(device)
        self._refresh_all([device])
        noted = self._effects.get(device)
        if noted is not None and noted.what == "reachable":  # a stopped agent cut itself off
            self._effects[device] = Effect(device, "restarted", noted.seconds)
        return f"agent {device} revived"

    def _do_cut_link(self, link: str) -> str:
        ends = self._link(link)
        spans = self.cuts.setdefault(link, [])
        if spans and spans[-1][1] is None:
            return f"link {link} is already cut"
        spans.append([self.clock(), None])
        self._refresh_all(d for d, _ in ends)
        return f"link {link} cut: both ends down, their counters stand still"

    def _do_restore_link(self, link: str) -> str:
        ends = self._link(link)
        spans = self.cuts.get(link, [])
        if not spans or spans[-1][1] is not None:
            return f"link {link} is not cut"
        spans[-1][1] = self.clock()
        self._refresh_all(d for d, _ in ends)
        return f"link {link} restored: both ends up, counters moving again"

    def _do_flap_link(self, link: str, period: float = 10.0, cycles: float = 3) -> str:
        self._link(link)
        if period <= 0 or cycles < 1:
            raise FaultError("flap_link needs period > 0 and cycles >= 1")
        self._schedule_flip(link, 0.0, period, 2 * int(cycles))
        return f"link {link} flaps: {int(cycles)} × (cut {period:g} s, up {period:g} s)"

    def _schedule_flip(self, link: str, delay: float, period: float, left: int) -> None:
        self._seq += 1
        self.steps.append(_Step(self.clock() + delay, self._seq, "_flip", link,
                                {"period": period, "left": left}))
        self.steps.sort()

    def _do__flip(self, link: str, period: float, left: float) -> str:
        """One change of a flap; the next is due `period` s after this one is in effect
        (not after it started): each state lasts `period` even when restarts are slow."""
        # an even count of changes left: cut (the first change), odd: restore
        done = self._do_cut_link(link) if int(left) % 2 == 0 else self._do_restore_link(link)
        if left > 1:
            self._schedule_flip(link, period, period, int(left) - 1)
        return done

    def _do_fade_link(self, link: str, db: float = 20.0) -> str:
        ends = self._link(link)
        rows = self._radio_rows(link, ends)
        if not rows:
            raise FaultError(f"link {link}: no radio at its simulated ends to fade")
        self.fades[link] = float(db)
        self._refresh_all(rows)
        return f"link {link} faded: RSL and SNR {db:g} dB lower at its radio ends"

    def _do_unfade_link(self, link: str) -> str:
        ends = self._link(link)
        if self.fades.pop(link, None) is None:
            return f"link {link} is not faded"
        self._refresh_all(d for d, _ in ends)
        return f"link {link} fade removed"

    def _do_fail_mains(self, site: str, drain: float = 1.0) -> str:
        devices = self._site_devices(site)
        if site in self.mains:
            return f"mains at {site} already failed"
        self.mains[site] = (self.clock(), float(drain))
        self._refresh_all(devices)
        return f"mains failed at {site}: its UPSes and DC plants run on battery"

    def _do_restore_mains(self, site: str) -> str:
        devices = self._site_devices(site)
        if self.mains.pop(site, None) is None:
            return f"mains at {site} did not fail"
        self._refresh_all(devices)
        return f"mains restored at {site}"

    def _do_reboot(self, device: str, down: float = 10.0) -> str:
        self.lab.stop_one(self._device(device).spec.device_id)
        self.down.add(device)
        self._seq += 1
        self.steps.append(_Step(self.clock() + max(0.0, down), self._seq, "_boot", device))
        self.steps.sort()
        self._note(device, "rebooting", max(0.0, down), named=True)
        return f"{device} rebooting"

    def _do__boot(self, device: str) -> str:  # the second half of a reboot, scheduled
        self.down.discard(device)
        self.rebooted.add(device)
        self.origin[device] = self.clock()
        seconds = self._refresh(device)  # a cut-off agent gets its data but stays silent
        self._note(device, "waits_cut_off" if device in self.cut_off else "booted", seconds,
                   named=True)
        return f"{device} booted"

    def _do_clear(self, _target: str = "") -> str:
        touched = {d for link in list(self.cuts) + list(self.fades)
                   for d, _ in self.topology.links.get(link, ())}
        for site in self.mains:
            touched.update(self._site_devices(site))
        now = self.clock()
        for spans in self.cuts.values():
            if spans and spans[-1][1] is None:
                spans[-1][1] = now
        self.fades.clear()
        self.mains.clear()
        self.steps = [s for s in self.steps if s.action == "_boot"]
        touched |= set(self.down)
        self.down.clear()
        self._refresh_all(d for d in touched if d in self.agents)
        return "all faults cleared"

    # ------------------------------------------------------------------ data and agents

    def _site_devices(self, site: str) -> list[str]:
        """The site's simulated UPSes and DC plants (the devices a mains failure changes)."""
        if site not in set(self.topology.site_of.values()):
            raise FaultError(f"no site {site!r} in the inventory")
        devices = [d for d, s in self.topology.site_of.items() if s == site and d in self.agents
                   and any(r.oid in (UPS_OUTPUT_SOURCE, DC_MAINS) for r in self._base(d))]
        if not devices:
            raise FaultError(f"site {site}: no simulated UPS or DC power plant")
        return devices

    def _radio_rows(self, link: str, ends: Iterable[tuple[str, str]]) -> list[str]:
        out = []
        for device, ifname in ends:
            recs = {r.oid: r for r in self._base(device)}
            if any(RADIO_RSL + i in recs for i in interface_indexes(recs, ifname)) or \
                    any(o[:len(UBNT_SIGNAL)] == UBNT_SIGNAL for o in recs):
                out.append(device)
        return out

    def _base(self, device: str) -> list[Record]:
        spec = self.agents[device].spec
        return build_records(spec.sim_profile, device, spec.link_capacity)

    def device_faults(self, device: str) -> DeviceFaults:
        """The faults touching one device (interface rows resolved from its records)."""
        recs = {r.oid: r for r in self._base(device)}
        faults = DeviceFaults(self.origin[device], device in self.rebooted)
        ubnt = any(o[:len(UBNT_SIGNAL)] == UBNT_SIGNAL for o in recs)
        for link, ends in self.topology.links.items():
            for dev, ifname in ends:
                if dev != device:
                    continue
                for index in interface_indexes(recs, ifname):
                    spans = [(a, b) for a, b in self.cuts.get(link, []) if a is not None]
                    faults.cuts.setdefault(index, []).extend(spans)
                    if link in self.fades and (RADIO_RSL + index in recs or ubnt):
                        faults.fades[index] = faults.fades.get(index, 0) + self.fades[link]
        site = self.topology.site_of.get(device)
        if site in self.mains:
            faults.mains_since, faults.drain = self.mains[site]
        return faults

    def _refresh(self, device: str) -> float:
        """Rewrite a device's data file and restart its agent; seconds it was silent.

        An agent whose site is cut off from the core gets its file but stays silent."""
        t0 = time.monotonic()
        agent = self.agents[device]
        self.lab.stop_one(device)
        write_records(agent, apply_faults(self._base(device), self.device_faults(device),
                                          self.clock()))
        if device not in self.cut_off:
            self.lab.start_one(device)
        return time.monotonic() - t0

    def _refresh_all(self, devices: Iterable[str]) -> None:
        """Give each device its current faults (restart it), noting what happened to it."""
        woken = self._update_reach()  # first: a cut's far end goes silent
        for device in dict.fromkeys(devices):
            if device in woken:
                self._named.append(device)  # restarted with its current faults just now
            elif device in self.down:
                self._note(device, "waits_down", named=True)
            elif device in self.cut_off:
                self._note(device, "waits_cut_off", named=True)
            else:
                self._note(device, "restarted", self._refresh(device), named=True)

    def _broken_links(self) -> set[str]:
        """Links that carry nothing now: cut, or ending on an agent that is not running."""
        broken = {k for k, spans in self.cuts.items() if spans and spans[-1][1] is None}
        broken |= {k for k, ends in self.topology.links.items()
                   if any(d in self.down for d, _ in ends)}
        return broken

    def _update_reach(self) -> list[str]:
        """Silence the agents of sites no working path joins to a core; wake those rejoined.

        Notes both as effects; returns the agents restarted."""
        reachable = self.topology.reachable_sites(self._broken_links())
        wanted = set() if reachable is None else {
            d for d in self.agents if self.topology.site_of.get(d) not in reachable}
        lost = sorted(wanted - self.cut_off)
        back = self.topology.wake_order(self.cut_off - wanted, self._broken_links())
        for device in lost:
            self.lab.stop_one(device)
            self._note(device, "cut_off")
        self.cut_off = wanted
        woken = [d for d in back if d not in self.down]
        for device in woken:
            self._note(device, "reachable", self._refresh(device))
        return woken
