"""Grafana's dashboard grid: 24 columns; a panel's gridPos must fit and not cover another.

Grafana does not refuse overlapping panels, it silently pushes them down, so a layout
mistake shows only on screen; every generated dashboard (Prometheus and InfluxQL) is
checked here instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

GRID_COLUMNS = 24


def assert_panels_tile(panels: Iterable[dict[str, Any]]) -> None:
    """Each panel inside the grid with a positive size, none overlapping an earlier one."""
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= GRID_COLUMNS, (p["title"], g)
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
