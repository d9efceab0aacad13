"""Build the report document: one plain dict (the JSON format, see report.schema.json)
that the HTML and CSV renderers only present.

History gives what happened (intervals, incidents, roll-ups); the inventory gives names,
places, kinds, media, SLA targets and the plan. The period is read element by element so
memory stays flat whatever its length, and progress is reported per kind.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from borderwatch.collector.inventory import Inventory
from borderwatch.reports import planning, rollups
from borderwatch.reports.availability import (
    LINK_BAD,
    LINK_STATES,
    SITE_BAD,
    SITE_STATES,
    RootCauseAccumulator,
    StateAccumulator,
    availability_pct,
    group_seconds,
    percentages,
)
from borderwatch.reports.capacity import CapacityAccumulator
from borderwatch.reports.period import Period
from borderwatch.reports.texts import text

SCHEMA_ID = "borderwatch-report/1"
WORST_SITES = 10
TOP_ROWS = 15
GROUPINGS = ("site", "commune", "kind", "medium")
POWER_ROLES = ("ups", "dc_power")

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class ReportOptions:
    """What the user asked for (settings travel as one object, not flags read deep inside)."""

    period: Period
    by: str = "site"
    lang: str = "en"
    max_new_link_km: float | None = None  # None: the inventory's reports.max_new_link_km
    util_threshold: float | None = None  # None: the inventory's reports.util_p95_threshold
    history_files: tuple[str, ...] = ()  # the paths the reader was opened with
    generated_at: float | None = None


@dataclass
class _Names:
    """Inventory lookups in the report's language."""

    inventory: Inventory
    lang: str
    sites: dict[str, Any] = field(init=False)
    links: dict[str, Any] = field(init=False)
    devices: dict[str, tuple[Any, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.sites = {s.id: s for s in self.inventory.sites}
        self.links = {lk.id: lk for lk in self.inventory.links}
        self.devices = {d.id: (d, s.id) for s in self.inventory.sites for d in s.devices}
        self._site_names = {s.id: (s.name_en or s.name) if self.lang == "en" else s.name
                            for s in self.inventory.sites}
        self._elements: dict[str, tuple[str, str]] = {}

    def site(self, site_id: str) -> str:
        return self._site_names.get(site_id, site_id)

    def element(self, element: str) -> tuple[str, str]:
        """(class, readable name) of an element id such as link:L27 or device:dd-ups1."""
        hit = self._elements.get(element)
        if hit is None:
            hit = self._elements[element] = self._element(element)
        return hit

    def _element(self, element: str) -> tuple[str, str]:
        kind, _, ident = element.partition(":")
        if kind == "link" and ident in self.links:
            lk = self.links[ident]
            medium = text(f"medium_{lk.medium}", self.lang)
            return "link", f"{ident} ({medium}, {self.site(lk.a.site)} – {self.site(lk.b.site)})"
        if kind == "site" and ident in self.sites:
            return ("hub" if self.sites[ident].kind in ("hub", "core") else "site",
                    self.site(ident))
        if kind == "device" and ident in self.devices:
            dev, site_id = self.devices[ident]
            cls = "power" if dev.role in POWER_ROLES else "device"
            return cls, f"{ident} ({self.site(site_id)})"
        return "other", element


def _iso(ts: float | None, period: Period) -> str | None:
    """ISO 8601 in the report's zone."""
    return None if ts is None else _iso_formatter(period.tz)(ts)


@functools.lru_cache(maxsize=8)
def _iso_formatter(tz: tzinfo) -> Callable[[float], str]:
    """A formatter for one zone. A fixed offset (Vietnam's) is formatted with integer
    arithmetic and each day's date formatted once: a year's report has 140,000 outage
    times, and this is ~4x cheaper than strftime per time (~10x datetime's)."""
    offset = tz.utcoffset(None)
    if offset is None:
        return lambda ts: datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")
    secs = int(offset.total_seconds())
    mins = abs(secs) // 60
    suffix = f"{'+' if secs >= 0 else '-'}{mins // 60:02d}:{mins % 60:02d}"
    dates: dict[int, str] = {}

    def iso(ts: float) -> str:
        day, rest = divmod(math.floor(ts) + secs, 86400)
        date = dates.get(day)
        if date is None:
            date = dates[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
        hour, rest = divmod(rest, 3600)
        return f"{date}{hour:02d}:{rest // 60:02d}:{rest % 60:02d}{suffix}"

    return iso


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(x, digits)


def _read(reader: Any, paths: tuple[str, ...], period: Period, progress: Progress
          ) -> tuple[StateAccumulator, StateAccumulator, RootCauseAccumulator,
                     CapacityAccumulator]:
    sites = StateAccumulator(SITE_STATES, SITE_BAD, keep_segments=True)
    links = StateAccumulator(LINK_STATES, LINK_BAD)
    causes = RootCauseAccumulator()
    cap = CapacityAccumulator()
    # One streamed pass per kind over the whole period (plain tuples, element by element:
    # memory does not grow with the period, and the intervals table is read once).
    progress(period.label(period.start, False), 0.0)
    for element, segments in reader.timelines("site", period.start, period.end):
        sites.add_timeline(element, segments)
        causes.add_timeline(element, segments)
    progress(period.label(period.start, False), 0.5)
    for element, segments in reader.timelines("link", period.start, period.end):
        links.add_timeline(element, segments)
    progress("hourly roll-ups", 0.99)
    if paths:
        rollups.summarise(paths, period.start, period.end, cap)
    else:  # no file names (a reader built in code): the row API, slower on big histories
        cap.add_link_hours(reader.link_hours(period.start, period.end))
        cap.add_radio_hours(reader.radio_hours(period.start, period.end))
        cap.add_power_hours(reader.power_hours(period.start, period.end))
    progress("", 1.0)
    sites.finish()
    links.finish()
    return sites, links, causes, cap


def _stats_row(seconds: dict[str, float]) -> dict[str, Any]:
    return {"seconds": {k: _r(v, 3) for k, v in seconds.items()},
            "percent": {k: _r(v) for k, v in percentages(seconds).items()},
            "availability_pct": _r(availability_pct(seconds)),
            "availability_known_pct": _r(availability_pct(seconds, known_only=True))}


def _site_rows(names: _Names, sites: StateAccumulator, period: Period,
               sla: dict[str, float]) -> list[dict[str, Any]]:
    ids = list(names.sites) + sorted(set(sites.stats) - set(names.sites))
    rows = []
    for sid in ids:
        st = sites.stats.get(sid)
        seconds = dict(st.seconds) if st else {"up": 0.0, "down": 0.0, "isolated": 0.0,
                                                "unknown": period.seconds}
        inv = names.sites.get(sid)
        kind = inv.kind if inv else None
        row = {"id": sid, "name": names.site(sid), "name_vi": inv.name if inv else sid,
               "name_en": (inv.name_en or inv.name) if inv else sid, "kind": kind,
               "commune": inv.commune if inv else None,
               "lat": inv.lat if inv else None, "lon": inv.lon if inv else None,
               "in_inventory": inv is not None, "in_history": st is not None,
               **_stats_row(seconds),
               "unknown_causes": ({k: _r(v, 3) for k, v in sorted(st.unknown_causes.items())}
                                  if st else {"not-in-history": _r(period.seconds, 3)}),
               "failures": st.runs if st else 0,
               "mttr_seconds": _r(st.mttr(), 1) if st else None,
               "mtbf_seconds": _r(st.mtbf(), 1) if st else None}
        target = sla.get(kind) if kind else None
        row["sla_target_pct"] = target
        avail = row["availability_pct"]
        row["meets_sla"] = None if target is None or avail is None else avail >= target
        rows.append(row)
    return rows


def _link_rows(names: _Names, links: StateAccumulator, period: Period
               ) -> list[dict[str, Any]]:
    rows = []
    for lid in list(names.links) + sorted(set(links.stats) - set(names.links)):
        st = links.stats.get(lid)
        lk = names.links.get(lid)
        seconds = dict(st.seconds) if st else {"up": 0.0, "degraded": 0.0, "down": 0.0,
                                                "unknown": period.seconds}
        rows.append({"id": lid, "medium": lk.medium if lk else None,
                     "a": lk.a.site if lk else None, "b": lk.b.site if lk else None,
                     "capacity_mbps": lk.capacity_mbps if lk else None, **_stats_row(seconds),
                     "failures": st.runs if st else 0,
                     "mttr_seconds": _r(st.mttr(), 1) if st else None,
                     "mtbf_seconds": _r(st.mtbf(), 1) if st else None})
    return rows


def _grouped(rows: list[dict], key: str, states: tuple[str, ...], count_name: str,
             names: _Names, stats: StateAccumulator | None = None) -> list[dict[str, Any]]:
    """Availability of groups of sites (commune, kind) or links (medium): seconds summed,
    so a group's % is weighted by element-time; MTTR/MTBF pooled over the runs."""
    groups = group_seconds(((r[key] or "-", r["seconds"]) for r in rows), states)
    runs: dict[str, list[float]] = {}
    for r in rows:
        agg = runs.setdefault(r[key] or "-", [0, 0.0, 0.0, 0])
        agg[3] += 1
        if r["failures"]:
            agg[0] += r["failures"]
            agg[1] += r["failures"] * (r["mttr_seconds"] or 0.0)
        agg[2] += r["seconds"].get("up") or 0.0
    out = []
    for g in sorted(groups):
        failures, repair, up, count = runs[g]
        label = g
        if key == "kind" and g != "-":
            label = text(f"kind_{g}", names.lang)
        elif key == "medium" and g != "-":
            label = text(f"medium_{g}", names.lang)
        out.append({"key": g, "name": label, count_name: count, **_stats_row(groups[g]),
                    "failures": failures,
                    "mttr_seconds": _r(repair / failures, 1) if failures else None,
                    "mtbf_seconds": _r(up / failures, 1) if failures else None})
    return out


def _sla(site_rows: list[dict], targets: dict[str, float], names: _Names) -> dict[str, Any]:
    compliance = []
    for kind, target in targets.items():
        rows = [r for r in site_rows if r["kind"] == kind and r["availability_pct"] is not None]
        if not rows:
            continue
        worst = min(rows, key=lambda r: r["availability_pct"])
        meeting = sum(1 for r in rows if r["meets_sla"])
        compliance.append({"kind": kind, "name": text(f"kind_{kind}", names.lang),
                           "target_pct": target, "sites": len(rows), "meeting": meeting,
                           "missing": len(rows) - meeting, "worst_site": worst["id"],
                           "worst_name": worst["name"],
                           "worst_pct": worst["availability_pct"]})
    ranked = sorted((r for r in site_rows if r["availability_pct"] is not None
                     and r["in_inventory"] and r["kind"] != "core"),
                    key=lambda r: (r["availability_pct"], r["id"]))
    worst = [{"id": r["id"], "name": r["name"], "kind": r["kind"],
              "availability_pct": r["availability_pct"], "target_pct": r["sla_target_pct"],
              "meets_sla": r["meets_sla"]} for r in ranked[:WORST_SITES]]
    return {"targets": dict(targets), "compliance": compliance, "worst_sites": worst}


def _outages(reader: Any, period: Period, names: _Names) -> list[dict[str, Any]]:
    out = []
    iso = _iso_formatter(period.tz)  # tens of thousands of rows: no per-time wrapper
    for inc in reader.incidents(period.start, period.end):
        if inc.kind not in ("down", "isolated"):
            continue
        end = inc.end
        clipped = max(0.0, min(end if end is not None else period.end, period.end)
                      - max(inc.start, period.start))
        # names are in `sites` and `root_causes`: not repeated for tens of thousands of rows
        out.append({"incident": inc.incident_id, "kind": inc.kind,
                    "root_cause": list(inc.root_cause), "sites": list(inc.sites),
                    "start": iso(inc.start), "end": None if end is None else iso(end),
                    "duration_seconds": _r(clipped, 1)})
    out.sort(key=lambda o: (o["start"], o["incident"]))
    return out


def _root_causes(causes: RootCauseAccumulator, names: _Names) -> list[dict[str, Any]]:
    rows = []
    for element, cost in causes.costs.items():
        cls, name = names.element(element)
        rows.append({"element": element, "class": cls, "name": name,
                     "site_hours": _r((cost.isolated + cost.down) / 3600, 3),
                     "site_hours_isolated": _r(cost.isolated / 3600, 3),
                     "site_hours_down": _r(cost.down / 3600, 3),
                     "sites": sorted(cost.sites)})
    rows.sort(key=lambda r: (-r["site_hours"], r["element"]))
    return rows


def _planning(inventory: Inventory, names: _Names, max_km: float | None) -> dict[str, Any]:
    if not any(site.kind == "core" for site in inventory.sites):
        # single points and new links are judged by reachability from the core: without one
        # the section says so instead of showing empty tables that would read as "no risk"
        return {"unavailable": "no_core", "single_points": [], "capacity_risks": [],
                "new_link": {"exposure_before": 0, "weighed": 0, "max_km": max_km,
                             "best": None, "ranking": []}}
    plan = planning.review(inventory, max_km)
    spofs = []
    for p in plan.single_points:
        cls, name = names.element(p.element)
        spofs.append({"element": p.element, "class": cls, "name": name,
                      "sites": list(p.dependants),
                      "site_names": [names.site(s) for s in p.dependants]})
    risks = [{"link": r.link_id, "name": names.element(f"link:{r.link_id}")[1],
              "sites": list(r.sites), "site_names": [names.site(s) for s in r.sites],
              "capacity_mbps": _r(r.capacity_bps / 1e6, 3),
              "planned_capacity_mbps": _r(r.planned_capacity_bps / 1e6, 3)}
             for r in plan.capacity_risks]
    adv = plan.new_link
    ranking = [{"a": c.a, "b": c.b, "a_name": names.site(c.a), "b_name": names.site(c.b),
                "source": c.source, "distance_km": _r(c.distance_km, 2),
                "exposure_after": c.exposure_after,
                "exposure_removed": adv.exposure_before - c.exposure_after,
                "sites_made_redundant": list(c.made_redundant), "note": c.note}
               for c in adv.ranking]
    return {"unavailable": None, "single_points": spofs, "capacity_risks": risks,
            "new_link": {"exposure_before": adv.exposure_before, "weighed": adv.weighed,
                         "max_km": adv.max_km, "best": ranking[0] if ranking else None,
                         "ranking": ranking}}


def _capacity(cap: CapacityAccumulator, names: _Names, threshold: float) -> dict[str, Any]:
    loads = []
    for lid, load in cap.loads.items():
        lk = names.links.get(lid)
        loads.append({"link": lid, "medium": lk.medium if lk else None,
                      "name": names.element(f"link:{lid}")[1], "hours": load.hours,
                      "p95_pct": _r(100 * load.p95(), 2) if load.p95() is not None else None,
                      "peak_pct": _r(100 * load.peak, 2) if load.peak is not None else None,
                      "mean_pct": _r(100 * load.mean(), 2) if load.mean() is not None
                      else None})
    loads.sort(key=lambda r: (-(r["p95_pct"] or 0.0), r["link"]))
    hot = [r for r in loads if r["p95_pct"] is not None and r["p95_pct"] > 100 * threshold]
    fade = [{"link": lid, "name": names.element(f"link:{lid}")[1], "hours": f.hours,
             "fade_margin_min_db": _r(f.fade_margin_min, 2), "rsl_min_dbm": _r(f.rsl_min, 2),
             "snr_min_db": _r(f.snr_min, 2)} for lid, f in cap.radio.items()]
    fade.sort(key=lambda r: (r["fade_margin_min_db"] if r["fade_margin_min_db"] is not None
                             else math.inf, r["rsl_min_dbm"] if r["rsl_min_dbm"] is not None
                             else math.inf, r["link"]))
    battery = [{"site": b.site, "site_name": names.site(b.site), "device": dev,
                "on_battery_seconds": _r(b.on_battery_seconds, 1),
                "charge_min_pct": _r(100 * b.charge_min, 2) if b.charge_min is not None
                else None} for dev, b in cap.power.items() if b.on_battery_seconds > 0]
    battery.sort(key=lambda r: (-r["on_battery_seconds"], r["device"]))
    return {"util_p95_threshold_pct": _r(100 * threshold, 2), "hot_links": hot,
            "utilisation": loads[:TOP_ROWS], "fade": fade[:TOP_ROWS],
            "battery": battery[:TOP_ROWS]}


TIMELINE_SITES = 40  # the chart's rows: the sites with the most time not up


def _timeline(sites: StateAccumulator, period: Period) -> list[dict[str, Any]]:
    worst = sorted((sid for sid, st in sites.stats.items() if st.segments),
                   key=lambda sid: (-sum(e - s for s, e, _ in sites.stats[sid].segments),
                                    sid))[:TIMELINE_SITES]
    return [{"site": sid, "segments": [
        {"start": _iso(s, period), "end": _iso(e, period), "state": st}
        for s, e, st in sites.stats[sid].segments]} for sid in worst]


def _no_progress(label: str, fraction: float) -> None:
    pass


def build_report(reader: Any, inventory: Inventory, options: ReportOptions,
                 progress: Progress = _no_progress) -> dict[str, Any]:
    """The report document for the period (see report.schema.json)."""
    period = options.period
    names = _Names(inventory, options.lang)
    cfg = inventory.reports
    targets = dict(cfg.sla) if cfg else {}
    threshold = options.util_threshold or (cfg.util_p95_threshold if cfg else 0.8)
    max_km = options.max_new_link_km if options.max_new_link_km is not None else (
        cfg.max_new_link_km if cfg else None)

    span = reader.span()
    empty = span is None or span[1] <= period.start or span[0] >= period.end
    sites, links, causes, cap = _read(reader, options.history_files, period, progress)
    if empty:  # every element would be all "unknown": say so instead of a wall of grey
        sites.stats.clear()
        links.stats.clear()
        causes.costs.clear()
    site_rows = _site_rows(names, sites, period, targets)
    link_rows = _link_rows(names, links, period)
    by_rows = {
        "site": [{"key": r["id"], "name": r["name"], "sites": 1,
                  **{k: r[k] for k in ("seconds", "percent", "availability_pct",
                                       "availability_known_pct", "failures", "mttr_seconds",
                                       "mtbf_seconds")}} for r in site_rows],
        "commune": _grouped(site_rows, "commune", SITE_STATES, "sites", names),
        "kind": _grouped(site_rows, "kind", SITE_STATES, "sites", names),
        "medium": _grouped(link_rows, "medium", LINK_STATES, "links", names),
    }
    return {
        "schema": SCHEMA_ID,
        "lang": options.lang,
        "generated_at": _iso(options.generated_at, period),
        "period": {"from": _iso(period.start, period), "to": _iso(period.end, period),
                   "seconds": _r(period.seconds, 3),
                   "utc_offset": _iso(period.start, period)[19:] or "+00:00"},
        "province": inventory.province,
        "history": {"files": [Path(p).name for p in options.history_files],
                    "first": _iso(span[0], period) if span else None,
                    "last": _iso(span[1], period) if span else None},
        "empty": empty,
        "notice": text("empty", options.lang) if empty else None,
        "availability": {"by": options.by, "states": list(
            LINK_STATES if options.by == "medium" else SITE_STATES),
            "rows": by_rows[options.by]},
        "groups": {"commune": by_rows["commune"], "kind": by_rows["kind"],
                   "medium": by_rows["medium"]},
        "sites": site_rows,
        "links": link_rows,
        "sla": _sla(site_rows, targets, names),
        "outages": [] if empty else _outages(reader, period, names),
        "root_causes": _root_causes(causes, names),
        "planning": _planning(inventory, names, max_km),
        "capacity": _capacity(cap, names, threshold),
        "timeline": _timeline(sites, period),
        "map": {"links": [{"id": lk.id, "a": lk.a.site, "b": lk.b.site, "medium": lk.medium}
                          for lk in inventory.links]},
    }
