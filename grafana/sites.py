"""Sites from the inventory as PromQL: the map's coordinates and the commune → sites mapping.

No metric carries a site's coordinates or commune yet, so the generator writes them into
the queries: `site_table()` is a constant instant vector, one series per site with the
labels site, name, commune, kind, lat, lon (value 1), built from `label_replace(vector(1))`.
It joins with any per-site metric (`* on(site) group_left(...)`). When the exporter grows
a `borderwatch_site_info{site,name,commune,kind,lat,lon}` metric, `site_table()` becomes
that one selector and the dashboards stay the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from collector.inventory import load_inventory

REPO_ROOT = Path(__file__).resolve().parents[1]
INVENTORY = REPO_ROOT / "inventory.yaml"
SITE_LABELS = ("site", "name", "commune", "kind", "lat", "lon")


@dataclass(frozen=True)
class SiteRow:
    """What the dashboards need of a site: id, display name, commune, kind, coordinates."""

    site: str
    name: str
    commune: str
    kind: str
    lat: float
    lon: float


def load_sites(path: Path = INVENTORY) -> list[SiteRow]:
    """Sites with coordinates, in inventory order (secrets are not resolved: none needed)."""
    inventory = load_inventory(path, resolve_secrets=False, log_warnings=False)
    return [SiteRow(s.id, s.name_en or s.name, s.commune or "(no commune)", s.kind,
                    s.lat, s.lon)
            for s in inventory.sites if s.lat is not None and s.lon is not None]


def _quote(value: str) -> str:
    # PromQL string literal: backslash and double quote escaped; Grafana would read a "$"
    # as a variable, and no inventory text needs one.
    if "$" in value:
        raise ValueError(f"'$' in inventory text {value!r} would be read as a Grafana variable")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _site_series(row: SiteRow) -> str:
    expr = "vector(1)"
    values = {"site": row.site, "name": row.name, "commune": row.commune, "kind": row.kind,
              "lat": f"{row.lat:.4f}", "lon": f"{row.lon:.4f}"}
    for label in SITE_LABELS:
        # label_replace with an empty source label and regex "" always matches: sets a constant.
        expr = f'label_replace({expr}, "{label}", {_quote(values[label])}, "", "")'
    return expr


def site_table(rows: list[SiteRow]) -> str:
    """A PromQL expression: one series per site, labels SITE_LABELS, value 1."""
    return "(" + " or ".join(_site_series(r) for r in rows) + ")"


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
