"""The report document as flat tables: what CSV writes, one table per file.

Declarative: each table is a name, the document rows it reads and its columns (a column
is a dotted path into a row). Lists inside a cell are joined with spaces, so a
spreadsheet sees one value per cell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_STATES_SITE = ("up", "down", "isolated", "unknown")
_STATES_LINK = ("up", "degraded", "down", "unknown")


def _avail_cols(states: tuple[str, ...]) -> list[str]:
    return ([f"seconds.{s}" for s in states] + [f"percent.{s}" for s in states]
            + ["availability_pct", "availability_known_pct", "failures", "mttr_seconds",
               "mtbf_seconds"])


Rows = Callable[[dict[str, Any]], list[dict[str, Any]]]

TABLES: tuple[tuple[str, Rows, list[str]], ...] = (
    ("sites", lambda d: d["sites"],
     ["id", "name", "name_vi", "name_en", "kind", "commune", "lat", "lon", "in_inventory",
      "in_history", *_avail_cols(_STATES_SITE), "sla_target_pct", "meets_sla"]),
    ("communes", lambda d: d["groups"]["commune"], ["key", "sites", *_avail_cols(_STATES_SITE)]),
    ("kinds", lambda d: d["groups"]["kind"], ["key", "name", "sites",
                                               *_avail_cols(_STATES_SITE)]),
    ("media", lambda d: d["groups"]["medium"], ["key", "name", "links",
                                                 *_avail_cols(_STATES_LINK)]),
    ("links", lambda d: d["links"], ["id", "medium", "a", "b", "capacity_mbps",
                                     *_avail_cols(_STATES_LINK)]),
    ("sla", lambda d: d["sla"]["compliance"], ["kind", "name", "target_pct", "sites",
                                               "meeting", "missing", "worst_site",
                                               "worst_pct"]),
    ("outages", lambda d: d["outages"], ["incident", "kind", "start", "end",
                                         "duration_seconds", "root_cause", "sites"]),
    ("root_causes", lambda d: d["root_causes"], ["element", "class", "name", "site_hours",
                                                 "site_hours_isolated", "site_hours_down",
                                                 "sites"]),
    ("single_points", lambda d: d["planning"]["single_points"], ["element", "class", "name",
                                                                 "sites"]),
    ("capacity_risks", lambda d: d["planning"]["capacity_risks"],
     ["link", "sites", "capacity_mbps", "planned_capacity_mbps"]),
    ("new_link_candidates", lambda d: d["planning"]["new_link"]["ranking"],
     ["a", "b", "source", "distance_km", "exposure_after", "exposure_removed",
      "sites_made_redundant", "note"]),
    ("utilisation", lambda d: d["capacity"]["utilisation"], ["link", "medium", "hours",
                                                             "p95_pct", "peak_pct",
                                                             "mean_pct"]),
    ("fade", lambda d: d["capacity"]["fade"], ["link", "hours", "fade_margin_min_db",
                                               "rsl_min_dbm", "snr_min_db"]),
    ("battery", lambda d: d["capacity"]["battery"], ["site", "device", "on_battery_seconds",
                                                     "charge_min_pct"]),
)


def cell(row: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; lists joined by spaces, None as empty."""
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else value


def tables(doc: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(name, header, rows) for every table of the document."""
    return [(name, cols, [[cell(r, c) for c in cols] for r in rows(doc)])
            for name, rows, cols in TABLES]
