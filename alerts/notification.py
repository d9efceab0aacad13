"""What the engine hands to notifiers: one `Notification` per incident event, self-contained.

A notification carries names (Vietnamese and English) so that a renderer or a notifier
never needs the inventory; labels and annotations follow Alertmanager's alert shape so the
Alertmanager notifier can post them as they are. `Decision` is the dedup stage's answer,
with a named reason, for every incident at every evaluation (notified or not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SiteRef:
    """A site's names for messages."""

    site_id: str
    name: str  # Vietnamese, as in the inventory
    kind: str
    name_en: str | None = None
    commune: str | None = None


@dataclass(frozen=True)
class Cause:
    """One root-cause element, described for messages."""

    element: str  # "link:L30", "site:hub-mauson", "device:dd-agg2"
    kind: str  # link | site | device
    ident: str
    medium: str | None = None  # links
    ends: tuple[SiteRef, ...] = ()  # links: the two end sites; device/site: its site
    evidence: tuple[str, ...] = ()  # link ids seen down that this cause explains
    role: str | None = None  # devices


@dataclass(frozen=True)
class PowerNote:
    """A site seen on battery (UPS or DC plant), relevant to the incident."""

    site: SiteRef
    since: float | None  # first seen on battery
    runtime_seconds: float | None  # at the last observation
    observed_at: float


@dataclass(frozen=True)
class AlertRef:
    """One member alert of an incident."""

    rule: str
    kind: str
    severity: str
    subject: str  # the subject key, e.g. "link=L27"
    phase: str
    since: float | None
    value: float | None = None
    flapping: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    site: SiteRef | None = None
    device: str | None = None
    interface: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Decision:
    """Whether to notify now, and why (like Alertmanager's dedup stage, but named)."""

    notify: bool
    reason: str  # new | escalated | repeat | resolved | pending | group_wait |
    #              group_interval | unchanged | silenced | maintenance | never_notified |
    #              flapping | removed_from_inventory (resolved: its subjects left the
    #              inventory, nobody saw them recover)
    detail: str = ""


@dataclass(frozen=True)
class Notification:
    """One message about one incident: it fired, got worse, is still on, or is resolved."""

    incident_key: str  # stable for the incident's life; receivers dedup on (key, status, at)
    group: str  # the topology group behind it, e.g. "reach:link:L27"
    status: str  # firing | resolved
    reason: str  # new | escalated | repeat | resolved | removed_from_inventory
    severity: str
    headline: str  # isolation | site_down | device_down | redundancy_lost | <rule kind>
    root_cause: tuple[Cause, ...]
    cut_off: tuple[SiteRef, ...]  # sites unreachable (down sites first)
    down_sites: tuple[str, ...]  # which of cut_off failed themselves
    redundancy_lost: tuple[SiteRef, ...]
    alerts: tuple[AlertRef, ...]
    power: tuple[PowerNote, ...]
    since: float  # when the incident started firing
    at: float  # evaluation time of this notification
    ended_at: float | None = None
    flapping: bool = False  # firing: it flaps now; resolved: it flapped before it settled
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self, wall_offset: float = 0.0) -> dict[str, Any]:
        """JSON form (the webhook body), its times on the wall clock.

        The engine's times are steady (collector.clock); `wall_offset` is what the wall
        clock is ahead of the steady one now (`wall() - now()`): receivers and people read
        wall times. When there is an offset, `steady` keeps the engine's own times of the
        event, which identify it across re-decisions (the outbox dedups on them: a wall
        conversion moves with every clock step, and by a few microseconds at each read).
        """
        out = asdict(self)
        if not wall_offset:
            return out
        for key in ("since", "at", "ended_at"):
            if out[key] is not None:
                out[key] += wall_offset
        for item in (*out["alerts"], *out["power"]):
            for key in ("since", "observed_at"):
                if item.get(key) is not None:
                    item[key] += wall_offset
        out["steady"] = {"since": self.since, "at": self.at, "ended_at": self.ended_at}
        return out
