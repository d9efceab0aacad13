"""Incidents: alerts grouped by what explains them, with a stable key for their whole life.

Grouping is topology-aware (root-cause suppression as data, not branches): every alert maps
to a *group key* that names its explanation.

* `reach:<root>` for everything the topology ties to an outage: the isolated and down
  sites, the devices there, the failed links around them, and alerts about the root-cause
  element itself. `<root>` is the outage's root cause, e.g. `reach:link:L27`,
  `reach:site:hub-thatkhe`, `reach:device:dd-agg2`.
* `link:<id>` for a failed link that cuts nobody off (plus the sites that lost redundancy
  through it) and for the link's radio and traffic conditions; for a degraded link (its
  ping RTT or loss alert pending or firing), also the degraded-path alerts of the sites
  behind it and of its far end: one page names the link, not each site.
* `power:<site>` for a site's UPS / DC-plant alerts; `device:<id>` for a device's other
  conditions; `redundancy:<a>+<b>` for lost redundancy with several causes.

An alert that has fired stays with its incident until it resolves (sticky), so evidence
that changes the topology's explanation later never produces a false "resolved". A
reachability group continues an open reachability incident when their root causes or
cut-off sites overlap: a root cause refined by new evidence (two links → the node between
them) is the same incident, not a new page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from borderwatch.alerts.topology import (
    Analysis,
    Outage,
    Topology,
    device_el,
    link_el,
    site_el,
    split_el,
)

POWER_KINDS = ("on_battery", "battery_runtime_low")
SITE_KINDS = ("site_isolated", "site_down", "redundancy_lost")
LINK_PING_KINDS = ("link_rtt_high", "link_loss_high")  # a degraded link...
SITE_PING_KINDS = ("site_rtt_high", "site_loss_high")  # ...explains these behind it


@dataclass
class Group:
    """Alerts that share an explanation at one evaluation."""

    key: str
    roots: set[str] = field(default_factory=set)
    evidence: set[str] = field(default_factory=set)
    cut_off: set[str] = field(default_factory=set)
    down_sites: set[str] = field(default_factory=set)
    redundancy_lost: set[str] = field(default_factory=set)
    since: float | None = None
    alerts: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        """The key's prefix: reach | link | power | device | redundancy."""
        return self.key.split(":", 1)[0]

    def anchors(self) -> set[str]:
        """Elements that identify the group across evaluations."""
        return self.roots | {site_el(s) for s in self.cut_off}


@dataclass
class Incident:
    """One incident's record: its groups, its content, and what was notified when."""

    key: str
    family: str
    opened_at: float
    groups: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    cut_off: list[str] = field(default_factory=list)
    down_sites: list[str] = field(default_factory=list)
    redundancy_lost: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # members at the last evaluation
    seen_alerts: list[str] = field(default_factory=list)  # every alert ever a member
    all_roots: list[str] = field(default_factory=list)  # every root cause it ever had
    all_cut_off: list[str] = field(default_factory=list)  # every site it ever cut off
    status: str = "pending"  # pending | firing | resolved
    severity: str | None = None
    firing_since: float | None = None
    resolved_at: float | None = None
    flapping: bool = False
    flapped: bool = False  # it flapped at some point: its resolve says so
    notified_status: str | None = None  # what receivers last heard: firing | resolved
    notified_at: float | None = None
    notified_severity: str | None = None
    notified_cut_off: list[str] = field(default_factory=list)
    notified_roots: list[str] = field(default_factory=list)
    notified_evidence: list[str] = field(default_factory=list)
    notified_headline: str | None = None  # a resolve repeats what the page led with
    notified_redundancy_lost: list[str] = field(default_factory=list)
    notified_flapping: bool = False  # paged as flapping: its changes are not paged again
    notifications: int = 0
    last_decision: dict[str, Any] = field(default_factory=dict)
    suppressed: str | None = None  # the last silence/maintenance that held a notification

    def anchors(self) -> set[str]:
        """Elements that identify the incident (roots and cut-off sites)."""
        return set(self.roots) | {site_el(s) for s in self.cut_off}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        """Inverse of to_dict."""
        return cls(**data)


class Grouper:
    """Maps alerts to group keys for one evaluation, from the topology analysis."""

    def __init__(self, topo: Topology, analysis: Analysis,
                 degraded: Mapping[str, str] | None = None) -> None:
        """`degraded`: site → the degraded link that explains its degraded path."""
        self.topo = topo
        self.analysis = analysis
        self.degraded = dict(degraded or {})
        self.outage_by_key: dict[str, Outage] = {}
        self._site: dict[str, str] = {}
        self._link: dict[str, str] = {}
        self._device: dict[str, str] = {}
        for outage in analysis.outages:
            key = "reach:" + outage.key
            self.outage_by_key[key] = outage
            for s in outage.sites:
                self._site[s] = key
                for d in topo.site_devices(s):
                    self._device[d] = key
            for e in outage.evidence:
                self._link[split_el(e)[1]] = key
            for r in outage.root:
                kind, ident = split_el(r)
                if kind == "device":
                    self._device[ident] = key
                elif kind == "link":
                    self._link[ident] = key
        for link_id, why in analysis.broken.items():
            kind, ident = split_el(why)
            if kind == "device":
                key = self._device.setdefault(ident, "reach:" + why)
                self._link.setdefault(link_id, key)

    def key_for(self, rule_kind: str, subject_site: str | None, device: str | None,
                link: str | None, info: Mapping[str, Any]) -> str:
        """The group key of an alert."""
        if rule_kind in ("site_isolated", "site_down") and subject_site:
            return self._site.get(subject_site, "reach:" + site_el(subject_site))
        if rule_kind == "redundancy_lost" and subject_site:
            return self._redundancy_key(subject_site, info.get("causes") or ())
        if rule_kind in SITE_PING_KINDS and subject_site in self.degraded:
            link = self.degraded[subject_site]
            return self._link.get(link, "link:" + link)
        if rule_kind == "device_unreachable" and device:
            return self._device.get(device, "reach:" + device_el(device))
        if link and link in self._link:
            return self._link[link]
        if device and device in self._device:
            return self._device[device]
        if link:
            return "link:" + link
        if rule_kind in POWER_KINDS and subject_site:
            return "power:" + subject_site
        if device:
            return "device:" + device
        return "site:" + (subject_site or "?")

    def _redundancy_key(self, site: str, causes: Iterable[str]) -> str:
        causes = tuple(sorted(causes))
        if not causes:
            return "redundancy:" + site_el(site)
        joined = "+".join(causes)
        if "reach:" + joined in self.outage_by_key:
            return "reach:" + joined
        if len(causes) == 1:
            kind, ident = split_el(causes[0])
            if kind == "link":
                return self._link.get(ident, "link:" + ident)
            if kind == "device":
                return self._device.get(ident, "reach:" + causes[0])
            return self._site.get(ident, "reach:" + causes[0])
        return "redundancy:" + joined

    def fill(self, group: Group) -> None:
        """Roots, cut-off sites and evidence of a group from its outage (or its key)."""
        outage = self.outage_by_key.get(group.key)
        if outage is not None:
            group.roots |= set(outage.root)
            group.cut_off |= set(outage.sites)
            group.down_sites |= set(outage.down)
            group.evidence |= set(outage.evidence)
            group.since = outage.since
            return
        family, _, rest = group.key.partition(":")
        if family == "reach" or family == "redundancy":
            group.roots |= set(rest.split("+"))
        elif family == "link":
            group.roots.add(link_el(rest))
        elif family == "power":
            group.roots.add(site_el(rest))
        elif family == "device":
            group.roots.add(device_el(rest))
        elif family == "site":
            group.roots.add(site_el(rest))


def match_groups(groups: Iterable[Group], incidents: Mapping[str, Incident]
                 ) -> dict[str, str | None]:
    """For each group key: the open incident it continues (None: a new incident).

    Exact group-key matches first; then a reachability group continues the oldest open
    reachability incident whose anchors overlap.
    """
    open_ = sorted((i for i in incidents.values() if i.status != "resolved"),
                   key=lambda i: (i.opened_at, i.key))
    out: dict[str, str | None] = {}
    for group in sorted(groups, key=lambda g: g.key):
        hit = next((i.key for i in open_ if group.key in i.groups), None)
        if hit is None and group.family == "reach":
            anchors = group.anchors()
            hit = next((i.key for i in open_ if i.family == "reach" and i.anchors() & anchors),
                       None)
        out[group.key] = hit
    return out
