"""Turn an incident into a self-contained `Notification` (names, causes, labels, texts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from borderwatch.alerts import render
from borderwatch.alerts.incident import Incident
from borderwatch.alerts.lifecycle import AlertState, Phase
from borderwatch.alerts.notification import (
    AlertRef,
    Cause,
    Decision,
    Notification,
    PowerNote,
    SiteRef,
)
from borderwatch.alerts.rules import SEVERITY_RANK
from borderwatch.alerts.topology import Topology, split_el

if TYPE_CHECKING:
    from borderwatch.alerts.engine import Engine


# Order of cut-off sites in messages: the node that failed, then hubs (they explain the
# rest), border posts, gates, communes.
_KIND_ORDER = {"core": 0, "hub": 1, "border_post": 2, "border_gate": 3, "commune": 4}


def site_ref(topo: Topology, site_id: str) -> SiteRef:
    """A site's names (an unknown id gets itself as its name)."""
    site = topo.sites.get(site_id)
    if site is None:
        return SiteRef(site_id, site_id, "unknown")
    return SiteRef(site_id, site.name, site.kind, site.name_en, site.commune)


def cause(topo: Topology, element: str, evidence: list[str]) -> Cause:
    """One root-cause element, with the names messages need."""
    kind, ident = split_el(element)
    if kind == "link" and ident in topo.links:
        link = topo.links[ident]
        return Cause(element, kind, ident, medium=link.medium,
                     ends=(site_ref(topo, link.a_site), site_ref(topo, link.b_site)))
    if kind == "device" and ident in topo.devices:
        dev = topo.devices[ident]
        return Cause(element, kind, ident, ends=(site_ref(topo, dev.site_id),), role=dev.role)
    if kind == "site":
        touching = tuple(sorted(
            split_el(e)[1] for e in evidence
            if split_el(e)[1] in topo.links and ident in (topo.links[split_el(e)[1]].a_site,
                                                          topo.links[split_el(e)[1]].b_site)))
        return Cause(element, kind, ident, ends=(site_ref(topo, ident),), evidence=touching)
    return Cause(element, kind, ident)


def _rank(alert: AlertState) -> tuple:
    return (-SEVERITY_RANK.get(alert.severity, 0), alert.phase is not Phase.FIRING,
            alert.rule, alert.subject.key)


def headline(engine: Engine, incident: Incident, cut_off: list[str],
             members: list[AlertState]) -> str:
    """What the message leads with: isolation, site_down, device_down, redundancy_lost, or
    the kind of the most severe member alert."""
    if cut_off:
        down = set(incident.down_sites)
        return "site_down" if len(cut_off) == 1 and cut_off[0] in down else "isolation"
    if incident.family == "reach" and any(split_el(r)[0] == "device" for r in incident.roots):
        return "device_down"
    if incident.redundancy_lost:
        return "redundancy_lost"
    ranked = sorted(members, key=_rank)
    return engine._kind(ranked[0]) if ranked else "unknown"


def power_notes(engine: Engine, incident: Incident) -> tuple[PowerNote, ...]:
    """Sites of the incident last seen on battery (root causes, link ends, cut-off sites)."""
    topo = engine.topology
    sites: set[str] = set(incident.cut_off)
    for element in incident.roots:
        kind, ident = split_el(element)
        if kind == "site":
            sites.add(ident)
        elif kind == "link" and ident in topo.links:
            sites |= {topo.links[ident].a_site, topo.links[ident].b_site}
        elif kind == "device":
            sites.add(topo.device_site(ident) or "")
    for key in incident.alerts:
        alert = engine.alerts.get(key)
        if alert is not None and alert.subject.site:
            sites.add(alert.subject.site)
    out = []
    for site in sorted(sites):
        power = engine.site_power.get(site)
        if power and power.get("on_battery"):
            out.append(PowerNote(site_ref(topo, site), power.get("since"),
                                 power.get("runtime_seconds"), power["observed_at"]))
    return tuple(out)


def match_labels(engine: Engine, incident: Incident) -> dict[str, list[str]]:
    """Multi-valued labels of an incident, for silences."""
    topo = engine.topology
    members = [engine.alerts[k] for k in incident.alerts if k in engine.alerts]
    sites = set(incident.cut_off) | set(incident.redundancy_lost)
    devices, links = set(), set()
    for element in incident.roots:
        kind, ident = split_el(element)
        {"site": sites, "device": devices, "link": links}.get(kind, set()).add(ident)
    for alert in members:
        for value, bucket in ((alert.subject.site, sites), (alert.subject.device, devices),
                              (alert.subject.link, links)):
            if value:
                bucket.add(value)
    for device in devices:
        if topo.device_site(device):
            sites.add(topo.device_site(device) or "")
    rules = sorted({a.rule for a in members})
    return {"alertname": rules, "rule": rules, "severity": [incident.severity or ""],
            "incident": [incident.key], "group": list(incident.groups),
            "site": sorted(sites), "device": sorted(devices), "link": sorted(links)}


def build(engine: Engine, incident: Incident, members: list[AlertState], decision: Decision,
          now: float) -> Notification:
    """The notification for an incident at a decision to notify."""
    topo = engine.topology
    resolved = incident.status == "resolved"
    cut = incident.notified_cut_off if resolved else incident.cut_off
    roots = incident.notified_roots if resolved else incident.roots
    evidence = incident.notified_evidence if resolved else incident.evidence
    down = set(incident.down_sites)
    cut_off = sorted(cut, key=lambda s: (s not in down, _KIND_ORDER.get(
        topo.sites[s].kind if s in topo.sites else "", 9), s))
    ranked = sorted(members, key=_rank)
    firing = [a for a in ranked if a.phase is Phase.FIRING] or ranked
    primary = firing[0].rule if firing else "unknown"
    severity = (incident.notified_severity if resolved else incident.severity) or "warning"
    alerts = tuple(AlertRef(
        a.rule, engine._kind(a), a.severity, a.subject.key, str(a.phase),
        a.firing_since if a.phase is Phase.FIRING else a.active_since, a.value, a.flapping,
        dict(a.info), site_ref(topo, a.subject.site) if a.subject.site else None,
        a.subject.device, a.subject.interface, a.subject.link) for a in ranked)
    redundancy = incident.redundancy_lost
    if resolved and not redundancy:
        redundancy = incident.notified_redundancy_lost or sorted({
            a.subject.site for a in members
            if a.subject.site and engine._kind(a) == "redundancy_lost"})
    head = headline(engine, incident, cut_off, members)
    if resolved and incident.notified_headline:
        # at the resolve every member is clear, so what leads now is arbitrary: say what
        # the page said (its redundancy loss, not the last interface to come back)
        head = incident.notified_headline
    labels = {"alertname": "SiteIsolated" if head == "isolation" else primary,
              "severity": severity, "incident": incident.key,
              "root_cause": ",".join(roots), "sites": ",".join(cut_off)}
    notification = Notification(
        incident_key=incident.key, group=incident.groups[-1] if incident.groups else "",
        status="resolved" if resolved else "firing", reason=decision.reason,
        severity=severity, headline=head,
        # a resolve repeats what people were told, not what recovery looks like
        root_cause=tuple(cause(topo, e, evidence) for e in roots),
        cut_off=tuple(site_ref(topo, s) for s in cut_off),
        down_sites=tuple(s for s in cut_off if s in down),
        redundancy_lost=tuple(site_ref(topo, s) for s in redundancy),
        alerts=alerts, power=power_notes(engine, incident),
        since=incident.firing_since if incident.firing_since is not None else now, at=now,
        ended_at=incident.resolved_at if resolved else None,
        # a resolve says whether it flapped: by then it has stopped, or it could not resolve
        flapping=incident.flapped if resolved else incident.flapping,
        labels=labels, annotations={})
    notification.annotations.update({
        "summary_vi": render.render(notification, "vi"),
        "summary_en": render.render(notification, "en"),
        "decision": decision.reason + (f": {decision.detail}" if decision.detail else ""),
    })
    return notification
