"""The network as a graph of sites and links: who is reachable from the core, who is cut off
and by what (the root cause), who has lost redundancy, and the plan's single points of failure.

Elements are named by strings that also serve as incident anchors: `site:<id>`,
`link:<id>`, `device:<id>`.

How `analyse` reads the evidence (pure; `Health` is built by the engine from NetworkState):

* A site is *seen* if one of its devices answers, *dark* if it has devices and every one is
  confirmed unreachable, else *unknown* (not polled yet, in its debounce window, or no
  devices). Core sites are always roots: the poller sits there.
* A link is *broken* if it is reported down (one end's interface down), or if one of its end
  devices is unreachable while that device's own site is seen (the device is dead, so the
  link cannot carry traffic; the device, not the link, is then the explanation).
* Predicted isolation: sites with no path from a core over unbroken links are cut off, even
  before their own polls fail (topology tells us at the first link-down report). A site
  that answered a poll started *after* the failure contradicts the prediction (the
  inventory misses a path); it becomes a root and the contradiction is reported.
* The root cause of an isolated region (a planned-connected group of cut-off sites) is the
  set of failed elements on its boundary with the reachable part. When one dark site on the
  region's side is the far end of two or more boundary links that were only seen down from
  outside, the site itself failing is the smaller explanation (power, or the node): the
  site becomes the root cause and the links its evidence. A link seen down from both ends
  ("confirmed cut") always stays a link.
* Observed isolation: dark sites that are still connected on paper. Those next to the live
  part are *down* themselves (their uplinks look fine); dark sites reachable only through
  them are isolated behind them.
* Lost redundancy: a live site whose path to the core now passes through a link or site
  that was not a single point of failure in the plan. Computed with dominators
  (networkx) on a directed graph where every link is a node of its own, so that one pass
  finds critical sites and critical links alike. Its causes are the failed elements whose
  repair alone would remove one of those new single points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from borderwatch.collector.topology_spec import LinkSpec

if TYPE_CHECKING:
    from borderwatch.collector.inventory import Inventory

ROOT = "root:"  # the virtual node above every core site in dominator computations


def site_el(site_id: str) -> str:
    """Element id of a site."""
    return f"site:{site_id}"


def link_el(link_id: str) -> str:
    """Element id of a link."""
    return f"link:{link_id}"


def device_el(device_id: str) -> str:
    """Element id of a device."""
    return f"device:{device_id}"


def split_el(element: str) -> tuple[str, str]:
    """('link', 'L27') from 'link:L27'."""
    kind, _, ident = element.partition(":")
    return kind, ident


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A site as alerts need it: names for messages, kind for rules, devices for reachability."""

    site_id: str
    name: str
    kind: str
    name_en: str | None = None
    commune: str | None = None
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device's site, role and the interfaces the inventory declares for it."""

    device_id: str
    site_id: str
    role: str | None = None
    interfaces: tuple[str, ...] = ()


class Topology:
    """Sites, links and devices of the inventory as a graph, plus the plan's critical elements."""

    def __init__(self, sites: Iterable[SiteInfo], links: Iterable[LinkSpec],
                 devices: Iterable[DeviceInfo] = ()) -> None:
        self.sites: dict[str, SiteInfo] = {s.site_id: s for s in sites}
        self.links: dict[str, LinkSpec] = {link.link_id: link for link in links}
        self.devices: dict[str, DeviceInfo] = {d.device_id: d for d in devices}
        for site in self.sites.values():  # devices named only by their site still count
            for dev in site.devices:
                self.devices.setdefault(dev, DeviceInfo(dev, site.site_id))
        self.cores: tuple[str, ...] = tuple(s.site_id for s in self.sites.values()
                                            if s.kind == "core")
        if not self.cores:
            raise ValueError("the topology has no site of kind 'core'; reachability is "
                             "measured from the core, so at least one is needed")
        self.graph = nx.MultiGraph()
        self.graph.add_nodes_from(self.sites)
        for link in self.links.values():
            for end in (link.a_site, link.b_site):
                if end not in self.sites:
                    raise ValueError(f"link {link.link_id} ends at unknown site {end}")
            self.graph.add_edge(link.a_site, link.b_site, key=link.link_id)
        self._site_devices: dict[str, tuple[str, ...]] = {s: () for s in self.sites}
        for dev in self.devices.values():
            self._site_devices[dev.site_id] = (*self._site_devices.get(dev.site_id, ()),
                                               dev.device_id)
        self._links_of_device: dict[str, list[LinkSpec]] = {}
        self._link_at: dict[tuple[str, str], LinkSpec] = {}
        for link in self.links.values():
            for dev, iface in ((link.a_device, link.a_interface),
                               (link.b_device, link.b_interface)):
                self._links_of_device.setdefault(dev, []).append(link)
                self._link_at[(dev, iface)] = link
        self._cache: dict[tuple, Any] = {}
        self.planned_critical: dict[str, frozenset[str]] = critical_elements(
            self.graph, self.cores)
        self.planned_capacity: dict[str, float] = bottleneck_capacity(
            self.graph, self.cores, self.links)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> Topology:
        """The topology of a loaded inventory (secrets are not needed)."""
        sites = [SiteInfo(site_id=s.id, name=s.name, kind=s.kind, name_en=s.name_en,
                          commune=s.commune, devices=tuple(d.id for d in s.devices))
                 for s in inventory.sites]
        devices = [DeviceInfo(d.id, s.id, d.role, tuple(i.name for i in d.interfaces))
                   for s in inventory.sites for d in s.devices]
        links = [LinkSpec(link.id, link.a.site, link.a.device, link.a.interface, link.b.site,
                          link.b.device, link.b.interface, link.medium,
                          link.capacity_mbps * 1e6,
                          link.capacity_up_mbps * 1e6 if link.capacity_up_mbps else None)
                 for link in inventory.links]
        return cls(sites, links, devices)

    def critical(self, roots: Iterable[str], nodes: Iterable[str],
                 links: Iterable[str]) -> dict[str, frozenset[str]]:
        """`critical_elements` of a sub-graph, memoised (the network rarely changes shape
        between two evaluations, and the engine evaluates every few seconds)."""
        key = ("crit", frozenset(roots), frozenset(nodes), frozenset(links))
        return self._memo(key, lambda: critical_elements(self.graph, key[1], key[2], key[3]))

    def capacity(self, roots: Iterable[str], nodes: Iterable[str],
                 links: Iterable[str]) -> dict[str, float]:
        """`bottleneck_capacity` of a sub-graph, memoised."""
        key = ("cap", frozenset(roots), frozenset(nodes), frozenset(links))
        return self._memo(key, lambda: bottleneck_capacity(self.graph, key[1], self.links,
                                                           key[2], key[3]))

    def _memo(self, key: tuple, compute: Any) -> Any:
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= 512:  # bounded: a long outage with many states
                self._cache.clear()
            hit = self._cache[key] = compute()
        return hit

    def site_devices(self, site_id: str) -> tuple[str, ...]:
        """Devices at a site, in inventory order."""
        return self._site_devices.get(site_id, ())

    def device_site(self, device_id: str) -> str | None:
        """The site of a device (None if unknown)."""
        dev = self.devices.get(device_id)
        return dev.site_id if dev else None

    def links_of_device(self, device_id: str) -> tuple[LinkSpec, ...]:
        """Links with an end on this device."""
        return tuple(self._links_of_device.get(device_id, ()))

    def link_at(self, device_id: str, interface: str) -> LinkSpec | None:
        """The link that ends on this device interface (by its inventory name), if any."""
        return self._link_at.get((device_id, interface))

    def element_exists(self, element: str) -> bool:
        """True if an element id names a site, link or device of this topology."""
        kind, ident = split_el(element)
        table = {"site": self.sites, "link": self.links, "device": self.devices}.get(kind)
        return table is not None and ident in table


# ----------------------------------------------------------------------------- graph helpers

def critical_elements(graph: nx.MultiGraph, roots: Iterable[str],
                      nodes: Iterable[str] | None = None,
                      links: Iterable[str] | None = None) -> dict[str, frozenset[str]]:
    """For each site reachable from `roots`: the sites and links whose loss alone cuts it off.

    The roots themselves never count. `nodes`/`links` restrict the graph (default: all).
    Each link becomes a node between its ends in a directed graph, so dominators of a site
    are exactly its critical sites and critical links; parallel links are never critical.
    """
    keep_nodes = set(graph.nodes) if nodes is None else set(nodes)
    keep_links = None if links is None else set(links)
    dig = nx.DiGraph()
    dig.add_node(ROOT)
    roots = [r for r in roots if r in keep_nodes]
    for r in roots:
        dig.add_edge(ROOT, site_el(r))
    for u, v, key in graph.edges(keys=True):
        if u not in keep_nodes or v not in keep_nodes:
            continue
        if keep_links is not None and key not in keep_links:
            continue
        mid, su, sv = link_el(key), site_el(u), site_el(v)
        dig.add_edges_from(((su, mid), (mid, sv), (sv, mid), (mid, su)))
    idom = nx.immediate_dominators(dig, ROOT)
    out: dict[str, frozenset[str]] = {}
    root_set = set(roots)
    root_nodes = {site_el(r) for r in roots}
    for node in idom:
        kind, ident = split_el(node)
        if kind != "site":
            continue
        chain = []
        cur = idom[node]
        while cur != ROOT:
            if cur not in root_nodes:  # a core is the reference point, not a weakness
                chain.append(cur)
            cur = idom[cur]
        # A root site is never cut off by anything; cores are roots.
        out[ident] = frozenset() if ident in root_set else frozenset(chain)
    return out


def bottleneck_capacity(graph: nx.MultiGraph, roots: Iterable[str],
                        links: Mapping[str, LinkSpec], nodes: Iterable[str] | None = None,
                        keep_links: Iterable[str] | None = None) -> dict[str, float]:
    """Widest-path capacity (bits/s) from the roots to every reachable site.

    The widest path between two nodes runs along a maximum spanning tree, so one tree and
    one walk give every site's bottleneck. Links without a capacity count as unlimited.
    """
    keep_nodes = set(graph.nodes) if nodes is None else set(nodes)
    keep = None if keep_links is None else set(keep_links)
    simple = nx.Graph()
    simple.add_node(ROOT)
    for r in roots:
        if r in keep_nodes:
            simple.add_edge(ROOT, r, weight=math.inf)
    for u, v, key in graph.edges(keys=True):
        if u not in keep_nodes or v not in keep_nodes or (keep is not None and key not in keep):
            continue
        cap = links[key].capacity_bps or math.inf
        prev = simple.get_edge_data(u, v)
        if prev is None or prev["weight"] < cap:
            simple.add_edge(u, v, weight=cap)
    tree = nx.maximum_spanning_tree(simple.subgraph(nx.node_connected_component(simple, ROOT)))
    out: dict[str, float] = {}
    for parent, child in nx.bfs_edges(tree, ROOT):
        width = tree[parent][child]["weight"]
        out[child] = min(width, out.get(parent, math.inf))
    return out


# ----------------------------------------------------------------------------- evidence

@dataclass(frozen=True)
class Health:
    """What is known now, the input of `analyse`.

    device_up: True answers; False confirmed unreachable (debounced by the caller);
    None unknown. last_success: start time of each device's latest good poll. link_state:
    "up" | "down" | "unknown" per link. down_since: first time each failed element
    (`link:..`, `device:..`) was seen failed. confirmed_cuts: links seen down from both
    ends during their current outage. failing: devices whose latest poll failed, even if
    not yet long enough to count as dark; with two or more links already reported down
    around a site, that is enough to blame the site rather than the links.
    """

    device_up: Mapping[str, bool | None] = field(default_factory=dict)
    last_success: Mapping[str, float | None] = field(default_factory=dict)
    link_state: Mapping[str, str] = field(default_factory=dict)
    down_since: Mapping[str, float] = field(default_factory=dict)
    confirmed_cuts: frozenset[str] = frozenset()
    failing: frozenset[str] = frozenset()  # devices whose latest poll failed (not debounced)


@dataclass(frozen=True)
class Outage:
    """One group of unreachable sites and the failed elements that explain it."""

    root: tuple[str, ...]  # element ids: the root cause
    isolated: tuple[str, ...]  # sites cut off by the root cause
    down: tuple[str, ...]  # sites that failed themselves (they are part of the root)
    evidence: tuple[str, ...]  # failed links in or around the group (the symptoms)
    since: float | None  # when the last path broke (None: unknown)
    predicted: bool  # True: from link evidence; False: from observed darkness only

    @property
    def key(self) -> str:
        """A name for the group built from its root cause."""
        return "+".join(self.root)

    @property
    def sites(self) -> tuple[str, ...]:
        """Every unreachable site of the group (down first, then isolated)."""
        return (*self.down, *self.isolated)


@dataclass(frozen=True)
class LostRedundancy:
    """A reachable site that now hangs on a single path its plan did not have."""

    site: str
    single_points: tuple[str, ...]  # elements that became critical for this site
    causes: tuple[str, ...]  # failed elements whose repair would remove one of them
    capacity_bps: float | None  # bottleneck capacity to the core now
    planned_capacity_bps: float | None


@dataclass(frozen=True)
class Analysis:
    """The outcome of `analyse`: site statuses, outages, lost redundancy, failed elements."""

    status: Mapping[str, str]  # site -> "up" | "unknown" | "down" | "isolated"
    outages: tuple[Outage, ...]
    redundancy_lost: Mapping[str, LostRedundancy]
    dead_devices: tuple[str, ...]  # unreachable devices at sites that are seen
    broken: Mapping[str, str]  # link id -> element that explains it (itself or a dead device)
    contradictions: tuple[str, ...] = ()

    def outage_of(self, site_id: str) -> Outage | None:
        """The outage a site belongs to, if it is unreachable."""
        for outage in self.outages:
            if site_id in outage.isolated or site_id in outage.down:
                return outage
        return None


def _site_obs(topo: Topology, site_id: str, health: Health) -> str:
    states = [health.device_up.get(d) for d in topo.site_devices(site_id)]
    if any(s is True for s in states):
        return "seen"
    if states and all(s is False for s in states):
        return "dark"
    return "unknown"


def _dead(topo: Topology, device: str, health: Health, seen: set[str]) -> bool:
    """A device failed on its own: another device at its site answered a poll started after
    it began failing (so the site itself is reachable), and it is dark, or its latest poll
    failed and a neighbour reports one of its links down (physical evidence, no need to
    wait out the darkness debounce)."""
    site = topo.device_site(device)
    since = health.down_since.get(device_el(device))
    if site not in seen or since is None:
        return False
    if not any((health.last_success.get(d) or -math.inf) > since
               and health.device_up.get(d) is True for d in topo.site_devices(site)):
        return False  # the site's answers predate the failure: not evidence of anything
    if health.device_up.get(device) is False:
        return True
    return device in health.failing and any(
        health.link_state.get(k.link_id) == "down" for k in topo.links_of_device(device))


def _silent(topo: Topology, site_id: str, health: Health) -> bool:
    """Every device of the site is dark or failed its latest poll."""
    devices = topo.site_devices(site_id)
    return bool(devices) and all(health.device_up.get(d) is False or d in health.failing
                                 for d in devices)


def _reach(graph: nx.MultiGraph, roots: Iterable[str], nodes: set[str],
           alive: set[str]) -> set[str]:
    """Sites connected to the roots through `nodes` over `alive` links."""
    seen = {r for r in roots if r in nodes}
    stack = list(seen)
    while stack:
        u = stack.pop()
        for _, v, key in graph.edges(u, keys=True):
            if v in nodes and v not in seen and key in alive:
                seen.add(v)
                stack.append(v)
    return seen


def _components(graph: nx.MultiGraph, nodes: set[str], links: set[str] | None = None
                ) -> list[list[str]]:
    """Connected groups of `nodes` (over `links`, default all), each sorted, in stable order."""
    out, left = [], set(nodes)
    for start in sorted(nodes):
        if start not in left:
            continue
        group = _reach(graph, [start], left, links if links is not None else
                       {k for _, _, k in graph.edges(keys=True)})
        left -= group
        out.append(sorted(group))
    return out


def analyse(topo: Topology, health: Health) -> Analysis:
    """Site statuses, outages with root causes, and lost redundancy from the evidence."""
    obs = {s: _site_obs(topo, s, health) for s in topo.sites}
    seen = {s for s, o in obs.items() if o == "seen"} | set(topo.cores)
    dead = sorted(d for d in topo.devices if _dead(topo, d, health, seen))
    dead_set = set(dead)
    broken: dict[str, str] = {}
    for link in topo.links.values():
        devs = sorted({link.a_device, link.b_device} & dead_set)
        if devs:
            broken[link.link_id] = device_el(devs[0])
        elif health.link_state.get(link.link_id) == "down":
            broken[link.link_id] = link_el(link.link_id)
    alive = set(topo.links) - set(broken)
    all_sites = set(topo.sites)

    def since_of(elements: Iterable[str]) -> float | None:
        times = [health.down_since[e] for e in elements if e in health.down_since]
        return max(times) if times else None

    roots = set(topo.cores)
    contradictions: list[str] = []
    while True:
        reach = _reach(topo.graph, roots, all_sites, alive)
        regions = _components(topo.graph, all_sites - reach)
        extra = set()
        for region in regions:
            boundary = _boundary(topo, region, reach)
            since = since_of(broken[lk] for lk in boundary)
            if since is None:
                continue
            for s in region:
                late = [d for d in topo.site_devices(s)
                        if (health.last_success.get(d) or -math.inf) > since
                        and health.device_up.get(d) is True]
                if late:
                    extra.add(s)
                    contradictions.append(
                        f"site {s} answered a poll after "
                        f"{', '.join(sorted({broken[lk] for lk in boundary}))} failed; it is "
                        "treated as reachable (the inventory may miss a path to it, or only "
                        "a device's agent failed)")
        if not extra:
            break
        roots |= extra

    outages: list[Outage] = []
    status: dict[str, str] = {}
    for region in regions:
        outages.append(_region_outage(topo, region, reach, broken, obs, health, since_of))

    # Sites that answer are live even behind a silent hub (its agent may be the only thing
    # that failed); dark sites carry no traffic as far as we can tell.
    live_roots = roots | (seen & reach)
    live = _reach(topo.graph, live_roots, {s for s in reach if obs[s] != "dark"} | live_roots,
                  alive)
    for group in _components(topo.graph, reach - live, alive):
        frontier = sorted(s for s in group if any(
            v in live and key in alive for _, v, key in topo.graph.edges(s, keys=True)))
        isolated = tuple(s for s in group if s not in frontier)
        touching = sorted({broken_link for s in group
                           for _, _, broken_link in topo.graph.edges(s, keys=True)
                           if broken_link in broken})
        since = since_of(device_el(d) for f in frontier for d in topo.site_devices(f))
        outages.append(Outage(root=tuple(site_el(f) for f in frontier), isolated=isolated,
                              down=tuple(frontier), evidence=tuple(map(link_el, touching)),
                              since=since, predicted=False))

    for outage in outages:
        for s in outage.down:
            status[s] = "down"
        for s in outage.isolated:
            status[s] = "isolated"
    for s in live:
        status[s] = "up" if s in seen else "unknown"

    outages = _merge_same_root(outages)
    lost = _redundancy(topo, roots, live, alive, broken, outages)
    return Analysis(status=dict(sorted(status.items())), outages=tuple(outages),
                    redundancy_lost=lost, dead_devices=tuple(dead), broken=broken,
                    contradictions=tuple(contradictions))


def _merge_same_root(outages: list[Outage]) -> list[Outage]:
    """One outage per root cause (a dead device can cut off several separate regions)."""
    by_root: dict[tuple[str, ...], list[Outage]] = {}
    for outage in outages:
        by_root.setdefault(outage.root, []).append(outage)
    out = []
    for root in sorted(by_root):
        group = by_root[root]
        times = [o.since for o in group if o.since is not None]
        out.append(Outage(
            root=root, isolated=tuple(sorted({s for o in group for s in o.isolated})),
            down=tuple(sorted({s for o in group for s in o.down})),
            evidence=tuple(sorted({e for o in group for e in o.evidence})),
            since=max(times) if times else None, predicted=all(o.predicted for o in group)))
    return out


def _boundary(topo: Topology, region: Iterable[str], reach: set[str]) -> list[str]:
    """Planned links between a region and the reachable part (all broken, by construction)."""
    return sorted({key for s in region for _, v, key in topo.graph.edges(s, keys=True)
                   if v in reach})


def _region_outage(topo: Topology, region: list[str], reach: set[str],
                   broken: Mapping[str, str], obs: Mapping[str, str], health: Health,
                   since_of) -> Outage:
    """Root cause of a predicted region: its boundary, with dark far-end sites promoted."""
    boundary = _boundary(topo, region, reach)
    region_set = set(region)
    # Boundary links only seen down from outside, by the site on the region's side.
    outside_only: dict[str, list[str]] = {}
    for key in boundary:
        link = topo.links[key]
        if broken[key] != link_el(key) or key in health.confirmed_cuts:
            continue
        inner = link.a_site if link.a_site in region_set else link.b_site
        outside_only.setdefault(inner, []).append(key)
    promoted = sorted(s for s, keys in outside_only.items()
                      if len(keys) >= 2 and _silent(topo, s, health))
    explained = {k for s in promoted for k in outside_only[s]}
    root = {broken[k] for k in boundary if k not in explained} | {site_el(s) for s in promoted}
    touching = sorted({key for s in region for _, _, key in topo.graph.edges(s, keys=True)
                       if key in broken})
    since = since_of(broken[k] for k in boundary)
    return Outage(root=tuple(sorted(root)),
                  isolated=tuple(s for s in region if s not in promoted),
                  down=tuple(promoted), evidence=tuple(map(link_el, touching)),
                  since=since, predicted=True)


def _redundancy(topo: Topology, roots: set[str], live: set[str], alive: set[str],
                broken: Mapping[str, str], outages: list[Outage]
                ) -> dict[str, LostRedundancy]:
    now = topo.critical(roots, live, alive)
    new_spofs = {s: now[s] - topo.planned_critical.get(s, frozenset())
                 for s in sorted(live) if s in now}
    new_spofs = {s: spofs for s, spofs in new_spofs.items() if spofs}
    if not new_spofs:
        return {}
    failed: dict[str, tuple[set[str], set[str]]] = {}  # element -> (links, sites) it restores
    for key, why in broken.items():
        links, _ = failed.setdefault(why, (set(), set()))
        links.add(key)
    for outage in outages:
        for s in outage.down:
            links, sites = failed.setdefault(site_el(s), (set(), set()))
            sites.add(s)
            # a site that is down explains its links seen down from outside: repairing it
            # brings them back too
            links |= {k for _, _, k in topo.graph.edges(s, keys=True)
                      if broken.get(k) == link_el(k)}
    causes: dict[str, list[str]] = {s: [] for s in new_spofs}
    for element in sorted(failed):
        links, sites = failed[element]
        with_it = topo.critical(roots, live | sites, alive | links)
        for s, spofs in new_spofs.items():
            if spofs - with_it.get(s, spofs):
                causes[s].append(element)
    capacity = topo.capacity(roots, live, alive)
    out = {}
    for s, spofs in new_spofs.items():
        out[s] = LostRedundancy(
            site=s, single_points=tuple(sorted(spofs)),
            causes=tuple(causes[s]) or tuple(sorted(failed)),
            capacity_bps=_finite(capacity.get(s)),
            planned_capacity_bps=_finite(topo.planned_capacity.get(s)))
    return out


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isinf(x) else x


# ----------------------------------------------------------------------------- planning

@dataclass(frozen=True)
class SinglePoint:
    """A site or link whose failure alone cuts sites off from the core (planned topology)."""

    element: str
    dependants: tuple[str, ...]


def single_points(topo: Topology) -> list[SinglePoint]:
    """The plan's single points of failure, most dependants first (for planners' reports)."""
    deps: dict[str, list[str]] = {}
    for site, crit in topo.planned_critical.items():
        for element in crit:
            deps.setdefault(element, []).append(site)
    out = [SinglePoint(e, tuple(sorted(sites))) for e, sites in deps.items()]
    out.sort(key=lambda p: (-len(p.dependants), p.element))
    return out


@dataclass(frozen=True)
class CapacityRisk:
    """A link whose loss leaves sites connected but with far less capacity to the core."""

    link_id: str
    sites: tuple[str, ...]
    capacity_bps: float
    planned_capacity_bps: float


def capacity_risks(topo: Topology, ratio: float = 0.1) -> list[CapacityRisk]:
    """Links whose loss keeps sites connected but cuts their bottleneck below `ratio` × plan.

    The graph check alone misses these (Đình Lập behind one fibre, backed up by 2 Mbit/s
    VSAT). Computed on the plan's maximum spanning tree, so a 2,500-site network takes
    a fraction of a second rather than one widest-path pass per link: losing a link changes
    capacities only if its site pair is a tree edge, and then only below that edge, where
    the tree is re-attached by the widest remaining edge across the cut (a parallel link,
    or the best non-tree edge whose tree path crosses it). `_capacity_risks_by_removal`
    is the plain definition, which the tests compare it with.
    """
    tree = _CapacityTree(topo)
    out = []
    for key in sorted(topo.links):
        caps = tree.without(key)
        worst: dict[float, list[str]] = {}
        for site, cap in caps.items():
            planned = topo.planned_capacity[site]
            if math.isinf(planned) or cap >= planned * ratio:
                continue
            worst.setdefault(cap, []).append(site)
        for cap, sites in sorted(worst.items()):
            planned = min(topo.planned_capacity[s] for s in sites)
            out.append(CapacityRisk(key, tuple(sorted(sites)), cap, planned))
    return out


def _capacity_risks_by_removal(topo: Topology, ratio: float = 0.1) -> list[CapacityRisk]:
    """The definition of `capacity_risks`, one widest-path pass per removed link (slow)."""
    out = []
    for key in sorted(topo.links):
        keep = set(topo.links) - {key}
        caps = bottleneck_capacity(topo.graph, topo.cores, topo.links, keep_links=keep)
        worst: dict[float, list[str]] = {}
        for site, planned in topo.planned_capacity.items():
            cap = caps.get(site)
            if cap is None or math.isinf(planned) or cap >= planned * ratio:
                continue
            worst.setdefault(cap, []).append(site)
        for cap, sites in sorted(worst.items()):
            planned = min(topo.planned_capacity[s] for s in sites)
            out.append(CapacityRisk(key, tuple(sorted(sites)), cap, planned))
    return out


class _CapacityTree:
    """The plan's maximum spanning tree (rooted above the cores) and, per tree edge, the
    widest edge that could replace it: what `capacity_risks` needs per removed link."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.pair_caps: dict[frozenset[str], list[tuple[float, str]]] = {}
        for u, v, key in topo.graph.edges(keys=True):
            cap = topo.links[key].capacity_bps or math.inf
            self.pair_caps.setdefault(frozenset((u, v)), []).append((cap, key))
        simple = nx.Graph()
        simple.add_node(ROOT)
        for r in topo.cores:
            simple.add_edge(ROOT, r, weight=math.inf)
        for pair, caps in self.pair_caps.items():
            u, v = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
            if u != v:
                simple.add_edge(u, v, weight=max(c for c, _ in caps))
        component = nx.node_connected_component(simple, ROOT)
        tree = nx.maximum_spanning_tree(simple.subgraph(component))
        self.parent: dict[str, str] = {}
        self.depth: dict[str, int] = {ROOT: 0}
        self.children: dict[str, list[str]] = {}
        self.width: dict[str, float] = {}  # weight of the tree edge above a node
        for a, b in nx.bfs_edges(tree, ROOT):
            self.parent[b] = a
            self.depth[b] = self.depth[a] + 1
            self.children.setdefault(a, []).append(b)
            self.width[b] = tree[a][b]["weight"]
        # the widest non-tree edge across each tree edge (named by its lower node)
        self.best: dict[str, tuple[float, str, str]] = {}
        for u, v, data in simple.subgraph(component).edges(data=True):
            if self.parent.get(u) == v or self.parent.get(v) == u:
                continue
            self._offer(u, v, data["weight"])

    def _offer(self, u: str, v: str, weight: float) -> None:
        a, b = u, v
        while a != b:  # walk both ends up to their common ancestor
            if self.depth[a] < self.depth[b]:
                a, b = b, a
            if self.best.get(a, (-math.inf,))[0] < weight:
                self.best[a] = (weight, u, v)
            a = self.parent[a]

    def _below(self, node: str) -> set[str]:
        out, stack = {node}, [node]
        while stack:
            for c in self.children.get(stack.pop(), ()):
                out.add(c)
                stack.append(c)
        return out

    def without(self, key: str) -> dict[str, float]:
        """Sites whose capacity changes when link `key` is lost: their new capacity
        (sites cut off entirely are not listed: that is a single point, not a risk)."""
        link = self.topo.links[key]
        u, v = link.a_site, link.b_site
        if self.parent.get(v) == u:
            low = v
        elif self.parent.get(u) == v:
            low = u
        else:
            return {}  # not a tree edge: the tree, hence every capacity, stays
        others = [c for c, k in self.pair_caps[frozenset((u, v))] if k != key]
        below = self._below(low)
        # the widest way back in: a remaining parallel link, or the best crossing edge
        best_w, attach, width0 = -math.inf, low, math.inf
        if others:
            best_w, attach, width0 = max(others), low, self.topo.planned_capacity.get(
                self.parent[low], math.inf)
        cross = self.best.get(low)
        if cross is not None and cross[0] > best_w:
            w, x, y = cross
            inner, outer = (x, y) if x in below else (y, x)
            best_w, attach = w, inner
            width0 = math.inf if outer == ROOT else self.topo.planned_capacity[outer]
        if best_w == -math.inf:
            return {}  # cut off: a single point of failure, not a capacity risk
        new = {attach: min(width0, best_w)}
        # re-root the part below at `attach`: walk the tree inside it from there
        stack = [attach]
        while stack:
            node = stack.pop()
            nbrs = [c for c in self.children.get(node, ()) if c in below]
            if node != low and node in self.parent and self.parent[node] in below:
                nbrs.append(self.parent[node])
            for nb in nbrs:
                if nb in new:
                    continue
                edge = self.width[nb] if self.parent.get(nb) == node else self.width[node]
                new[nb] = min(new[node], edge)
                stack.append(nb)
        return {s: c for s, c in new.items()
                if c != self.topo.planned_capacity.get(s) and s in self.topo.sites}
