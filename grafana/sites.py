"""Sites for the dashboards: the inventory's coordinates (map centre) and the PromQL that
joins a per-site series to `borderwatch_site_info` (commune filter, map labels).

The exporter serves `borderwatch_site_info{site,name,name_en,commune,kind,lat,lon} 1` for
every inventory site (exporters/site_info.py), so the dashboards carry no copy of the
sites: the commune list is `label_values(borderwatch_site_info, commune)` and a series
is kept to the chosen commune with `… and on(site) borderwatch_site_info{commune=~"$commune"}`.
Only the map's initial centre is computed from inventory.yaml at generation time.

InfluxDB has no such series: `commune_options()` writes the commune → sites mapping into
a custom variable for the InfluxQL dashboards (grafana/influx_catalog.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from borderwatch.collector.inventory import load_inventory

REPO_ROOT = Path(__file__).resolve().parents[1]
INVENTORY = REPO_ROOT / "inventory.yaml"
SITE_INFO = "borderwatch_site_info"
# The commune variable's value is a commune name (All: `.*`), matched as a regex: Grafana
# escapes regex characters in a single selected value of an includeAll variable.
SITE_IN_COMMUNE = f'{SITE_INFO}{{commune=~"$commune"}}'
COMMUNE_QUERY = f"label_values({SITE_INFO}, commune)"


@dataclass(frozen=True)
class SiteRow:
    """What the generator needs of a site: id, display name, commune, kind, coordinates."""

    site: str
    name: str
    commune: str
    kind: str
    lat: float
    lon: float


def load_sites(path: Path = INVENTORY) -> list[SiteRow]:
    """Sites with coordinates, in inventory order (secrets are not resolved: none needed)."""
    inventory = load_inventory(path, resolve_secrets=False, log_warnings=False)
    return [SiteRow(s.id, s.name_en or s.name, s.commune or "(no commune)", s.kind, s.lat, s.lon)
            for s in inventory.sites if s.lat is not None and s.lon is not None]


def in_commune(expr: str) -> str:
    """`expr` (series with a `site` label) kept to the sites of the selected commune."""
    return f"({expr}) and on(site) {SITE_IN_COMMUNE}"


def commune_options(rows: list[SiteRow]) -> str:
    """A custom variable's query: "commune : site1|site2, ..." (value = a regex of site ids)."""
    by_commune: dict[str, list[str]] = {}
    for r in rows:
        by_commune.setdefault(r.commune, []).append(r.site)
    parts = []
    for commune, sites in sorted(by_commune.items()):
        # Grafana splits custom options on "," and text from value on " : ".
        if "," in commune or " : " in commune:
            raise ValueError(f"commune {commune!r} cannot be a Grafana custom option")
        if not all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) for s in sites):
            raise ValueError(f"site ids of {commune!r} are not regex-safe: {sites}")
        parts.append(f"{commune} : {'|'.join(sites)}")
    return ", ".join(parts)
