"""The generated dashboard files: in sync with their source, well-formed, schema-valid.

Grafana cannot be installed here, so structure is checked twice: by hand (the fields
Grafana needs to load a provisioned dashboard) and, where the package is installed, by a
round trip through grafana-foundation-sdk's typed models (Grafana's maintained schema, as
Python classes): a key the schema does not know is dropped by the round trip and reported.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_targets import (
    DASHBOARD_DIR,
    load_dashboards,
    targets,
    variables_used,
)
from grafana_layout import assert_panels_tile
from grafana_schema import dashboard_losses, lost_keys, plain

from borderwatch.grafana.generate import drift, generated

GRAFANA_DIR = DASHBOARD_DIR.parent
PANEL_TYPES = {"row", "stat", "table", "timeseries", "geomap", "text"}
DASHBOARDS = load_dashboards()


def test_generated_files_match_the_source() -> None:
    assert drift() == [], "grafana/dashboards differs from grafana/catalog.py: run make dashboards"


def test_drift_is_detected(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    shutil.copytree(DASHBOARD_DIR, out)
    assert drift(out) == []
    edited = json.loads((out / "site.json").read_text())
    edited["panels"][1]["title"] = "edited by hand"
    (out / "site.json").write_text(json.dumps(edited))
    (out / "extra.json").write_text("{}")
    (out / "link.json").unlink()
    assert drift(out) == ["extra.json", "link.json", "site.json"]


def test_generation_is_deterministic() -> None:
    assert generated() == generated()


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return dash["panels"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_structure(name: str) -> None:
    dash = DASHBOARDS[name]
    assert dash["uid"] == f"bw-{name}" and dash["title"].startswith("borderwatch / ")
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in _panels(dash):
        assert p["type"] in PANEL_TYPES, p["type"]
        assert p["title"]
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in ("h", "w", "x", "y")), g
    assert_panels_tile(_panels(dash))
    for p in _panels(dash):
        if p["type"] in ("row", "text"):
            assert "targets" not in p
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "borderwatch-prometheus"}
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"] and t["expr"].strip()
            assert t["format"] == ("table" if t["instant"] else "time_series")
            for var in variables_used(t["expr"]):
                assert var in variables, f"{p['title']}: ${var} is not a variable of {name}"
        assert p["fieldConfig"]["defaults"]["unit"]


def test_every_dashboard_kind_and_variable_is_there() -> None:
    assert set(DASHBOARDS) == {"overview", "site", "link", "power"}
    names = {v["name"] for d in DASHBOARDS.values() for v in d["templating"]["list"]}
    assert {"commune", "site", "link"} <= names
    assert any(p["type"] == "geomap" for p in DASHBOARDS["overview"]["panels"])
    assert len(targets(DASHBOARDS)) >= 50


def test_commune_is_only_used_through_site_info() -> None:
    """The commune variable lists borderwatch_site_info's communes, and every query uses it
    only as that metric's `commune` matcher (a commune name is not a site-id regex)."""
    uses = 0
    for name, dash in DASHBOARDS.items():
        for var in dash["templating"]["list"]:
            if var["name"] == "commune":
                assert var["type"] == "query", name
                assert var["query"] == "label_values(borderwatch_site_info, commune)", name
                assert (var["includeAll"], var["allValue"]) == (True, ".*"), name
        queries = [t.expr for t in targets({name: dash})]
        queries += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
        for expr in queries:
            rest = expr.replace('borderwatch_site_info{commune=~"$commune"}', "")
            uses += expr.count("$commune")
            assert "commune" not in variables_used(rest), (name, expr)
    assert uses >= 10


def test_map_mappings_cover_every_site_status() -> None:
    """Every status the exporter can give a site has a code, a text and a colour."""
    from borderwatch.exporters.site_status import STATUSES

    panel = next(p for p in DASHBOARDS["overview"]["panels"] if p["type"] == "geomap")
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    assert sorted(m["text"] for m in mapping["options"].values()) == sorted(STATUSES)
    expr = panel["targets"][0]["expr"]
    for code, m in mapping["options"].items():
        assert f'borderwatch_site_status{{status="{m["text"]}"}} * {code}' in expr
    assert len({m["color"] for m in mapping["options"].values()}) == len(STATUSES)


def test_provisioning_names_the_dashboards_datasource() -> None:
    ds = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/borderwatch.yaml").read_text())
    by_uid = {d["uid"]: d for d in ds["datasources"]}
    assert by_uid["borderwatch-prometheus"]["type"] == "prometheus"
    assert by_uid["borderwatch-influxdb"]["type"] == "influxdb"
    assert by_uid["borderwatch-influxdb"]["jsonData"]["version"] == "Flux"
    used = {t["datasource"]["uid"] for d in DASHBOARDS.values() for p in d["panels"]
            for t in p.get("targets", [])}
    assert used <= set(by_uid)
    prov = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/borderwatch.yaml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_grafana_foundation_sdk_schema_round_trip(name: str) -> None:
    # grafana-foundation-sdk is a test dependency (pyproject.toml): Grafana's maintained
    # schema as Python classes. No skip: a missing package must fail, not pass quietly.
    from grafana_foundation_sdk.models.prometheus import Dataquery

    dash = DASHBOARDS[name]
    lost = dashboard_losses(dash)
    for p in dash["panels"]:
        for t in p.get("targets", []):
            lost += [f"{p['title']}: target{k}" for k in
                     lost_keys(t, plain(Dataquery.from_json(t).to_json()))]
    assert lost == [], f"keys unknown to Grafana's schema: {lost}"


def test_data_links_open_existing_dashboards_with_their_variables() -> None:
    by_uid = {d["uid"]: d for d in DASHBOARDS.values()}
    urls = [link["url"] for d in DASHBOARDS.values() for p in d["panels"]
            for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
    assert len(urls) >= 5
    for url in urls:
        m = re.match(r"^/d/([\w-]+)/[\w-]+\?var-(\w+)=\$\{__data\.fields\.(\w+)\}", url)
        assert m, url
        uid, var, column = m.groups()
        assert uid in by_uid, url
        assert var in {v["name"] for v in by_uid[uid]["templating"]["list"]}, url
        assert var == column
