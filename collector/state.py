"""`NetworkState`: what the network looks like now, built from poll results.

Writers: the scheduler calls `apply(result)` after every poll and logs the returned
events. Readers (the Prometheus exporter at scrape time, later alerts and reports) use
`device_snapshots()`, `link_snapshots()` and `metric_info()`. Everything runs on one
event loop; readers get live objects that are valid until the next `apply()`, and must
not change them.

Semantics:

* Device up/down: `up` is None before the first poll, then the `ok` of the latest poll.
  The first failure after success (or first poll) emits UNREACHABLE, and the first
  success after a failure emits RECOVERED. One event per state change, not per poll.
* Series: `snapshot.series[metric][labels]` holds gauges (already scaled by the profile)
  and counters. Counters are monotonic totals: the first raw value seen, plus every
  delta that `collector.counters` accepts (normal or wrap). After a reset they keep
  their value, so they never go backwards. They stay equal to the device's raw counter
  until its first wrap or reset, which is what snmpget shows.
* Rates: `snapshot.rates[metric][labels]` is the per-second increase of a counter over
  the last poll interval. It is absent for an interval with a reset or gap: one interval
  without a rate, never a spike.
* Time: every duration here (staleness, the sysUpTime comparison of reboot detection,
  counter rates) runs on the steady clock (collector.clock), so a step of the wall clock
  neither hides devices, nor reboots them, nor bends a rate. Wall time is only in what
  people read (`last_poll`, `last_success`, `Event.at`).
* Sample times (issue 11): a counter's rate divides its delta by the time between the
  arrivals of the two answers that carried its values (`Sample.t`, stamped by the poller
  per GET and per walk page), and reboot detection compares sysUpTime with the time
  between its answers (`PollResult.sys_uptime_at`), not with the time between poll
  starts: a column read after a retry arrives seconds after its poll began. The stamps
  are on the poller's steady clock, which must be one clock for all polls of a device
  (the service gives the poller this state's clock); a result without stamps (built by
  hand) falls back to the middle of its poll on this state's clock.
* Staleness (A30): a device whose last successful poll is older than
  `stale_after_intervals` × its interval shows no series, rates or interfaces
  (`snapshot.stale` is True). Its `up` stays False, so the exporter drops its
  series instead of freezing them. A device removed with `set_topology()` disappears
  entirely.
* Partial polls (issue 11): a successful poll that missed data (a walk that looped or
  reached a bound, refused values, a walk that failed after the first GET) has
  `problem_kinds` (ProblemKind → count); the snapshot keeps those of the latest
  successful poll, `partial` says whether the latest poll was one (None when it
  failed), and the series get `borderwatch_device_poll_problems{kind}`. New kinds
  emit DATA_INCOMPLETE, their end DATA_COMPLETE: one log line per change.
* Links: see `LinkSnapshot`.
* ICMP (collector/icmp): `apply_icmp(round)` keeps `snapshot.icmp` (RTT, jitter, loss,
  reachability over a window of rounds). For an ICMP-only device (`spec.snmp` False) the
  round is also its poll: `up`, staleness and events follow the pings. For an SNMP device
  ping never changes `up` (that stays the agent's answer); readers combine the two (the
  alert engine: "SNMP agent not answering" while the host answers ping).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from borderwatch.collector.clock import SameClock, SteadyClock, as_clocks
from borderwatch.collector.counters import UptimeChange, classify_uptime, counter_step
from borderwatch.collector.icmp.stats import IcmpRound, IcmpSnapshot, IcmpStats
from borderwatch.collector.profiles import MetricInfo
from borderwatch.collector.samples import Kind, Labels, PollResult, ProblemKind
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

# Metric names of the if-mib profile that state understands (interfaces, rates, links).
IF_UP_METRIC = "borderwatch_interface_up"
IF_SPEED_METRIC = "borderwatch_interface_speed_bytes"
IF_RX_METRIC = "borderwatch_interface_receive_bytes_total"
IF_TX_METRIC = "borderwatch_interface_transmit_bytes_total"
# PollResult.problems entries starting with this are profile mismatches (A13).
MISMATCH_PREFIX = "profile mismatch"
# The series state adds for a partial poll: one per problem kind of the latest good poll.
POLL_PROBLEMS_METRIC = "borderwatch_device_poll_problems"
POLL_PROBLEMS_INFO = MetricInfo(
    POLL_PROBLEMS_METRIC, "Problems of the device's latest successful poll that left its "
    "data incomplete, by kind (loop, rows_bound, requests_bound, samples_bound, refused: "
    "varbinds, failed, mismatch); absent for a kind without problems.", Kind.GAUGE)
# A counter series not seen for this many successful polls is forgotten.
FORGET_AFTER_POLLS = 10
DIRECTIONS = ("a_to_b", "b_to_a")


class EventKind(StrEnum):
    """What changed; each kind is emitted once per change, never once per poll."""

    UNREACHABLE = "unreachable"
    RECOVERED = "recovered"
    REBOOTED = "rebooted"
    PROFILE_MISMATCH = "profile_mismatch"
    DATA_INCOMPLETE = "data_incomplete"
    DATA_COMPLETE = "data_complete"
    LINK_DOWN = "link_down"
    LINK_UP = "link_up"
    TRAP = "trap"  # a trap changed what the state shows, before a poll confirms it


@dataclass(frozen=True, slots=True)
class Event:
    """A state change worth one log line (and later an event-store row)."""

    kind: EventKind
    at: float  # wall clock (the state's clock) when the change was applied
    message: str  # human readable, secret-free
    device_id: str | None = None
    site_id: str | None = None
    link_id: str | None = None


@dataclass(slots=True)
class InterfaceState:
    """One interface row of the if-mib profile, with rates and utilisation in bits/s."""

    if_index: str
    labels: Labels  # the labels its series carry (ifIndex, ifName, ifAlias, ifDescr)
    name: str = ""
    alias: str = ""
    descr: str = ""
    up: bool | None = None  # ifOperStatus == up(1)
    speed_bps: float | None = None  # ifHighSpeed (or ifSpeed) in bits/s; None if 0/unknown
    rx_bps: float | None = None  # None for an interval without a rate
    tx_bps: float | None = None
    rx_utilization: float | None = None  # rx_bps / speed_bps
    tx_utilization: float | None = None


@dataclass(slots=True)
class DeviceSnapshot:
    """Everything known about one device now; owned by NetworkState, read-only for others."""

    device_id: str
    site_id: str
    address: str
    interval: float
    up: bool | None = None  # None before the first poll
    stale: bool = True  # no successful poll within the staleness window: series hidden
    last_poll: float | None = None  # wall clock at the start of the latest poll
    last_poll_steady: float | None = None  # the same on the steady clock (ages, /healthz)
    last_success: float | None = None  # wall clock at the start of the latest good poll
    # The same instant on the state's steady clock: what durations and the alert engine
    # compare (a wall-clock step must not make an old answer look new, or a new one old).
    last_success_steady: float | None = None
    last_error: str | None = None  # error of the latest poll if it failed
    poll_duration: float | None = None  # seconds, latest poll
    uptime_seconds: float | None = None  # sysUpTime of the latest good poll
    profile: str | None = None  # profiles used by the latest good poll, e.g. "system+if-mib"
    polls: int = 0  # polls applied
    failures: int = 0  # polls that failed (ok=False)
    reboots: int = 0  # reboots detected
    varbinds: int = 0  # varbinds received by the latest poll
    requests: int = 0  # SNMP requests sent by the latest poll
    problems: list[str] = field(default_factory=list)  # partial failures of the latest poll
    # True: the latest poll succeeded but missed data (see problem_kinds); None: it failed
    # or none ran yet.
    partial: bool | None = None
    problem_kinds: dict[str, int] = field(default_factory=dict)  # latest successful poll
    partial_polls: int = 0  # successful polls that were partial, since start
    series: dict[str, dict[Labels, int | float]] = field(default_factory=dict)
    rates: dict[str, dict[Labels, float]] = field(default_factory=dict)
    interfaces: dict[str, InterfaceState] = field(default_factory=dict)  # by ifIndex
    # Bumped whenever `series` is replaced (a good poll, staleness): a reader that keeps
    # something derived from the series (exporters.device_text) compares it instead of
    # holding on to the old dict.
    series_version: int = 0
    # A trap changed this snapshot and no poll has been folded since (apply_trap): what it
    # shows comes from the trap until the confirming poll replaces it.
    trap_sourced: bool = False
    last_trap: float | None = None  # wall clock of the latest trap applied
    traps: int = 0  # traps applied to this device
    icmp: IcmpSnapshot | None = None  # None: not pinged (yet)
    snmp: bool = True  # False: an ICMP-only device (its polls are ping rounds)

    @property
    def reachable(self) -> bool | None:
        """Whether the device answers at all: its SNMP agent, or, while the agent is silent,
        its host's ping (None before either has an answer or a failure). Site status and
        topology read this; `up` stays the agent's answer."""
        if self.up or (self.icmp is not None and self.icmp.up):
            return True
        return self.up


@dataclass(frozen=True, slots=True)
class TrapUpdate:
    """One value a trap reports: the rows of `metric` whose labels include `match` get
    `value` (a row is made with exactly `match` when the device has none yet)."""

    metric: str
    match: Labels
    value: float


@dataclass(slots=True)
class LinkSnapshot:
    """A link's state from both ends, and its utilisation per direction.

    state: "up" if no end reports its interface down and at least one end reports it up;
    "down" if either end reports it down (a reachable device whose interface is not up);
    "unknown" if neither end can be seen (device unreachable, stale, never polled, or
    the interface not found). One end unreachable and the other reporting up gives
    "up": the only evidence says the line carries signal, and the dead device has
    its own borderwatch_device_up 0. `reason` says which end saw what.
    Directions are "a_to_b" and "b_to_a". A direction's traffic is the transmit rate
    at its sending end, or the receive rate at the far end if the sender cannot be seen.
    Its utilisation is that rate / `spec.capacity(direction)`.
    """

    spec: LinkSpec
    state: str = "unknown"
    reason: str = "not polled yet"
    a_up: bool | None = None  # interface oper state seen at the a end (None: not seen)
    b_up: bool | None = None
    rate_bps: dict[str, float] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)

    @property
    def link_id(self) -> str:
        return self.spec.link_id

    @property
    def up(self) -> bool | None:
        """True/False for up/down, None when unknown."""
        return None if self.state == "unknown" else self.state == "up"


@dataclass(slots=True)
class _CounterState:
    raw: int
    bits: int | None
    disc: int | float | None
    total: int
    t: float
    seen: int


class _Device:
    """Per-device private state behind a DeviceSnapshot (times on the steady clock)."""

    __slots__ = ("counters", "icmp", "if_by_name", "mismatches", "snap", "spec", "uptime_t",
                 "uptime_ticks")

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self.snap = DeviceSnapshot(spec.device_id, spec.site_id, spec.address, spec.interval,
                                   snmp=spec.snmp)
        self.counters: dict[tuple[str, Labels], _CounterState] = {}
        self.uptime_ticks: int | None = None
        self.uptime_t: float = 0.0
        self.mismatches: set[str] = set()
        self.if_by_name: dict[str, InterfaceState] = {}
        self.icmp: IcmpStats | None = None


class NetworkState:
    """Per-device snapshots, monotonic counters, rates, reachability and link states."""

    def __init__(self, devices: Iterable[DeviceSpec], links: Iterable[LinkSpec],
                 clock: Callable[[], float] | SteadyClock | SameClock | None = None, *,
                 catalog: Mapping[str, MetricInfo] | None = None,
                 stale_after_intervals: float = 3.0, icmp_window: int = 10) -> None:
        """`clock`: a SteadyClock (the default, a new one), or a plain callable that is a
        simulated clock, both steady and wall (tests)."""
        if catalog is None:
            from borderwatch.collector.profiles import metric_catalog  # built-in profiles

            catalog = metric_catalog()
        self._catalog = dict(catalog)
        self._catalog.setdefault(POLL_PROBLEMS_METRIC, POLL_PROBLEMS_INFO)
        self._clocks = as_clocks(clock)
        self._clock = self._clocks.now  # steady: every duration is measured on it
        self._stale_after = stale_after_intervals
        self._icmp_window = icmp_window
        self._devices: dict[str, _Device] = {}
        self._links: dict[str, LinkSnapshot] = {}
        self._links_by_device: dict[str, list[LinkSnapshot]] = {}
        # Precomputed per metric: (discontinuity metric, max-rate metric) for counters.
        self._counter_refs: dict[str, tuple[str | None, str | None]] = {}
        self.set_topology(devices, links)

    # ------------------------------------------------------------------ topology

    def set_topology(self, devices: Iterable[DeviceSpec], links: Iterable[LinkSpec]) -> None:
        """Replace the device and link lists; removed devices and their series vanish."""
        old = self._devices
        self._devices = {}
        for spec in devices:
            dev = old.get(spec.device_id)
            if dev is None or dev.spec != spec:
                fresh = _Device(spec)
                if dev is not None and dev.spec.site_id == spec.site_id:
                    # same device, changed settings (interval, profiles): keep its history
                    fresh.counters, fresh.snap = dev.counters, dev.snap
                    fresh.snap.interval = spec.interval
                    fresh.uptime_ticks, fresh.uptime_t = dev.uptime_ticks, dev.uptime_t
                    fresh.mismatches, fresh.if_by_name = dev.mismatches, dev.if_by_name
                    fresh.icmp = dev.icmp
                dev = fresh
            self._devices[spec.device_id] = dev
        old_links = self._links
        self._links = {}
        self._links_by_device = {}
        for spec in links:
            link = old_links.get(spec.link_id)
            if link is None or link.spec != spec:
                link = LinkSnapshot(spec)
            self._links[spec.link_id] = link
            for device_id in {spec.a_device, spec.b_device}:
                self._links_by_device.setdefault(device_id, []).append(link)
        for link in self._links.values():
            self._update_link(link)

    # ------------------------------------------------------------------ read side

    def device_snapshots(self) -> list[DeviceSnapshot]:
        """All devices of the topology, in inventory order (stale ones with no series)."""
        now = self._clock()
        out = []
        for dev in self._devices.values():
            self._expire(dev, now)
            out.append(dev.snap)
        return out

    def device(self, device_id: str) -> DeviceSnapshot | None:
        """One device's snapshot, or None if it is not in the topology."""
        dev = self._devices.get(device_id)
        if dev is None:
            return None
        self._expire(dev, self._clock())
        return dev.snap

    def link_snapshots(self) -> list[LinkSnapshot]:
        """All links of the topology, in inventory order."""
        now = self._clock()
        changed = False
        for dev in self._devices.values():
            changed |= self._expire(dev, now)
        if changed:
            for link in self._links.values():
                self._update_link(link)
        return list(self._links.values())

    def now(self) -> float:
        """Steady time now: what the `*_steady` times and every age compare with."""
        return self._clock()

    def metric_info(self, name: str) -> MetricInfo:
        """Help text and type of a metric; metrics unknown to the catalog get empty help."""
        info = self._catalog.get(name)
        if info is None:
            kind = Kind.COUNTER if name.endswith("_total") else Kind.GAUGE
            info = MetricInfo(name=name, help="", kind=kind)
        return info

    # ------------------------------------------------------------------ write side

    def apply(self, result: PollResult) -> list[Event]:
        """Fold one poll result into the state; return the events it caused (maybe none)."""
        dev = self._devices.get(result.device_id)
        if dev is None:
            return []  # removed from the topology while its poll was running
        now = self._clock()
        # a wall time of the poll moved onto the steady clock by the clocks' offset now
        # (exact unless the wall clock stepped during this very poll)
        to_steady = now - self._clocks.wall()
        snap = dev.snap
        events: list[Event] = []
        snap.polls += 1
        snap.last_poll = result.started
        snap.last_poll_steady = result.started + to_steady
        snap.poll_duration = result.duration
        snap.varbinds = result.varbinds
        snap.requests = result.requests
        snap.problems = list(result.problems)
        snap.trap_sourced = False  # the poll's answer replaces what a trap said
        if not result.ok:
            snap.failures += 1
            snap.partial = None
            snap.last_error = result.error
            if snap.up is not False:
                events.append(self._device_event(EventKind.UNREACHABLE, dev, now,
                                                 f"unreachable: {result.error}"))
            snap.up = False
            self._expire(dev, now)
            events += self._update_device_links(dev, now)
            return events

        if snap.up is False:
            events.append(self._device_event(EventKind.RECOVERED, dev, now, "recovered"))
        snap.up = True
        snap.stale = False
        snap.last_success = result.started
        snap.last_success_steady = snap.last_poll_steady
        snap.last_error = None
        snap.profile = result.profile
        # for values without their own time (Sample.t): the middle of the poll, steady
        t = snap.last_success_steady + result.duration / 2

        reboot: str | None = None
        if result.sys_uptime_ticks is not None:
            t_up = t if result.sys_uptime_at is None else result.sys_uptime_at
            change, why = classify_uptime(dev.uptime_ticks, result.sys_uptime_ticks,
                                          t_up - dev.uptime_t)
            if change is UptimeChange.REBOOTED:
                reboot = f"device rebooted ({why})"
                snap.reboots += 1
                events.append(self._device_event(EventKind.REBOOTED, dev, now, reboot))
            dev.uptime_ticks, dev.uptime_t = result.sys_uptime_ticks, t_up
            snap.uptime_seconds = result.sys_uptime_ticks / 100

        mismatches = {p for p in result.problems if p.startswith(MISMATCH_PREFIX)}
        for problem in sorted(mismatches - dev.mismatches):
            events.append(self._device_event(EventKind.PROFILE_MISMATCH, dev, now, problem))
        dev.mismatches = mismatches
        events += self._note_partial(dev, result, now)

        self._fold_samples(dev, result, t, reboot)
        if snap.problem_kinds:
            snap.series[POLL_PROBLEMS_METRIC] = {
                (("kind", kind),): n for kind, n in sorted(snap.problem_kinds.items())}
        events += self._update_device_links(dev, now)
        return events

    def apply_trap(self, device_id: str, updates: Iterable[TrapUpdate], what: str, *,
                   reboot: bool = False) -> list[Event]:
        """Fold what a trap reports into the state at once, marked as trap-sourced.

        The next poll replaces it (that poll confirms or corrects the trap). A device that
        is stale or down keeps its hidden series: the trap only names an event then. A
        reboot is only an event here; the poll counts it (sysUpTime) so it is not counted
        twice. Returns the events (one TRAP event, link changes, a reboot)."""
        dev = self._devices.get(device_id)
        if dev is None:
            return []
        now = self._clock()
        snap = dev.snap
        snap.traps += 1
        snap.last_trap = self._clocks.to_wall(now)
        events = [self._device_event(EventKind.TRAP, dev, now, f"trap: {what}")]
        if reboot:
            events.append(self._device_event(EventKind.REBOOTED, dev, now,
                                             f"device rebooted ({what})"))
        updates = list(updates)
        self._expire(dev, now)
        if not updates or snap.stale or not snap.up:
            return events
        series = dict(snap.series)
        for update in updates:
            rows = dict(series.get(update.metric, {}))
            wanted = set(update.match)
            hits = [labels for labels in rows if wanted <= set(labels)]
            for labels in hits or [update.match]:
                rows[labels] = update.value
            series[update.metric] = rows
        snap.series = series
        snap.series_version += 1
        snap.trap_sourced = True
        snap.interfaces = interfaces_from_series(series, snap.rates)
        dev.if_by_name = interfaces_by_name(snap.interfaces.values())
        return events + self._update_device_links(dev, now)

    def apply_icmp(self, r: IcmpRound) -> list[Event]:
        """Fold one ping round in; for an ICMP-only device it is also the device's poll."""
        dev = self._devices.get(r.device_id)
        if dev is None:
            return []
        if dev.icmp is None:
            dev.icmp = IcmpStats(self._icmp_window)
        dev.snap.icmp = dev.icmp.add(r)
        if dev.spec.snmp:
            return []
        # the steady start of the round back on the wall scale, as polls report it
        return self.apply(PollResult(
            r.device_id, r.started_wall, max(0.0, self._clock() - r.started), r.answered,
            error=None if r.answered else f"no echo reply to {r.sent} request(s)",
            profile="icmp"))

    def forget_icmp(self, device_id: str) -> None:
        """Drop a device's ping statistics (it is no longer pinged, or pinged at another
        address): its borderwatch_icmp_* series leave until its next round."""
        dev = self._devices.get(device_id)
        if dev is not None:
            dev.icmp = None
            dev.snap.icmp = None

    def _note_partial(self, dev: _Device, result: PollResult, now: float) -> list[Event]:
        """Fold a successful poll's problem kinds; an event when kinds appear or all end."""
        snap = dev.snap
        kinds = dict(result.problem_kinds)
        before = snap.problem_kinds
        snap.problem_kinds = kinds
        snap.partial = bool(kinds)
        if not kinds:
            if before:
                return [self._device_event(EventKind.DATA_COMPLETE, dev, now,
                                           "data complete again")]
            return []
        snap.partial_polls += 1
        new = set(kinds) - set(before)
        if not new - {ProblemKind.MISMATCH.value}:  # a mismatch has its own event
            return []
        first = next((p for p in result.problems if not p.startswith(MISMATCH_PREFIX)), "")
        return [self._device_event(EventKind.DATA_INCOMPLETE, dev, now,
                                   f"data incomplete ({', '.join(sorted(kinds))}): {first}")]

    # ------------------------------------------------------------------ internals

    def _fold_samples(self, dev: _Device, result: PollResult, t: float,
                      reboot: str | None) -> None:
        series: dict[str, dict[Labels, int | float]] = {}
        rates: dict[str, dict[Labels, float]] = {}
        counter_samples = []
        for sample in result.samples:
            if sample.kind is Kind.COUNTER:
                counter_samples.append(sample)
            else:
                bucket = series.get(sample.metric)
                if bucket is None:
                    bucket = series[sample.metric] = {}
                bucket[sample.labels] = sample.value
        counters = dev.counters
        poll_no = dev.snap.polls
        refs = self._counter_refs
        empty: dict[Labels, int | float] = {}
        for sample in counter_samples:
            metric, labels, cur = sample.metric, sample.labels, int(sample.value)
            ts = t if sample.t is None else sample.t  # when its answer arrived
            ref = refs.get(metric)
            if ref is None:
                info = self._catalog.get(metric)
                ref = refs[metric] = ((info.discontinuity_metric, info.max_rate_metric)
                                      if info is not None else (None, None))
            disc = series.get(ref[0], empty).get(labels) if ref[0] else None
            key = (metric, labels)
            st = counters.get(key)
            if st is None:
                st = counters[key] = _CounterState(cur, sample.counter_bits, disc, cur, ts,
                                                   poll_no)
            else:
                reset = reboot
                if reset is None and disc is not None and st.disc is not None \
                        and disc != st.disc:
                    reset = "counter discontinuity"
                max_rate = series.get(ref[1], empty).get(labels) if ref[1] else None
                elapsed = ts - st.t
                step = counter_step(st.raw, cur, bits=sample.counter_bits or 64,
                                    prev_bits=st.bits, elapsed=elapsed, reset=reset,
                                    max_rate=max_rate)
                if step.counted:
                    st.total += step.delta
                    bucket = rates.get(metric)
                    if bucket is None:
                        bucket = rates[metric] = {}
                    bucket[labels] = step.delta / elapsed
                st.raw, st.bits, st.disc, st.t, st.seen = \
                    cur, sample.counter_bits, disc, ts, poll_no
            bucket = series.get(metric)
            if bucket is None:
                bucket = series[metric] = {}
            bucket[labels] = st.total
        if len(counters) > len(counter_samples):
            forget = poll_no - FORGET_AFTER_POLLS
            for key in [k for k, st in counters.items() if st.seen < forget]:
                del counters[key]
        snap = dev.snap
        snap.series = series
        snap.series_version += 1
        snap.rates = rates
        snap.interfaces = interfaces_from_series(series, rates)
        dev.if_by_name = interfaces_by_name(snap.interfaces.values())

    def _expire(self, dev: _Device, now: float) -> bool:
        """Hide a device's series once its last success is too old; True if it changed."""
        snap = dev.snap
        if snap.stale:
            return False
        if snap.last_success_steady is not None and \
                now - snap.last_success_steady <= self._stale_after * snap.interval:
            return False
        snap.stale = True
        snap.series = {}
        snap.series_version += 1
        snap.rates = {}
        snap.interfaces = {}
        dev.if_by_name = {}
        return True

    def _device_event(self, kind: EventKind, dev: _Device, now: float, message: str) -> Event:
        return Event(kind, self._clocks.to_wall(now), message, device_id=dev.spec.device_id,
                     site_id=dev.spec.site_id)

    def _update_device_links(self, dev: _Device, now: float) -> list[Event]:
        events = []
        for link in self._links_by_device.get(dev.spec.device_id, ()):
            before = link.state
            self._update_link(link)
            if before != "unknown" and link.state != before and link.state != "unknown":
                kind = EventKind.LINK_UP if link.state == "up" else EventKind.LINK_DOWN
                events.append(Event(kind, self._clocks.to_wall(now),
                                    f"link {link.link_id} {link.state}: {link.reason}",
                                    link_id=link.link_id))
            elif before == "unknown" and link.state == "down":
                events.append(Event(EventKind.LINK_DOWN, self._clocks.to_wall(now),
                                    f"link {link.link_id} down: {link.reason}",
                                    link_id=link.link_id))
        return events

    def _end(self, device_id: str, interface: str) -> tuple[InterfaceState | None, str]:
        dev = self._devices.get(device_id)
        return link_end(device_id, interface, dev.snap if dev is not None else None,
                        dev.if_by_name if dev is not None else {})

    def _update_link(self, link: LinkSnapshot) -> None:
        spec = link.spec
        judge_link(link, self._end(spec.a_device, spec.a_interface),
                   self._end(spec.b_device, spec.b_interface))


def interfaces_by_name(interfaces: Iterable[InterfaceState]) -> dict[str, InterfaceState]:
    """Interface rows by the names an inventory may use: ifName first, then ifDescr, then
    the ifIndex (the first that matches wins)."""
    ifaces = list(interfaces)
    return {**{i.if_index: i for i in ifaces}, **{i.descr: i for i in ifaces if i.descr},
            **{i.name: i for i in ifaces if i.name}}


def link_end(device_id: str, interface: str, snap: DeviceSnapshot | None,
             by_name: Mapping[str, InterfaceState]) -> tuple[InterfaceState | None, str]:
    """One end of a link as its device shows it (None when it cannot be seen), and why.

    Shared by NetworkState and the central evaluator (alerts/tsdb_source.py), so that a
    link is judged the same way from a collector's memory and from a TSDB."""
    if snap is None:
        return None, f"{device_id} not in the inventory"
    if snap.up is None:
        return None, f"{device_id} not polled yet"
    if not snap.up or snap.stale:
        return None, f"{device_id} unreachable"
    iface = by_name.get(interface)
    if iface is None:
        return None, f"{device_id} has no interface {interface}"
    return iface, f"{device_id} {interface} " + (
        "up" if iface.up else "down" if iface.up is False else "status unknown")


def judge_link(link: LinkSnapshot, a_end: tuple[InterfaceState | None, str],
               b_end: tuple[InterfaceState | None, str]) -> None:
    """Set a link's state, reason, rates and utilisation from its two ends (link_end)."""
    (a, a_why), (b, b_why) = a_end, b_end
    spec = link.spec
    link.a_up = a.up if a is not None else None
    link.b_up = b.up if b is not None else None
    if link.a_up is False or link.b_up is False:
        link.state = "down"
    elif link.a_up or link.b_up:
        link.state = "up"
    else:
        link.state = "unknown"
    link.reason = f"{a_why}; {b_why}"
    rate_bps: dict[str, float] = {}
    utilization: dict[str, float] = {}
    for direction, sender, receiver in (("a_to_b", a, b), ("b_to_a", b, a)):
        rate = sender.tx_bps if sender is not None else None
        if rate is None and receiver is not None:
            rate = receiver.rx_bps
        if rate is None:
            continue
        rate_bps[direction] = rate
        capacity = spec.capacity(direction)
        if capacity:
            utilization[direction] = rate / capacity
    link.rate_bps = rate_bps
    link.utilization = utilization


def interfaces_from_series(series: Mapping[str, Mapping[Labels, int | float]],
                           rates: Mapping[str, Mapping[Labels, float]]
                           ) -> dict[str, InterfaceState]:
    """Interface rows of the if-mib metrics, keyed by ifIndex, with bits/s and utilisation."""
    ups = series.get(IF_UP_METRIC, {})
    speeds = series.get(IF_SPEED_METRIC, {})
    rx = rates.get(IF_RX_METRIC, {})
    tx = rates.get(IF_TX_METRIC, {})
    rows = set(ups) | set(speeds) | set(series.get(IF_RX_METRIC, {})) \
        | set(series.get(IF_TX_METRIC, {}))
    out: dict[str, InterfaceState] = {}
    for labels in rows:
        names = dict(labels)
        if_index = names.get("ifIndex")
        if not if_index:
            continue
        up = ups.get(labels)
        speed = speeds.get(labels)
        speed_bps = speed * 8 if speed else None
        r, w = rx.get(labels), tx.get(labels)
        rx_bps = r * 8 if r is not None else None
        tx_bps = w * 8 if w is not None else None
        out[if_index] = InterfaceState(
            if_index=if_index, labels=labels, name=names.get("ifName", ""),
            alias=names.get("ifAlias", ""), descr=names.get("ifDescr", ""),
            up=None if up is None else up == 1, speed_bps=speed_bps, rx_bps=rx_bps,
            tx_bps=tx_bps,
            rx_utilization=rx_bps / speed_bps if rx_bps is not None and speed_bps else None,
            tx_utilization=tx_bps / speed_bps if tx_bps is not None and speed_bps else None)
    return out
