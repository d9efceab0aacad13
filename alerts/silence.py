"""Silences (runtime data with expiry, as in Alertmanager) and maintenance-window scope.

Both suppress notifications only: the incident and its alerts are still evaluated and kept,
and the decision records which silence or window held the notification back.

A silence matches an incident's labels; labels that name places (site, device, link, rule)
are multi-valued, since an incident spans several: `site="bp-thanhloa"` matches an
incident in which that site is cut off or is a root cause.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from borderwatch.alerts.rules import Maintenance
from borderwatch.alerts.topology import Topology, split_el

MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One label matcher: name, op (=, !=, =~, !~) and value (a full-match regex for =~/!~)."""

    name: str
    value: str
    op: str = "="

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPS:
            raise ValueError(f"matcher op {self.op!r} is not allowed; allowed: "
                             f"{', '.join(MATCH_OPS)}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self.name}{self.op}{self.value!r}: bad regex "
                                 f"({exc})") from None

    def matches(self, labels: Mapping[str, Sequence[str]]) -> bool:
        """True if the (multi-valued) labels satisfy this matcher."""
        values = labels.get(self.name, ())
        if self.op == "=":
            return self.value in values or (self.value == "" and not values)
        if self.op == "!=":
            return self.value not in values
        hit = any(re.fullmatch(self.value, v) for v in values)
        return hit if self.op == "=~" else not hit

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """'site=bp-thanhloa', 'severity!=warning', 'link=~L2.*' (for the later CLI/API)."""
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*", text)
        if not m:
            raise ValueError(f"{text!r} is not a matcher; write name=value, name!=value, "
                             "name=~regex or name!~regex")
        return cls(m.group(1), m.group(3), m.group(2))


@dataclass(frozen=True)
class Silence:
    """Mute incidents whose labels match every matcher, from starts_at until ends_at."""

    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")
        if not self.id:
            digest = hashlib.sha256(json.dumps(
                [[asdict(m) for m in self.matchers], self.starts_at, self.ends_at,
                 self.created_by, self.comment]).encode()).hexdigest()
            object.__setattr__(self, "id", digest[:12])

    def active(self, now: float) -> bool:
        """True while the silence is in force."""
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, Sequence[str]]) -> bool:
        """True if every matcher matches."""
        return all(m.matches(labels) for m in self.matchers)

    def to_dict(self) -> dict:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Silence:
        """Inverse of to_dict."""
        data = dict(data)
        data["matchers"] = tuple(Matcher(**m) for m in data["matchers"])
        return cls(**data)


def in_scope(window: Maintenance, element: str, topo: Topology) -> bool:
    """True if a maintenance window covers an element.

    A site covers itself, its devices and the links that end there; a device covers
    itself and its links; a link covers itself.
    """
    kind, ident = split_el(element)
    sites, devices, links = set(window.sites), set(window.devices), set(window.links)
    if kind == "site":
        return ident in sites
    if kind == "device":
        return ident in devices or topo.device_site(ident) in sites
    if kind == "link":
        link = topo.links.get(ident)
        if ident in links or link is None:
            return ident in links
        return bool({link.a_site, link.b_site} & sites or
                    {link.a_device, link.b_device} & devices)
    return False


def covering_window(windows: Iterable[Maintenance], elements: Sequence[str], topo: Topology,
                    now: float) -> Maintenance | None:
    """The first active window that covers every element (None if there is none)."""
    if not elements:
        return None
    for window in windows:
        if window.active(now) and all(in_scope(window, e, topo) for e in elements):
            return window
    return None
