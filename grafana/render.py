"""Dashboard data (grafana.model) → Grafana dashboard JSON (schemaVersion 39, Grafana 10/11)."""

from __future__ import annotations

from typing import Any

from borderwatch.grafana.model import Dashboard, InfluxQuery, Panel, Query, Row, Variable

SCHEMA_VERSION = 39
# Fixed datasource uids: grafana/provisioning/datasources/borderwatch.yaml creates them.
PROMETHEUS = {"type": "prometheus", "uid": "borderwatch-prometheus"}
INFLUXQL = {"type": "influxdb", "uid": "borderwatch-influxql"}
DATASOURCES = {"prometheus": PROMETHEUS, "influxql": INFLUXQL}
GRID_WIDTH = 24


def _thresholds(steps: tuple[tuple[float | None, str], ...]) -> dict[str, Any]:
    steps = steps or ((None, "green"),)
    return {"mode": "absolute",
            "steps": [{"color": colour, "value": value} for value, colour in steps]}


def _target(q: Query | InfluxQuery, ref: str, datasource: dict[str, str]) -> dict[str, Any]:
    if isinstance(q, InfluxQuery):
        if datasource is not INFLUXQL:
            raise ValueError(f"InfluxQL query on a {datasource['type']} dashboard: {q.query}")
        # rawQuery: Grafana runs `query` as written (after variable substitution) instead
        # of building one from its visual editor's fields.
        out = {"refId": ref, "datasource": datasource, "rawQuery": True, "query": q.query,
               "resultFormat": "table" if q.table else "time_series"}
        if q.alias:
            out["alias"] = q.alias
        return out
    if datasource is not PROMETHEUS:
        raise ValueError(f"PromQL query on a {datasource['type']} dashboard: {q.expr}")
    return {"refId": ref, "datasource": datasource, "editorMode": "code",
            "expr": q.expr, "legendFormat": q.legend or "__auto",
            "instant": q.instant, "range": not q.instant,
            "format": "table" if q.instant else "time_series"}


def _targets(panel: Panel, datasource: dict[str, str]) -> list[dict[str, Any]]:
    return [_target(q, chr(ord("A") + i), datasource) for i, q in enumerate(panel.queries)]


def _panel(panel: Panel, pid: int, grid: dict[str, int],
           datasource: dict[str, str] = PROMETHEUS) -> dict[str, Any]:
    out: dict[str, Any] = {"id": pid, "type": panel.type, "title": panel.title,
                           "description": panel.description, "gridPos": grid}
    if panel.type == "text":
        out["options"] = {"mode": "markdown", "content": panel.text}
        return out
    out["datasource"] = datasource
    out["targets"] = _targets(panel, datasource)
    out["fieldConfig"] = {
        "defaults": {"unit": panel.unit, "thresholds": _thresholds(panel.thresholds),
                     "mappings": list(panel.mappings),
                     "color": {"mode": "thresholds" if panel.type in ("stat", "geomap")
                               else "palette-classic"},
                     **panel.field},
        "overrides": list(panel.overrides)}
    out["options"] = dict(panel.options)
    out["transformations"] = list(panel.transformations)
    return out


def _variable(var: Variable, datasource: dict[str, str] = PROMETHEUS) -> dict[str, Any]:
    out: dict[str, Any] = {"name": var.name, "label": var.label, "type": var.kind,
                           "query": var.query, "multi": var.multi,
                           "includeAll": var.include_all, "hide": 0, "skipUrlSync": False,
                           "current": {}, "options": []}
    if var.all_value is not None:
        out["allValue"] = var.all_value
    if var.kind == "query":
        out |= {"datasource": datasource, "refresh": 1, "regex": "",
                "sort": 1}
    if var.include_all:
        out["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return out


def render(dash: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana reads it from a provisioned file; layout fills 24-wide rows."""
    datasource = DATASOURCES[dash.datasource]
    panels: list[dict[str, Any]] = []
    x = y = row_h = 0
    for pid, item in enumerate(dash.panels, start=1):
        if isinstance(item, Row):
            y, x, row_h = y + row_h, 0, 0
            panels.append({"id": pid, "type": "row", "title": item.title, "collapsed": False,
                           "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": []})
            y += 1
            continue
        if x + item.width > GRID_WIDTH:
            y, x, row_h = y + row_h, 0, 0
        panels.append(_panel(item, pid, {"h": item.height, "w": item.width, "x": x, "y": y},
                             datasource))
        x += item.width
        row_h = max(row_h, item.height)
    return {
        "uid": dash.uid, "title": dash.title, "description": dash.description,
        "tags": list(dash.tags), "timezone": "browser", "editable": True, "graphTooltip": 1,
        "time": {"from": dash.time_from, "to": "now"}, "refresh": dash.refresh,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "",
        "links": [{"title": "borderwatch", "type": "dashboards", "tags": ["borderwatch"],
                   "asDropdown": False, "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
        "annotations": {"list": []},
        "templating": {"list": [_variable(v, datasource) for v in dash.variables]},
        "panels": panels,
    }
