"""The status page's data: every site as up, degraded, down, isolated or unknown, for when
Grafana is not at hand (served as /api/status and read by /status).

Read-only over `collector.state.NetworkState` and the inventory's site names; it never
touches SNMP and never carries a secret: devices are reduced to an allow-list of fields
(no credential, no address field; a poll error's text may name the device's address:port,
as the collector's log lines do, and never a community or key).

Site status from its devices' `up` (None = not polled yet):

| devices                        | status    |
|--------------------------------|-----------|
| none, or none polled yet       | unknown   |
| every polled one answers       | up        |
| some answer, some do not       | degraded  |
| polled ones all fail to answer | down      |

A site that is "down" by that table becomes "isolated" when the topology analysis
(`alerts.topology.analyse`) says it is cut off behind another failed element: its own
devices may be fine, the path to them is not. A site that answers is never called
isolated, whatever the link evidence says (the answer is the stronger evidence).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from borderwatch.alerts.topology import Analysis, Health, Topology, analyse
from borderwatch.collector.state import DeviceSnapshot, LinkSnapshot, NetworkState

if TYPE_CHECKING:
    from borderwatch.collector.inventory import Inventory
    from borderwatch.exporters.http import MetricsApp

log = logging.getLogger(__name__)

# Worst first: the page lists groups in this order.
SITE_STATUSES = ("down", "isolated", "degraded", "unknown", "up")
PAGE_PATH = Path(__file__).with_name("static") / "status.html"
MAX_PROBLEMS = 5  # problem texts per device in the document


def site_status(device_up: Sequence[bool | None]) -> str:
    """up / degraded / down / unknown of a site from its devices' `up` (table in the module doc)."""
    polled = [u for u in device_up if u is not None]
    if not polled:
        return "unknown"
    if all(polled):
        return "up"
    if any(polled):
        return "degraded"
    return "down"


def with_isolation(status: str, site_id: str, analysis: Analysis | None) -> str:
    """`status`, or "isolated" for a "down" site the topology analysis finds cut off upstream.

    Only a down site can be isolated: a device that answers is the stronger evidence,
    whatever the links say. The status page and the site metrics both apply this one rule.
    """
    if status == "down" and analysis is not None and analysis.status.get(site_id) == "isolated":
        return "isolated"
    return status


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _device(snap: DeviceSnapshot) -> dict[str, Any]:
    # Deliberately a short allow-list: no address field, no credential, no series.
    return {
        "id": snap.device_id,
        "up": snap.up,
        "icmp_up": None if snap.icmp is None else snap.icmp.up,  # the host answers ping
        "stale": snap.stale,
        "last_poll": _iso(snap.last_poll),
        "last_success": _iso(snap.last_success),
        "last_error": snap.last_error,
        # A device that answers but whose latest poll missed data (collector.state).
        "partial": snap.partial,
        "problem_kinds": dict(snap.problem_kinds) if snap.partial else {},
        "problems": snap.problems[:MAX_PROBLEMS] if snap.partial else [],
    }


def _link(snap: LinkSnapshot, root_cause: bool = False) -> dict[str, Any]:
    spec = snap.spec
    # root_cause: the failed link an outage's sites are cut off behind (drawn apart on the
    # map, so that the one place to send a repair crew stands out)
    return {"id": spec.link_id, "a_site": spec.a_site, "b_site": spec.b_site,
            "medium": spec.medium, "state": snap.state, "reason": snap.reason,
            "root_cause": root_cause}


def health_from_state(devices: Iterable[DeviceSnapshot], links: Iterable[LinkSnapshot]
                      ) -> Health:
    """The topology's evidence as seen right now (no debounce: the page shows the present)."""
    devs = list(devices)
    return Health(device_up={d.device_id: d.reachable for d in devs},
                  last_success={d.device_id: d.last_success for d in devs},
                  link_state={lk.link_id: lk.state for lk in links},
                  failing=frozenset(d.device_id for d in devs if d.reachable is False))


class StatusBuilder:
    """Builds the /api/status document from the inventory's sites and the live state."""

    def __init__(self, inventory: Inventory, state: NetworkState, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._clock = clock
        # Open incidents of the alert engine (set by the service when alerts run); without
        # it the document has no `alerts` key.
        self.alerts: Callable[[], list[dict[str, Any]]] | None = None
        # The engine's latest notifications (set with `alerts`): the `notifications` key.
        self.notifications: Callable[[], list[dict[str, Any]]] | None = None
        # `run --shard i/n`: {"index": i, "count": n}, shown as the document's `shard` key
        self.shard: dict[str, int] | None = None
        self.apply_inventory(inventory)

    def apply_inventory(self, inventory: Inventory, diff: object = None) -> None:
        """Take the sites and the topology of an inventory (at start, and at a reload)."""
        # lat/lon (None when the inventory has none) place the site on the page's map
        self._sites = [{"id": s.id, "name": s.name, "name_en": s.name_en, "kind": s.kind,
                        "commune": s.commune, "lat": s.lat, "lon": s.lon,
                        "devices": [d.id for d in s.devices]}
                       for s in inventory.sites]
        self.topology, self.isolation_note = topology_of(inventory)
        if self.isolation_note:
            log.info("status page: %s", self.isolation_note)

    def build(self) -> dict[str, Any]:
        """The document: generated_at, summary counts, sites (with devices), links, and
        the outages with their root causes (what the page's problem list and map show)."""
        devices = {s.device_id: s for s in self._state.device_snapshots()}
        links = self._state.link_snapshots()
        analysis = self._analyse(devices.values(), links)
        sites = []
        for site in self._sites:
            snaps = [devices[d] for d in site["devices"] if d in devices]
            status = with_isolation(site_status([s.reachable for s in snaps]), site["id"],
                                    analysis)
            isolated_by: list[str] = []
            if status == "isolated" and analysis is not None:
                outage = analysis.outage_of(site["id"])
                isolated_by = [_element_text(e) for e in outage.root] if outage else []
            lost = analysis.redundancy_lost.get(site["id"]) if analysis is not None else None
            sites.append({**{k: v for k, v in site.items() if k != "devices"},
                          "status": status, "isolated_by": isolated_by,
                          # reachable, but now over a single path its plan did not have:
                          # the failed elements whose repair restores the backup
                          "redundancy_lost": ([_element_text(e) for e in lost.causes]
                                              if lost is not None else None),
                          "devices": [_device(s) for s in snaps]})
        summary = {name: sum(1 for s in sites if s["status"] == name) for name in SITE_STATUSES}
        roots = {e for o in analysis.outages for e in o.root} if analysis is not None else set()
        doc = {
            "generated_at": _iso(self._clock()),
            "isolation": self.topology is not None,
            "isolation_note": self.isolation_note,
            "summary": summary,
            "sites": sites,
            "links": [_link(lk, f"link:{lk.link_id}" in roots) for lk in links],
            "outages": [{"root": [_element_text(e) for e in o.root], "down": list(o.down),
                         "isolated": list(o.isolated)}
                        for o in (analysis.outages if analysis is not None else ())],
        }
        if self.shard is not None:
            doc["shard"] = self.shard
        if self.alerts is not None:
            doc["alerts"] = self.alerts()
        if self.notifications is not None:
            doc["notifications"] = self.notifications()
        return doc

    def _analyse(self, devices: Iterable[DeviceSnapshot], links: list[LinkSnapshot]
                 ) -> Analysis | None:
        if self.topology is None:
            return None
        return analyse(self.topology, health_from_state(devices, links))


def topology_of(inventory: Inventory) -> tuple[Topology | None, str | None]:
    """The inventory's topology, or None and why isolation cannot be computed."""
    try:
        return Topology.from_inventory(inventory), None
    except ValueError as exc:  # e.g. no core site: reachability has no origin
        return None, f"isolation not computed: {exc}"


def _element_text(element: str) -> str:
    """'site:hub-a' → 'site hub-a' (ids only: the page looks names up itself)."""
    kind, _, ident = element.partition(":")
    return f"{kind} {ident}"


class StatusPage:
    """The HTML page (static, UTF-8) and its Content-Security-Policy, loaded once."""

    def __init__(self, path: Path = PAGE_PATH) -> None:
        self.html = path.read_text(encoding="utf-8")
        script = self.html.split("<script>", 1)[1].split("</script>", 1)[0]
        script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        # Only this page's own inline script runs, and it may only talk to this server.
        self.csp = ("default-src 'none'; style-src 'unsafe-inline'; "
                    f"script-src 'sha256-{script_hash}'; connect-src 'self'; "
                    "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'")


def attach_status(metrics_app: MetricsApp, inventory: Inventory, state: NetworkState
                  ) -> StatusBuilder:
    """Enable /status and /api/status on a MetricsApp (before or after it starts serving)."""
    builder = StatusBuilder(inventory, state)
    metrics_app.status = builder.build
    metrics_app.status_page = StatusPage()
    return builder
