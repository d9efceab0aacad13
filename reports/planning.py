"""The plan's weaknesses from the inventory alone: single points of failure, capacity risks,
and the one new link that would remove the most exposure.

Exposure is counted in (site, element) pairs: a site behind two single points counts
twice, so a link that removes both of a site's weak points is worth more than one that
removes one. The first two lists come from alerts.topology (one place for the graph
logic); only the what-if of new links is computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from borderwatch.alerts.topology import Topology, capacity_risks, critical_elements, single_points
from borderwatch.collector.inventory import Inventory

EARTH_RADIUS_KM = 6371.0088
RANKED_CANDIDATES = 5


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A link the planners could add, with what it would change."""

    a: str
    b: str
    source: str  # "inventory" (reports.candidate_links) or "distance" (max_new_link_km)
    distance_km: float | None
    exposure_after: int
    made_redundant: tuple[str, ...]  # sites left with no single point at all
    note: str | None = None


@dataclass(frozen=True, slots=True)
class NewLinkAdvice:
    """The exposure now, how many candidates were weighed, the best ones first."""

    exposure_before: int
    weighed: int
    max_km: float | None
    ranking: tuple[Candidate, ...]


def exposure(critical: dict[str, frozenset[str]]) -> int:
    """(site, single point) pairs."""
    return sum(len(c) for c in critical.values())


def _site_coords(inventory: Inventory) -> dict[str, tuple[float, float]]:
    return {s.id: (s.lat, s.lon) for s in inventory.sites
            if s.lat is not None and s.lon is not None}


def _candidate_pairs(inventory: Inventory, topo: Topology, max_km: float | None,
                     exposed: set[str]) -> list[tuple[str, str, str, float | None, str | None]]:
    """Inventory candidates, then every unlinked pair within max_km. A pair helps only if
    one end is exposed (an edge between two sites with no single point gives nobody a new
    path that avoids one), so the others are not weighed."""
    coords = _site_coords(inventory)
    linked = {frozenset((lk.a_site, lk.b_site)) for lk in topo.links.values()}
    out, seen = [], set()

    def dist(a: str, b: str) -> float | None:
        if a in coords and b in coords:
            return haversine_km(*coords[a], *coords[b])
        return None

    cfg = inventory.reports
    for c in cfg.candidate_links if cfg else ():
        pair = frozenset((c.a, c.b))
        if pair not in seen:
            seen.add(pair)
            out.append((c.a, c.b, "inventory", dist(c.a, c.b), c.note))
    if max_km is not None:
        ids = sorted(coords)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                pair = frozenset((a, b))
                if pair in seen or pair in linked or not ({a, b} & exposed):
                    continue
                d = dist(a, b)
                if d is not None and d <= max_km:
                    seen.add(pair)
                    out.append((a, b, "distance", d, None))
    return out


def best_new_link(inventory: Inventory, topo: Topology, max_km: float | None
                  ) -> NewLinkAdvice:
    """Weigh every candidate by the exposure left with it added (least first)."""
    before = topo.planned_critical
    exposed = {s for s, c in before.items() if c}
    ranking = []
    pairs = _candidate_pairs(inventory, topo, max_km, exposed)
    for a, b, source, km, note in pairs:
        graph = topo.graph.copy()
        graph.add_edge(a, b, key="__candidate__")
        after = critical_elements(graph, topo.cores)
        fixed = tuple(sorted(s for s in exposed if not after.get(s)))
        ranking.append(Candidate(a, b, source, km, exposure(after), fixed, note))
    ranking.sort(key=lambda c: (c.exposure_after, c.distance_km if c.distance_km is not None
                                else math.inf, c.a, c.b))
    return NewLinkAdvice(exposure(before), len(pairs), max_km,
                         tuple(ranking[:RANKED_CANDIDATES]))


@dataclass(frozen=True, slots=True)
class PlanReview:
    """Everything the planning section shows."""

    single_points: list
    capacity_risks: list
    new_link: NewLinkAdvice


def review(inventory: Inventory, max_km: float | None) -> PlanReview:
    """Single points, capacity risks and new-link advice for an inventory."""
    topo = Topology.from_inventory(inventory)
    return PlanReview(single_points(topo), capacity_risks(topo),
                      best_new_link(inventory, topo, max_km))
