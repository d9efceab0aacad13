"""`borderwatch_site_info`: the inventory's sites as one constant series each, for joins.

Grafana's map needs a site's coordinates and its commune, and dashboards filter by
commune; no SNMP answer carries either. Exporting them (value 1, labels from the
inventory) lets PromQL join them onto any per-site series
(`… * on(site) group_left(name, commune, lat, lon) borderwatch_site_info`), as
`borderwatch_link_info` does for links, and lets Grafana list communes with
`label_values(borderwatch_site_info, commune)`.

The series change only when a reload changes the inventory's sites.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from borderwatch.collector.inventory import Inventory

SITE_INFO = "borderwatch_site_info"
SITE_INFO_LABELS = ("site", "name", "name_en", "commune", "kind", "lat", "lon")


def _coordinate(value: float | None) -> str:
    # Shortest text that reads back as the same float (21.94, not 21.940000000000001);
    # "" (dropped by Prometheus) when the inventory has no coordinates.
    return "" if value is None else repr(float(value))


def site_info_rows(inventory: Inventory) -> list[tuple[str, ...]]:
    """The label values of each site, in SITE_INFO_LABELS order, inventory order."""
    return [(s.id, s.name, s.name_en or "", s.commune or "", s.kind, _coordinate(s.lat),
             _coordinate(s.lon)) for s in inventory.sites]


class SiteInfoCollector:
    """A prometheus_client custom collector serving the inventory's sites (built once)."""

    def __init__(self, inventory: Inventory) -> None:
        self._rows = site_info_rows(inventory)

    def apply_inventory(self, inventory: Inventory, diff: object = None) -> None:
        """Follow a reload of the inventory (sites added, removed or renamed)."""
        self._rows = site_info_rows(inventory)

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(SITE_INFO, "", labels=SITE_INFO_LABELS)]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            SITE_INFO, "A site of the inventory: Vietnamese and English name, commune, kind "
            "and coordinates (decimal degrees, WGS 84); value 1. Empty labels are absent.",
            labels=SITE_INFO_LABELS)
        for row in self._rows:
            family.add_metric(row, 1.0)
        yield family
