"""`Recorder`: turns observations of the live state into history ops (state changes,
incidents, hourly roll-ups), on a clock the caller supplies.

Pure apart from the `submit` callable it is given, so a test drives it with a real
`NetworkState` on a simulated clock and the real writer, and the service drives it from a
tick on the event loop. It remembers the last state written per element and submits only
changes, plus one heartbeat per observation.

States (see history/README.md):

* device: up / down from its latest poll; unknown ("not-polled-yet") before the first.
* link: `LinkSnapshot.state`; an up radio link whose received signal is below its planned
  level (fade margin < 0 dB at either end) is "degraded". Unknown links say why:
  "not-polled-yet", or "not-seen" (no end device can see the interface).
* site: the status page's rule (`exporters.status.site_status` + `with_isolation`) on each
  device's reachability (SNMP, or ping while its agent is silent: `DeviceSnapshot.reachable`)
  and the topology analysis of `alerts.topology` (no alert configuration needed): up (a device
  answers), down (all polled devices fail: cause is the outage's root, usually the site
  itself), isolated (down, and cut off behind the root-cause elements), unknown
  ("not-polled-yet", or "no-devices").
* incidents: each outage of the analysis whose sites are down or isolated now ("isolated"
  when some are cut off, else "down"), keyed by root cause; and "redundancy_lost" per set
  of failed elements that left live sites on a single path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from borderwatch.alerts.topology import (
    Analysis,
    Health,
    Topology,
    analyse,
    device_el,
    link_el,
    site_el,
)
from borderwatch.collector.state import DeviceSnapshot, LinkSnapshot
from borderwatch.collector.topology_spec import LinkSpec
from borderwatch.exporters.status import site_status, with_isolation
from borderwatch.history.reader import NOT_POLLED_YET, REMOVED
from borderwatch.history.rollup import HourlyRollups
from borderwatch.history.writer import BEAT, INCIDENT_CLOSE, INCIDENT_OPEN, INCIDENT_SITES, STATE

RADIO_SIGNAL = "borderwatch_radio_signal_dbm"
RADIO_NOMINAL = "borderwatch_radio_nominal_signal_dbm"
RADIO_SNR = ("borderwatch_radio_snr_db", "borderwatch_vsat_receive_esno_db")
UPS_ON_BATTERY = "borderwatch_ups_on_battery"
UPS_CHARGE = "borderwatch_ups_battery_charge_ratio"
DC_MAINS_OK = "borderwatch_power_mains_ok"
RADIO_MEDIA = frozenset({"microwave", "radio", "vsat"})
POWER_METRICS = (UPS_ON_BATTERY, DC_MAINS_OK, UPS_CHARGE)
# A device's state by its snapshot's `up`; the same tuple objects every time, so that
# "unchanged" is an identity check (the loop over 10,000 devices runs every tick).
DEVICE_STATES: dict[bool | None, tuple[str, str | None]] = {
    None: ("unknown", NOT_POLLED_YET), True: ("up", None), False: ("down", None)}


class Recorder:
    """Observations in, history ops out (through `submit`).

    `topology` None (an inventory without a core site, so no reachability to measure):
    sites are up / down / unknown from their own devices, never isolated."""

    def __init__(self, sites: Mapping[str, Sequence[str]], links: Sequence[LinkSpec],
                 submit: Callable[[tuple[Any, ...]], object], *,
                 topology: Topology | None = None, rollup_every: float = 60.0,
                 reanalyse_every: float = 30.0) -> None:
        self._topo = topology
        self._site_devices = {s: tuple(devs) for s, devs in sites.items()}
        self._devices = {d for devs in self._site_devices.values() for d in devs}
        self._submit = submit
        self._rollup_every = rollup_every
        self._reanalyse_every = reanalyse_every
        self.rollups = HourlyRollups(submit, max_step=max(300.0, 3 * rollup_every))
        self._written: dict[tuple[str, str], tuple[str, str | None]] = {}  # links, sites
        self._device_states: dict[str, tuple[str, str | None]] = {}
        self._reachable: dict[str, bool | None] = {}  # SNMP or ping (DeviceSnapshot.reachable)
        self._power_devices: list[str] = []  # devices with power metrics (refreshed)
        self._analysed_at = -float("inf")
        self._failing = False
        self._sites: dict[str, tuple[str, str | None]] = {}
        self._incidents: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
        self._down_since: dict[str, float] = {}
        self._cut_ends: dict[str, set[str]] = {}
        self._next_sample = -float("inf")
        self._radio_links = [lk for lk in links if lk.medium in RADIO_MEDIA]

    @classmethod
    def from_topology(cls, topology: Topology, submit: Callable[[tuple[Any, ...]], object],
                      **options: Any) -> Recorder:
        """A recorder for the sites, devices and links of an `alerts.topology.Topology`."""
        return cls({s: topology.site_devices(s) for s in topology.sites},
                   list(topology.links.values()), submit, topology=topology, **options)

    # ------------------------------------------------------------------ hot reload

    def set_topology(self, sites: Mapping[str, Sequence[str]], links: Sequence[LinkSpec],
                     topology: Topology | None, now: float) -> None:
        """Follow a reloaded inventory. Devices, links and sites that left it get an
        `unknown` interval with the cause `removed-from-inventory` from `now` on (their
        last state ends here, neither as a recovery nor as a gap); new ones are recorded
        from the next observation. An element that comes back (or a renamed one's old
        id, re-added) starts again from what its next observation says."""
        site_devices = {s: tuple(devs) for s, devs in sites.items()}
        devices = {d for devs in site_devices.values() for d in devs}
        link_ids = {lk.link_id for lk in links}
        gone = [("device", d) for d in sorted(self._devices - devices)]
        gone += [(kind, el) for kind, el in sorted(self._written)
                 if (kind == "link" and el not in link_ids)
                 or (kind == "site" and el not in site_devices)]
        for kind, element in gone:
            self._submit((STATE, kind, element, "unknown", REMOVED, now))
            self._written.pop((kind, element), None)
            if kind == "device":
                self._device_states.pop(element, None)
        self._topo = topology
        self._site_devices = site_devices
        self._devices = devices
        self._radio_links = [lk for lk in links if lk.medium in RADIO_MEDIA]
        self._analysed_at = -float("inf")  # analyse the new topology at the next observation
        self._failing = True

    # ------------------------------------------------------------------ observe

    def observe(self, devices: Sequence[DeviceSnapshot], links: Sequence[LinkSnapshot],
                now: float) -> None:
        """Record what the state says at `now` (changes only) and a heartbeat."""
        known, written, submit = self._devices, self._device_states, self._submit
        by_id: dict[str, DeviceSnapshot] = {}
        changed = False
        for snap in devices:
            device_id = snap.device_id
            if device_id not in known:
                continue
            by_id[device_id] = snap
            value = DEVICE_STATES[snap.up]
            if written.get(device_id) is not value:
                written[device_id] = value
                submit((STATE, "device", device_id, value[0], value[1], now))
                changed = True
            if self._reachable.get(device_id, False) is not snap.reachable:
                self._reachable[device_id] = snap.reachable  # the agent alone may be silent
                changed = True
        radio = {lk.link_id: _radio(lk.link_id, lk.a_device, lk.a_interface, lk.b_device,
                                    lk.b_interface, by_id) for lk in self._radio_links}
        for snap in links:
            changed |= self._set("link", snap.link_id,
                                 *_link_state(snap, radio.get(snap.link_id), by_id), now)
        self._observe_sites(by_id, links, changed, now)
        if now >= self._next_sample:
            self._next_sample = now + self._rollup_every
            self.rollups.add_link_utilization(now, {
                lk.link_id: max(lk.utilization.values()) for lk in links if lk.utilization})
            for link_id, (rsl, snr, fade) in radio.items():
                if rsl is not None or snr is not None or fade is not None:
                    self.rollups.add_radio(now, link_id, rsl, snr, fade)
            # Which devices are UPSes or DC plants: looked up once a minute, not every tick.
            self._power_devices = [d for d, snap in by_id.items()
                                   if any(m in snap.series for m in POWER_METRICS)]
        for device_id in self._power_devices:
            snap = by_id.get(device_id)
            if snap is not None and snap.up and not snap.stale:
                on_battery, charge = _power(snap)
                if on_battery is not None or charge is not None:
                    self.rollups.add_power(now, device_id, snap.site_id, on_battery, charge)
        self.rollups.advance(now)
        self._submit((BEAT, now))

    def stop(self) -> None:
        """Emit the current hour's partial roll-ups (the writer closes the intervals)."""
        self.rollups.flush()

    # ------------------------------------------------------------------ sites, incidents

    def _observe_sites(self, by_id: dict[str, DeviceSnapshot], links: Sequence[LinkSnapshot],
                       changed: bool, now: float) -> None:
        # While something fails, the analysis also depends on when devices last answered
        # (a device is dead, not its site, once a neighbour answers after it failed), so
        # it is redone now and then even without a state change.
        if not changed and not (self._failing and
                                now - self._analysed_at >= self._reanalyse_every):
            return
        self._analysed_at = now
        health = self._health(by_id, links, now)
        self._failing = bool(health.failing) or any(s == "down"
                                                    for s in health.link_state.values())
        analysis = analyse(self._topo, health) if self._topo is not None else None
        for site_id, site_devices in self._site_devices.items():
            devs = [by_id[d].reachable for d in site_devices if d in by_id]
            self._set("site", site_id, *_site_state(site_id, devs, analysis), now)
        self._observe_incidents(analysis, now)

    def _health(self, by_id: dict[str, DeviceSnapshot], links: Sequence[LinkSnapshot],
                now: float) -> Health:
        """The evidence now, as the status page sees it (no debounce), plus since-times and
        links seen down from both ends, which the root-cause rules use."""
        failing = frozenset(d for d, s in by_id.items() if s.reachable is False)
        since = self._down_since
        for d in failing:
            since.setdefault(device_el(d), now)
        down = {lk.link_id: lk for lk in links if lk.state == "down"}
        for lk in down.values():
            since.setdefault(link_el(lk.link_id), now)
            ends = self._cut_ends.setdefault(lk.link_id, set())
            ends |= {e for e, up in (("a", lk.a_up), ("b", lk.b_up)) if up is False}
        for el in [e for e in since if e.removeprefix("device:") not in failing
                   and e.removeprefix("link:") not in down]:
            del since[el]
        for link_id in [k for k in self._cut_ends if k not in down]:
            del self._cut_ends[link_id]
        return Health(device_up={d: s.reachable for d, s in by_id.items()},
                      last_success={d: s.last_success for d, s in by_id.items()},
                      link_state={lk.link_id: lk.state for lk in links},
                      down_since=dict(since),
                      confirmed_cuts=frozenset(k for k, e in self._cut_ends.items()
                                               if len(e) == 2),
                      failing=failing)

    def _observe_incidents(self, analysis: Analysis | None, now: float) -> None:
        states = {site: self._written.get(("site", site), ("unknown", None))[0]
                  for site in self._site_devices}
        current: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        covered: set[str] = set()
        for outage in analysis.outages if analysis is not None else ():
            sites = tuple(s for s in outage.sites if states.get(s) in ("down", "isolated"))
            if not sites:
                continue
            kind = "isolated" if any(states[s] == "isolated" for s in sites) else "down"
            current[(kind, outage.root)] = sites
            covered |= set(sites)
        for site, state in states.items():  # down, but in no outage (e.g. a core site)
            if state == "down" and site not in covered:
                current[("down", (site_el(site),))] = (site,)
        lost: dict[tuple[str, ...], list[str]] = {}
        for entry in analysis.redundancy_lost.values() if analysis is not None else ():
            lost.setdefault(entry.causes or entry.single_points, []).append(entry.site)
        for root, sites_ in lost.items():
            current[("redundancy_lost", root)] = tuple(sorted(sites_))
        for key, (iid, _sites) in list(self._incidents.items()):
            if key not in current:
                self._submit((INCIDENT_CLOSE, iid, now))
                del self._incidents[key]
        for key, sites in current.items():
            known = self._incidents.get(key)
            if known is None:
                iid = f"{key[0]}:{'+'.join(key[1])}@{now:.3f}"
                self._incidents[key] = (iid, sites)
                self._submit((INCIDENT_OPEN, iid, key[0], key[1], sites, now))
            elif not set(sites) <= set(known[1]):
                merged = tuple(sorted({*known[1], *sites}))  # every site it ever cut off
                self._incidents[key] = (known[0], merged)
                self._submit((INCIDENT_SITES, known[0], merged))

    # ------------------------------------------------------------------ helpers

    def _set(self, kind: str, element: str, state: str, cause: str | None, now: float
             ) -> bool:
        """Submit the element's state if it changed; True if it did."""
        key = (kind, element)
        value = (state, cause)
        if self._written.get(key) == value:
            return False
        self._written[key] = value
        self._submit((STATE, kind, element, state, cause, now))
        return True


def _site_state(site_id: str, device_up: list[bool | None], analysis: Analysis | None
                ) -> tuple[str, str | None]:
    status = with_isolation(site_status(device_up), site_id, analysis)
    if status in ("up", "degraded"):
        return "up", None
    if status == "unknown":
        return "unknown", NOT_POLLED_YET if device_up else "no-devices"
    outage = analysis.outage_of(site_id) if analysis is not None else None
    cause = ",".join(outage.root) if outage is not None else site_el(site_id)
    return status, cause


def _link_state(snap: LinkSnapshot, radio: tuple[float | None, ...] | None,
                by_id: dict[str, DeviceSnapshot]) -> tuple[str, str | None]:
    if snap.state == "up":
        fade = radio[2] if radio is not None else None
        return ("degraded", None) if fade is not None and fade < 0 else ("up", None)
    if snap.state == "down":
        return "down", None
    spec = snap.spec
    ends = [by_id.get(spec.a_device), by_id.get(spec.b_device)]
    if any(e is not None and e.up is None for e in ends):
        return "unknown", NOT_POLLED_YET
    return "unknown", "not-seen"


def _radio(link_id: str, a_device: str, a_interface: str, b_device: str, b_interface: str,
           by_id: dict[str, DeviceSnapshot]) -> tuple[float | None, float | None, float | None]:
    """(least received signal, least SNR, least fade margin) over both ends of a radio link."""
    rsl: list[float] = []
    snr: list[float] = []
    fade: list[float] = []
    for device, interface in ((a_device, a_interface), (b_device, b_interface)):
        snap = by_id.get(device)
        if snap is None or not snap.up or snap.stale:
            continue
        series = snap.series
        signal = _rows(snap, series.get(RADIO_SIGNAL), interface)
        nominal = series.get(RADIO_NOMINAL, {})
        for labels, value in signal.items():
            rsl.append(value)
            if labels in nominal:
                fade.append(value - nominal[labels])
        for metric in RADIO_SNR:
            snr += _rows(snap, series.get(metric), interface).values()
    return (min(rsl) if rsl else None, min(snr) if snr else None, min(fade) if fade else None)


def _rows(snap: DeviceSnapshot, rows: dict | None, interface: str) -> dict:
    """The rows of a per-radio metric that belong to this link's interface: the row of its
    ifIndex when the table is indexed by ifIndex (microwave), else every row (a radio or
    modem with one air interface: airMAX, VSAT)."""
    if not rows:
        return {}
    if not any(name == "ifIndex" for labels in rows for name, _ in labels):
        return rows
    index = next((i.if_index for i in snap.interfaces.values()
                  if interface in (i.name, i.descr, i.if_index)), None)
    return {labels: v for labels, v in rows.items() if ("ifIndex", index) in labels}


def _power(snap: DeviceSnapshot) -> tuple[bool | None, float | None]:
    """(on battery?, charge ratio) of a UPS or DC plant; (None, None) for other devices."""
    series = snap.series

    def one(metric: str) -> float | None:
        values = series.get(metric)
        return next(iter(values.values())) if values else None

    ups, mains = one(UPS_ON_BATTERY), one(DC_MAINS_OK)
    on_battery = (ups == 1) if ups is not None else (mains == 0) if mains is not None else None
    return on_battery, one(UPS_CHARGE)
