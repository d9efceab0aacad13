"""The InfluxQL dashboards: every query returns data from a real influxd holding the lab's lines.

influxd (Debian's InfluxDB 1.6.7, tests/influxd_server.py) is fed the line protocol
borderwatch writes (exporters/line_protocol.py) for real polls of the lab slice
(influx_lab.py: microwave, VSAT, UPS, DC plant, a dark site). Every panel target and every
variable query of grafana/dashboards/influxql/ is then run as Grafana would send it
($timeFilter absolute and relative, $__interval, the variables' values as Grafana offers
them) and must return series with the columns its SELECT names and the tags its GROUP BY
names, with values. Some values are checked against the polls: device counts, a rate, a
link's two ends. The JSON is checked like the Prometheus dashboards (layout, datasource
uids, variables used exist, provisioning, grafana-foundation-sdk round trip).

Not covered: InfluxDB 2.x/3.x themselves (not installable here) and Flux (no dashboard
uses it). Counters go in as integers: 1.x refuses the `u` suffix (influx_lab.py).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_layout import assert_panels_tile
from grafana_schema import dashboard_losses
from grafana_variables import custom_options
from influx_lab import KEEP_DEVICES, KEEP_SITES, NO_AGENT, Written, poll_and_write
from influxd_server import Influxd, start_influxd, to_influxdb1
from influxql_targets import (
    INFLUXQL_DIR,
    InfluxTarget,
    assignments,
    group_by_tags,
    influx_targets,
    load_influx_dashboards,
    select_columns,
    substitute,
    time_filter,
    variable_values,
    variables_used,
)

from borderwatch.exporters.line_protocol import line_times, timestamp_ms
from borderwatch.grafana.generate import OUT_DIR, drift
from borderwatch.grafana.influx_catalog import load_links

DASHBOARDS = load_influx_dashboards()
TARGETS = influx_targets(DASHBOARDS)
INFLUXQL = {"type": "influxdb", "uid": "borderwatch-influxql"}
INTERVAL = "1s"  # below the lab's 1.2 s between polls, as timeInterval is the poll interval
# Keys of Grafana's InfluxQuery (public/app/plugins/datasource/influxdb/types.ts).
INFLUX_QUERY_KEYS = {"refId", "datasource", "hide", "queryType", "policy", "measurement",
                     "resultFormat", "orderByTime", "tags", "groupBy", "select", "limit",
                     "slimit", "tz", "fill", "rawQuery", "query", "alias"}
PANEL_TYPES = {"row", "stat", "table", "timeseries", "text"}


@dataclass
class Live:
    """The running influxd, what was written to it, and the time range that covers it."""

    server: Influxd
    written: Written
    from_ms: int
    to_ms: int

    def run(self, query: str) -> list[dict[str, Any]]:
        return self.server.series(query)

    @property
    def timefilters(self) -> list[str]:
        """Both shapes Grafana produces: absolute ms (a zoomed range) and relative now()."""
        return [time_filter(self.from_ms, self.to_ms), time_filter(relative="1h")]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("influxql")
    server = start_influxd(base / "influxd")
    try:
        written = poll_and_write(base, server)
        first = min(timestamp_ms(r.started) for r in written.results)
        yield Live(server, written, first - 60_000, int(time.time() * 1000) + 60_000)
    finally:
        server.stop()


# --------------------------------------------------------------------------- the data


def test_the_lab_lines_went_in_and_only_counters_needed_rewriting(live: Live) -> None:
    w = live.written
    up = {r.device_id: r.ok for r in w.results}
    assert up == {d: d not in NO_AGENT for d in KEEP_DEVICES}, up
    assert w.verbatim + w.rewritten == len(w.lines)
    # Every line with a counter was rewritten (1.6 refuses `u`), every other went in as is.
    assert w.rewritten == sum(1 for ln in w.lines if to_influxdb1(ln) != ln)
    assert w.verbatim > 0 and w.rewritten > 0
    measurements = {s["values"][i][0] for s in live.run("SHOW MEASUREMENTS")
                    for i in range(len(s["values"]))}
    pinged = {"icmp"} if w.icmp_lines else set()
    assert measurements == {"device", "interface", "radio", "vsat", "ups", "power", *pinged}
    (count,) = live.run('SELECT count("up") FROM "device"')
    assert count["values"][0][1] == len(w.results)


# --------------------------------------------------------------------------- every query


def _check_result(target: InfluxTarget, series: list[dict[str, Any]]) -> str | None:
    """None if the result is what the panel needs, else why not."""
    if not series:
        return "no series"
    want_cols = select_columns(target.query)
    want_tags = group_by_tags(target.query)
    values = 0
    for s in series:
        if s["columns"] != ["time", *want_cols]:
            return f"columns {s['columns']} != time + {want_cols}"
        missing = set(want_tags) - set(s.get("tags") or {})
        if missing:
            return f"series without the GROUP BY tags {missing}: {s.get('tags')}"
        values += sum(1 for row in s["values"] for v in row[1:] if v is not None)
    return None if values else "only null values"


def _first_data(live: Live, target: InfluxTarget, timefilter: str) -> dict[str, str]:
    dash = DASHBOARDS[target.dashboard]
    names = variables_used(target.query)
    tried = []
    for values in assignments(dash, names, live.run, timefilter=timefilter,
                              interval=INTERVAL):
        query = substitute(target.query, values, timefilter=timefilter, interval=INTERVAL)
        problem = _check_result(target, live.run(query))  # InfluxError: a broken query
        if problem is None:
            return values
        tried.append(({n: values[n] for n in names}, problem))
    raise AssertionError(f"{target.id}: no variable values give data; tried {tried[:8]}")


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_every_target_returns_data(live: Live, target: InfluxTarget) -> None:
    if 'FROM "icmp"' in target.query and not live.written.icmp_lines:
        pytest.skip(f"no ping points: {live.written.icmp_error}")
    for timefilter in live.timefilters:
        _first_data(live, target, timefilter)


def test_every_variable_query_offers_the_lab_values(live: Live) -> None:
    site_dash = DASHBOARDS["site"]
    commune, site_var = site_dash["templating"]["list"]
    tf = live.timefilters[0]
    communes = variable_values(commune, {}, live.run, timefilter=tf, interval=INTERVAL)
    assert communes[0] == ".*"
    all_sites = variable_values(site_var, {"commune": ".*"}, live.run, timefilter=tf,
                                interval=INTERVAL)
    assert all_sites == sorted(KEEP_SITES)
    # The commune chain: each commune's regex keeps exactly its own sites among the lab's.
    seen = []
    for text, regex in custom_options(commune["query"]):
        sites = variable_values(site_var, {"commune": regex}, live.run, timefilter=tf,
                                interval=INTERVAL)
        assert sites == sorted(s for s in KEEP_SITES if s in regex.split("|")), text
        seen += sites
    assert sorted(seen) == sorted(KEEP_SITES)
    (link_var,) = DASHBOARDS["link"]["templating"]["list"]
    assert [t for t, _ in custom_options(link_var["query"])] == [r.link for r in load_links()]


def _query(dashboard: str, panel: str) -> str:
    (target,) = [t for t in TARGETS if t.dashboard == dashboard and t.panel == panel]
    return target.query


def _run(live: Live, dashboard: str, panel: str, **values: str) -> list[dict[str, Any]]:
    return live.run(substitute(_query(dashboard, panel), values,
                               timefilter=live.timefilters[0], interval=INTERVAL))


def test_device_counts_follow_the_polls(live: Live) -> None:
    def stat(panel: str, site: str) -> float:
        (s,) = _run(live, "site", panel, site=site, commune=".*")
        return s["values"][0][1]

    assert stat("Devices up", "ls-core") == 3 and stat("Devices down", "ls-core") == 0
    assert stat("Devices up", "bp-thanhloa") == 0 and stat("Devices down", "bp-thanhloa") == 1


def test_traffic_rate_is_the_counter_derivative(live: Live) -> None:
    # GROUP BY time(1s) + last(): each poll lands in its own 1 s bucket (1.2 s apart), the
    # derivative divides by the buckets' start times; × 8 for bits.
    polls = [r for r in live.written.results if r.device_id == "ls-core-mw1"]
    rx = []
    for r in polls:
        ((value, at),) = [(s.value, at) for s, at in zip(r.samples, line_times(r),
                                                          strict=True)
                          if s.metric == "borderwatch_interface_receive_bytes_total"
                          and dict(s.labels).get("ifName") == "radio-1"]
        rx.append((at // 1000 * 1000, int(value)))  # the point's time: its answer's
    want = [(t2, (v2 - v1) / ((t2 - t1) / 1000) * 8)
            for (t1, v1), (t2, v2) in itertools.pairwise(rx)]
    series = [s for s in _run(live, "site", "Traffic", site="ls-core", commune=".*")
              if s["tags"]["device"] == "ls-core-mw1" and s["tags"]["ifName"] == "radio-1"]
    (s,) = series
    got = [(row[0], row[1]) for row in s["values"]]
    assert len(got) == len(want) and all(
        t == wt and math.isclose(v, wv, rel_tol=1e-9)
        for (t, v), (wt, wv) in zip(got, want, strict=True)
    ), (got, want)
    assert any(v > 0 for _, v in got), "the lab's counters did not move"


@pytest.mark.parametrize(("link", "ends", "radio", "vsat"), [
    ("L08", {("ls-core-mw1", "radio-1"), ("ms-mw1", "radio-1")},
     {"ls-core-mw1", "ms-mw1"}, set()),
    ("L22", {("bc-vsat1", "sat-1"), ("ls-core-vsat-hub", "sat-1")},
     set(), {"bc-vsat1", "ls-core-vsat-hub"}),
])
def test_link_page_selects_both_ends_and_nothing_else(live: Live, link: str, ends: set,
                                                      radio: set, vsat: set) -> None:
    (link_var,) = DASHBOARDS["link"]["templating"]["list"]
    condition = dict(custom_options(link_var["query"]))[link]

    def devices(panel: str, *tags: str) -> set:
        return {tuple(s["tags"][t] for t in tags) if len(tags) > 1 else s["tags"][tags[0]]
                for s in _run(live, "link", panel, link=condition)}

    assert devices("Traffic at both ends", "device", "ifName") == ends
    assert devices("Ends", "device", "ifName") == ends
    assert devices("Received signal at both ends", "device") == radio
    assert devices("VSAT Es/No at both ends", "device") == vsat


# --------------------------------------------------------------------------- the files


def test_generated_files_match_the_source() -> None:
    stale = [n for n in drift() if n.startswith("influxql/")]
    assert stale == [], "grafana/dashboards/influxql differs from its source: make dashboards"


def test_drift_covers_the_influxql_folder(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    shutil.copytree(OUT_DIR, out)
    before = set(drift(out))
    edited = json.loads((out / "influxql" / "site.json").read_text())
    edited["panels"][1]["title"] = "edited by hand"
    (out / "influxql" / "site.json").write_text(json.dumps(edited))
    (out / "influxql" / "extra.json").write_text("{}")
    (out / "influxql" / "link.json").unlink()
    assert set(drift(out)) - before == {"influxql/extra.json", "influxql/link.json",
                                        "influxql/site.json"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_influxql_dashboard_structure(name: str) -> None:
    dash = DASHBOARDS[name]
    assert dash["uid"] == f"bw-influxql-{name}"
    assert dash["title"].startswith("borderwatch / ") and dash["title"].endswith("(InfluxDB)")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == INFLUXQL
            for used in variables_used(v["query"]):
                assert used in variables and used != v["name"], v["query"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert_panels_tile(dash["panels"])
    for p in dash["panels"]:
        assert p["type"] in PANEL_TYPES, p["type"]
        if p["type"] in ("row", "text"):
            continue
        assert p["datasource"] == INFLUXQL and p["targets"], p["title"]
        for t in p["targets"]:
            assert set(t) <= INFLUX_QUERY_KEYS, set(t) - INFLUX_QUERY_KEYS
            assert t["datasource"] == INFLUXQL and t["rawQuery"] is True
            assert t["resultFormat"] in ("time_series", "table")
            assert (t["resultFormat"] == "table") == (p["type"] in ("table", "stat"))
            for used in variables_used(t["query"]):
                assert used in variables, f"{p['title']}: ${used} is not a variable of {name}"
        # Per-column settings must name a column the query yields; a table's value
        # mappings are per column (a 0/1 mapping in defaults would rename a charge of 1).
        columns = {c for t in p["targets"]
                   for c in (*select_columns(t["query"]), *group_by_tags(t["query"]))}
        for o in p["fieldConfig"]["overrides"]:
            assert o["matcher"] == {"id": "byName", "options": o["matcher"]["options"]}
            assert o["matcher"]["options"] in columns, (p["title"], o["matcher"], columns)
        if p["type"] == "table":
            assert p["fieldConfig"]["defaults"]["mappings"] == [], p["title"]


def test_a_query_of_the_other_language_is_refused() -> None:
    # One datasource per dashboard: a PromQL target on an InfluxQL dashboard (or the
    # reverse) would be sent to the wrong server; the generator refuses to write it.
    from borderwatch.grafana.model import Dashboard, InfluxQuery, Panel, Query
    from borderwatch.grafana.render import render

    for datasource, query in (("influxql", Query("up")),
                              ("prometheus", InfluxQuery('SELECT last("up") FROM "device"'))):
        dash = Dashboard("bw-x", "borderwatch / x", "", datasource=datasource,
                         panels=(Panel("p", "timeseries", (query,)),))
        with pytest.raises(ValueError, match="dashboard"):
            render(dash)


def test_provisioning_has_the_influxql_datasource() -> None:
    path = INFLUXQL_DIR.parents[1] / "provisioning" / "datasources" / "borderwatch.yaml"
    by_uid = {d["uid"]: d for d in yaml.safe_load(path.read_text())["datasources"]}
    ds = by_uid["borderwatch-influxql"]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["dbName"] == "borderwatch"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    # The token comes from Grafana's environment; never written in the file.
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token ${BORDERWATCH_INFLUX_TOKEN}"
    used = {t["datasource"]["uid"] for d in DASHBOARDS.values() for p in d["panels"]
            for t in p.get("targets", [])}
    assert used == {"borderwatch-influxql"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_grafana_foundation_sdk_schema_round_trip(name: str) -> None:
    # The SDK has no InfluxDB query model (targets stay untyped there: INFLUX_QUERY_KEYS
    # above checks them); the dashboard, panels and their options are typed.
    lost = dashboard_losses(DASHBOARDS[name])
    assert lost == [], f"keys unknown to Grafana's schema: {lost}"
