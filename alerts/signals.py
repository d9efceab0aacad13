"""What each rule kind sees in the network now: one `Signal` per subject (device, link, ...).

A signal carries either a yes/no observation or a value to compare with the rule's
thresholds (the lifecycle applies hysteresis), plus facts for messages. No signal for a
subject means "no data" (device unreachable, metric not polled): the lifecycle then
holds a firing alert and drops a pending one. Evaluators are a table keyed by kind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from borderwatch.alerts.rules import KINDS, Rule
from borderwatch.alerts.topology import Analysis, Topology, device_el, link_el, site_el
from borderwatch.collector.samples import Labels
from borderwatch.collector.state import DeviceSnapshot, InterfaceState, LinkSnapshot
from borderwatch.collector.topology_spec import LinkSpec

# Metric names of the profiles that rule kinds read.
RADIO_SIGNAL = "borderwatch_radio_signal_dbm"
RADIO_NOMINAL = "borderwatch_radio_nominal_signal_dbm"
UPS_ON_BATTERY = "borderwatch_ups_on_battery"
UPS_SECONDS_ON_BATTERY = "borderwatch_ups_seconds_on_battery"
UPS_RUNTIME = "borderwatch_ups_battery_runtime_seconds"
DC_MAINS_OK = "borderwatch_power_mains_ok"
DC_RUNTIME = "borderwatch_power_battery_runtime_seconds"
IF_ADMIN = "borderwatch_interface_admin_status"
ERROR_METRICS = ("borderwatch_interface_receive_errors_total",
                 "borderwatch_interface_transmit_errors_total",
                 "borderwatch_interface_receive_discards_total",
                 "borderwatch_interface_transmit_discards_total")
# Not polled by the if-mib profile yet; `basis: packets` works once a profile adds them.
PACKET_METRICS = ("borderwatch_interface_receive_packets_total",
                  "borderwatch_interface_transmit_packets_total")


@dataclass(frozen=True)
class Subject:
    """What an alert is about; `key` names it uniquely within a rule."""

    kind: str  # site | device | link | interface | radio | series
    site: str | None = None
    device: str | None = None
    link: str | None = None
    interface: str | None = None
    detail: str | None = None  # direction of a link, or the labels of a series

    @functools.cached_property
    def key(self) -> str:
        """'link=L27', 'device=dd-agg2,interface=Gi0/10', 'device=x,series=ifIndex=1'..."""
        parts = []
        if self.kind == "site":
            parts.append(f"site={self.site}")
        if self.kind == "link":
            parts.append(f"link={self.link}")
        if self.device and self.kind != "site":
            parts.append(f"device={self.device}")
        if self.interface:
            parts.append(f"interface={self.interface}")
        if self.detail:
            parts.append(f"{'direction' if self.kind == 'link' else 'series'}={self.detail}")
        return ",".join(parts)

    def elements(self) -> tuple[str, ...]:
        """Element ids the subject touches (for maintenance scope and grouping)."""
        out = []
        if self.link:
            out.append(link_el(self.link))
        if self.device:
            out.append(device_el(self.device))
        if self.site and not self.link and not self.device:
            out.append(site_el(self.site))
        return tuple(out)

    def to_dict(self) -> dict[str, str]:
        """JSON form (only the fields that are set)."""
        return {k: v for k in ("kind", "site", "device", "link", "interface", "detail")
                if (v := getattr(self, k)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> Subject:
        """Inverse of to_dict."""
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Signal:
    """One subject's observation for one rule at one evaluation."""

    subject: Subject
    observed: bool | None = None  # yes/no kinds; for threshold kinds False forces clear
    value: float | None = None  # threshold kinds
    info: Mapping[str, Any] = field(default_factory=dict)  # facts for messages


@dataclass
class Context:
    """Everything the evaluators read, indexed once per evaluation."""

    topology: Topology
    analysis: Analysis
    devices: Mapping[str, DeviceSnapshot]
    links: Mapping[str, LinkSnapshot]
    _by_name: dict[str, dict[str, InterfaceState]] = field(default_factory=dict)
    _power: dict[str, tuple[bool | None, float | None, float | None]] = field(
        default_factory=dict)

    # ------------------------------------------------------------------ helpers

    def interface(self, device_id: str, name: str) -> InterfaceState | None:
        """A device's interface by inventory name: ifName, then ifDescr, then ifIndex."""
        index = self._by_name.get(device_id)
        if index is None:
            snap = self.devices.get(device_id)
            index = {}
            if snap is not None and snap.up and not snap.stale:
                ifaces = snap.interfaces.values()
                # the same precedence as collector.state: ifName over ifDescr over ifIndex
                index = {**{i.if_index: i for i in ifaces}, **{i.descr: i for i in ifaces
                                                              if i.descr},
                         **{i.name: i for i in ifaces if i.name}}
            self._by_name[device_id] = index
        return index.get(name)

    def power(self, device_id: str) -> tuple[bool | None, float | None, float | None]:
        """(on battery?, seconds on battery, runtime left) of a device, once per evaluation."""
        hit = self._power.get(device_id)
        if hit is None:
            hit = self._power[device_id] = _power(self.devices[device_id])
        return hit

    def row_link(self, device_id: str, labels: Labels) -> tuple[LinkSpec | None, str | None]:
        """The link (and interface name) a per-row metric belongs to, if it can be told.

        Rows indexed by ifIndex map through the interface's name; other rows (airMAX's
        radio index) belong to the device's link when it has exactly one.
        """
        names = dict(labels)
        snap = self.devices.get(device_id)
        if "ifIndex" in names and snap is not None:
            iface = snap.interfaces.get(names["ifIndex"])
            if iface is not None:
                for name in (iface.name, iface.descr, iface.if_index):
                    link = self.topology.link_at(device_id, name) if name else None
                    if link is not None:
                        return link, name
        links = self.topology.links_of_device(device_id)
        if len(links) == 1:
            link = links[0]
            return link, link.a_interface if link.a_device == device_id else link.b_interface
        return None, None

    def matches(self, rule: Rule, subject: Subject) -> bool:
        """True if the rule's `match` admits the subject (no match: everything)."""
        m = rule.match
        if m is None:
            return True
        topo = self.topology
        link = topo.links.get(subject.link) if subject.link else None
        sites = {subject.site} if subject.site else set()
        if link is not None:
            sites |= {link.a_site, link.b_site} if subject.kind == "link" else set()
        if subject.device:
            sites.add(topo.device_site(subject.device) or "")
        if m.sites is not None and not sites & set(m.sites):
            return False
        if m.site_kinds is not None and not {topo.sites[s].kind for s in sites
                                             if s in topo.sites} & set(m.site_kinds):
            return False
        if m.devices is not None and subject.device not in m.devices:
            return False
        if m.device_roles is not None:
            dev = topo.devices.get(subject.device or "")
            if dev is None or dev.role not in m.device_roles:
                return False
        if m.links is not None and subject.link not in m.links:
            return False
        return m.media is None or (link is not None and link.medium in m.media)


def labels_text(labels: Labels) -> str:
    """A series' labels as 'k=v;k=v' (stable, for subject keys)."""
    return ";".join(f"{k}={v}" for k, v in labels)


# ----------------------------------------------------------------------------- evaluators

Evaluator = Callable[[Rule, Context], Iterator[Signal]]


def _device_subject(ctx: Context, device_id: str) -> Subject:
    return Subject("device", site=ctx.topology.device_site(device_id), device=device_id)


def answers_ping(snap: DeviceSnapshot) -> bool:
    """True if the device's latest ping round got a reply (collector/icmp)."""
    return snap.icmp is not None and snap.icmp.up


def _device_unreachable(rule: Rule, ctx: Context) -> Iterator[Signal]:
    # A device whose host answers ping is reachable: a silent agent is snmp_agent_down.
    for device_id in ctx.topology.devices:
        snap = ctx.devices.get(device_id)
        if snap is None or snap.up is None:
            continue
        info = {"error": snap.last_error} if snap.last_error else {}
        yield Signal(_device_subject(ctx, device_id),
                     observed=snap.up is False and not answers_ping(snap), info=info)


def _snmp_agent_down(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id in ctx.topology.devices:
        snap = ctx.devices.get(device_id)
        if snap is None or snap.up is None or snap.icmp is None or not snap.snmp:
            continue  # not polled yet, not pinged, or ICMP-only (it has no agent)
        info = {"error": snap.last_error, "rtt_seconds": snap.icmp.rtt_last} \
            if snap.last_error else {}
        yield Signal(_device_subject(ctx, device_id),
                     observed=snap.up is False and answers_ping(snap), info=info)


def _site_ping(read: Callable[[DeviceSnapshot], float | None]) -> Evaluator:
    """Per site, the best value of its pinged devices: a slow or lossy path shows on every
    device behind it, a single bad device (a busy PC) is not the site's path."""
    def evaluate(rule: Rule, ctx: Context) -> Iterator[Signal]:
        for site_id in ctx.topology.sites:
            values = [v for d in ctx.topology.site_devices(site_id)
                      if (snap := ctx.devices.get(d)) is not None and answers_ping(snap)
                      and (v := read(snap)) is not None]
            if values:
                best = min(values)
                yield Signal(Subject("site", site=site_id), value=best,
                             info={"value": best, "devices": len(values)})
    return evaluate


def _link_ping(read: Callable[[DeviceSnapshot], float | None]) -> Evaluator:
    """Per link, what it adds: |far end − near end| of its two end devices' ping values.

    The difference, not the far end's value, so that a slow or lossy hop is blamed on that
    hop and not also on every link behind it (each of those adds nothing). Both ends must
    answer ping; `far_site` is the worse end's site (the engine's grouping puts that site's
    own degraded-path alert, and those of the sites behind the link, under the link)."""
    def evaluate(rule: Rule, ctx: Context) -> Iterator[Signal]:
        for link_id, link in ctx.topology.links.items():
            ends = []
            for device, site in ((link.a_device, link.a_site), (link.b_device, link.b_site)):
                snap = ctx.devices.get(device)
                value = read(snap) if snap is not None and answers_ping(snap) else None
                if value is None:
                    break
                ends.append((value, site, device))
            else:
                (near, _, _), (far, far_site, far_device) = sorted(ends)
                site = ctx.topology.sites.get(far_site)
                yield Signal(Subject("link", link=link_id), value=far - near,
                             info={"value": far - near, "far_site": far_site,
                                   "far_site_name": site.name if site else far_site,
                                   "far_site_name_en": site.name_en if site else None,
                                   "far_device": far_device, "far_value": far,
                                   "near_value": near})
    return evaluate


def _device_incomplete(rule: Rule, ctx: Context) -> Iterator[Signal]:
    # Only devices that answer: an unreachable one has its own alert, and no signal
    # holds a firing "incomplete" alert instead of resolving it on a failed poll.
    for device_id, snap in _live(ctx):
        if snap.partial is None:
            continue
        info = {"kinds": sorted(snap.problem_kinds),
                "problem": snap.problems[0] if snap.problems else ""} if snap.partial else {}
        yield Signal(_device_subject(ctx, device_id), observed=snap.partial, info=info)


def _site_status(wanted: str) -> Evaluator:
    def evaluate(rule: Rule, ctx: Context) -> Iterator[Signal]:
        for site_id, status in ctx.analysis.status.items():
            yield Signal(Subject("site", site=site_id), observed=status == wanted)
    return evaluate


def _redundancy_lost(rule: Rule, ctx: Context) -> Iterator[Signal]:
    lost = ctx.analysis.redundancy_lost
    for site_id in ctx.analysis.status:
        item = lost.get(site_id)
        info = {} if item is None else {"single_points": item.single_points,
                                        "causes": item.causes,
                                        "capacity_bps": item.capacity_bps,
                                        "planned_capacity_bps": item.planned_capacity_bps}
        yield Signal(Subject("site", site=site_id), observed=item is not None, info=info)


def _link_down(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for link_id, snap in ctx.links.items():
        observed = None if snap.state == "unknown" else snap.state == "down"
        yield Signal(Subject("link", link=link_id), observed=observed,
                     info={"reason": snap.reason})


def _interfaces(rule: Rule, ctx: Context) -> Iterator[tuple[str, str, InterfaceState | None]]:
    """(device, interface name, state) for the interfaces a rule looks at."""
    if rule.interfaces == "all":
        for device_id, snap in ctx.devices.items():
            if not snap.up or snap.stale:
                continue
            admin = snap.series.get(IF_ADMIN, {})
            for iface in snap.interfaces.values():
                if admin.get(iface.labels, 1) == 1:
                    yield device_id, iface.name or iface.descr or iface.if_index, iface
        return
    for device_id, dev in ctx.topology.devices.items():
        for name in dev.interfaces:
            yield device_id, name, ctx.interface(device_id, name)


def _interface_subject(ctx: Context, device_id: str, name: str) -> Subject:
    link = ctx.topology.link_at(device_id, name)
    return Subject("interface", site=ctx.topology.device_site(device_id), device=device_id,
                   interface=name, link=link.link_id if link else None)


def _interface_down(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id, name, iface in _interfaces(rule, ctx):
        if iface is None or iface.up is None:
            continue
        yield Signal(_interface_subject(ctx, device_id, name), observed=iface.up is False)


def _interface_errors(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id, name, iface in _interfaces(rule, ctx):
        if iface is None:
            continue
        rates = ctx.devices[device_id].rates
        found = [rates[m][iface.labels] for m in ERROR_METRICS
                 if iface.labels in rates.get(m, {})]
        if not found:
            continue
        errors = sum(found)
        if rule.basis == "packets":
            packets = [rates[m][iface.labels] for m in PACKET_METRICS
                       if iface.labels in rates.get(m, {})]
            if not packets:
                continue
            total = sum(packets)
            value = errors / total if total > 0 else 0.0
        else:
            value = errors
        yield Signal(_interface_subject(ctx, device_id, name), value=value,
                     info={"errors_per_second": errors})


def _link_utilization(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for link_id, snap in ctx.links.items():
        for direction, ratio in sorted(snap.utilization.items()):
            yield Signal(Subject("link", link=link_id, detail=direction), value=ratio,
                         info={"rate_bps": snap.rate_bps.get(direction),
                               "capacity_bps": snap.spec.capacity(direction)})


def _series_subject(ctx: Context, kind: str, device_id: str, labels: Labels) -> Subject:
    link, iface = ctx.row_link(device_id, labels)
    return Subject(kind, site=ctx.topology.device_site(device_id), device=device_id,
                   link=link.link_id if link else None, interface=iface,
                   detail=labels_text(labels) or None)


def _live(ctx: Context) -> Iterator[tuple[str, DeviceSnapshot]]:
    for device_id, snap in ctx.devices.items():
        if snap.up and not snap.stale and device_id in ctx.topology.devices:
            yield device_id, snap


def _radio_fade(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id, snap in _live(ctx):
        nominal = snap.series.get(RADIO_NOMINAL, {})
        for labels, signal in sorted(snap.series.get(RADIO_SIGNAL, {}).items()):
            if labels not in nominal:
                continue
            yield Signal(_series_subject(ctx, "radio", device_id, labels),
                         value=nominal[labels] - signal,
                         info={"signal_dbm": signal, "nominal_dbm": nominal[labels]})


def _radio_signal_low(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id, snap in _live(ctx):
        nominal = snap.series.get(RADIO_NOMINAL, {})
        for labels, signal in sorted(snap.series.get(RADIO_SIGNAL, {}).items()):
            if labels in nominal:
                continue  # radio_fade judges radios with a planned level
            yield Signal(_series_subject(ctx, "radio", device_id, labels), value=signal,
                         info={"signal_dbm": signal})


def _gauge(rule: Rule, ctx: Context) -> Iterator[Signal]:
    metric = rule.metric_name
    assert metric is not None  # the rules loader requires it
    for device_id, snap in _live(ctx):
        for labels, value in sorted(snap.series.get(metric, {}).items()):
            yield Signal(_series_subject(ctx, "series", device_id, labels), value=value,
                         info={"metric": metric})


def _power(snap: DeviceSnapshot) -> tuple[bool | None, float | None, float | None]:
    """(on battery?, seconds on battery, runtime left in seconds) from UPS or DC metrics."""
    series = snap.series

    def one(metric: str) -> float | None:
        values = series.get(metric)
        return next(iter(values.values())) if values else None

    ups, mains = one(UPS_ON_BATTERY), one(DC_MAINS_OK)
    on_battery = None
    if ups is not None:
        on_battery = ups == 1
    elif mains is not None:
        on_battery = mains == 0
    runtime = one(UPS_RUNTIME)
    if runtime is None:
        runtime = one(DC_RUNTIME)
    return on_battery, one(UPS_SECONDS_ON_BATTERY), runtime


def _on_battery(rule: Rule, ctx: Context) -> Iterator[Signal]:
    for device_id, _snap in _live(ctx):
        on_battery, seconds, runtime = ctx.power(device_id)
        if on_battery is None:
            continue
        yield Signal(_device_subject(ctx, device_id), observed=on_battery,
                     info={"seconds_on_battery": seconds, "runtime_seconds": runtime})


def _battery_runtime_low(rule: Rule, ctx: Context) -> Iterator[Signal]:
    gate = rule.while_on_battery is not False
    for device_id, _snap in _live(ctx):
        on_battery, _, runtime = ctx.power(device_id)
        if runtime is None:
            continue
        forced = False if gate and on_battery is False else None
        yield Signal(_device_subject(ctx, device_id), value=runtime, observed=forced,
                     info={"runtime_seconds": runtime, "on_battery": on_battery})


EVALUATORS: dict[str, Evaluator] = {
    "device_unreachable": _device_unreachable,
    "snmp_agent_down": _snmp_agent_down,
    "site_rtt_high": _site_ping(lambda s: s.icmp.rtt_average if s.icmp else None),
    "site_loss_high": _site_ping(lambda s: s.icmp.loss_ratio if s.icmp else None),
    "device_incomplete": _device_incomplete,
    "site_down": _site_status("down"),
    "site_isolated": _site_status("isolated"),
    "redundancy_lost": _redundancy_lost,
    "link_rtt_high": _link_ping(lambda s: s.icmp.rtt_average if s.icmp else None),
    "link_loss_high": _link_ping(lambda s: s.icmp.loss_ratio if s.icmp else None),
    "link_down": _link_down,
    "interface_down": _interface_down,
    "interface_errors": _interface_errors,
    "link_utilization": _link_utilization,
    "radio_fade": _radio_fade,
    "radio_signal_low": _radio_signal_low,
    "radio_snr_low": _gauge,
    "on_battery": _on_battery,
    "battery_runtime_low": _battery_runtime_low,
    "gauge_above": _gauge,
    "gauge_below": _gauge,
}
assert set(EVALUATORS) == set(KINDS), "every rule kind needs an evaluator"


def signals(rule: Rule, ctx: Context) -> Iterator[Signal]:
    """The rule's signals for subjects its `match` admits."""
    if rule.match is None:
        yield from EVALUATORS[rule.kind](rule, ctx)
        return
    for signal in EVALUATORS[rule.kind](rule, ctx):
        if ctx.matches(rule, signal.subject):
            yield signal


def site_power(snaps: Mapping[str, DeviceSnapshot], topo: Topology
               ) -> dict[str, tuple[bool, float | None, float | None]]:
    """Per site with power metrics: (on battery?, seconds on battery, least runtime left)."""
    out: dict[str, tuple[bool, float | None, float | None]] = {}
    for device_id, snap in snaps.items():
        site = topo.device_site(device_id)
        if site is None or not snap.up or snap.stale:
            continue
        on_battery, seconds, runtime = _power(snap)
        if on_battery is None:
            continue
        prev = out.get(site)
        if prev is None:
            out[site] = (on_battery, seconds, runtime)
        else:
            runtimes = [r for r in (prev[2], runtime) if r is not None]
            out[site] = (prev[0] or on_battery, prev[1] if prev[1] is not None else seconds,
                         min(runtimes) if runtimes else None)
    return out
