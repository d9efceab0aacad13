"""Dashboards as data: what a panel shows (title, queries, unit, type), not its layout.

A dashboard's panels and variables all use one datasource (`Dashboard.datasource`):
Prometheus (PromQL `Query`) or InfluxDB in InfluxQL (`InfluxQuery`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel; `instant` + table format for tables, stats and the map."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class InfluxQuery:
    """One InfluxQL target (Grafana's raw query mode); `table` format for tables and stats.

    `alias` is Grafana's series name pattern ($tag_device, $col); empty keeps its default.
    """

    query: str
    alias: str = ""
    table: bool = False


@dataclass(frozen=True)
class Panel:
    """One panel: Grafana type, title, queries, unit, size; `options` and `field` pass through."""

    title: str
    type: str
    queries: tuple[Query | InfluxQuery, ...] = ()
    unit: str = "none"
    width: int = 12
    height: int = 8
    description: str = ""
    text: str = ""  # markdown, text panels only
    thresholds: tuple[tuple[float | None, str], ...] = ()  # (from value, colour); None = base
    mappings: tuple[dict[str, Any], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    field: dict[str, Any] = field(default_factory=dict)  # extra fieldConfig.defaults
    # fieldConfig.overrides: per-column settings (a table's value mappings, units)
    overrides: tuple[dict[str, Any], ...] = ()
    transformations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Row:
    """A collapsible row header grouping the panels after it."""

    title: str


@dataclass(frozen=True)
class Variable:
    """A template variable: `query` (label_values(...) or InfluxQL SHOW TAG VALUES) or
    `custom` ("text : value, ...")."""

    name: str
    label: str
    kind: str  # "query" or "custom"
    query: str
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: stable uid (links between dashboards use it), variables and panels in order."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel | Row, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ("borderwatch",)
    refresh: str = "30s"
    time_from: str = "now-6h"
    datasource: str = "prometheus"  # or "influxql": a key of grafana.render.DATASOURCES
