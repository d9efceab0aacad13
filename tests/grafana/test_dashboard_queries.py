"""Every panel query of the generated dashboards returns data from a real Prometheus.

The network: a slice of the repository's Lạng Sơn inventory, simulated by the lab (one
shared snmpsim responder on loopback, real dumps and the lab's own microwave, VSAT and
DC power files), polled by a real `borderwatch run` with its alert engine on, scraped by
a real Prometheus:

* ls-core: microwave radio (L08 a-end), VSAT hub modem (L22 b-end), Eaton UPS;
* hub-mauson: microwave radio (L08 b-end), Huawei DC plant;
* bg-banchat: VSAT terminal (L22 a-end);
* bp-thanhloa: its switch has no agent, and links look fine (a fibre from ls-core's radio
  eth-1, which is up): the site is *down*, its own failure;
* bp-bason: no agent either, reached only through bp-thanhloa: *isolated* behind it, so
  the alert engine opens an incident (SiteIsolated fires at once: `for: 0s`);
* link L08-eth2: declared on both radios' eth-2, which the radio files report down (a link
  down, as a cut protection path would be): hub-mauson has lost its redundancy.

Each target is run with every value its variables offer (as Grafana's label_values
would list them from this Prometheus) until one combination returns data; the test fails
on a query error or when no combination returns anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_targets import (
    Target,
    assignments,
    load_dashboards,
    substitute,
    targets,
    variable_values,
    variables_used,
)
from inventory_slice import slice_addresses, slice_sites
from servers import (
    REPO_ROOT,
    Prometheus,
    free_tcp_port,
    start_prometheus,
    stop_process,
)

from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.agents import Lab
from borderwatch.lab.devices import agent_specs
from borderwatch.lab.quality import free_port

BORDERWATCH = str(REPO_ROOT / ".venv" / "bin" / "borderwatch")
COMMUNITY_VAR = "BWTEST_GRAFANA_COMMUNITY"
COMMUNITY = "grafana-test-c0mmunity"
KEEP_SITES = ("ls-core", "hub-mauson", "bg-banchat", "bp-thanhloa", "bp-bason")
KEEP_DEVICES = ("ls-core-mw1", "ls-core-vsat-hub", "ls-core-ups1", "ms-mw1", "ms-dcpwr1",
                "bc-vsat1", "bptl-sw1", "bpbs-mw1")
NO_AGENT = ("bptl-sw1", "bpbs-mw1")
KEEP_LINKS = ("L08", "L22")
PINGED = ("ls-core-mw1", "ms-mw1")
FIRST_ADDRESS = 220  # 127.0.0.221-228
# Fibres of the slice only (ids of their own): ls-core → bp-thanhloa → bp-bason.
EXTRA_LINKS = (
    {"id": "L08-eth2", "medium": "microwave", "capacity_mbps": 1000,
     "a": {"site": "ls-core", "device": "ls-core-mw1", "interface": "eth-2"},
     "b": {"site": "hub-mauson", "device": "ms-mw1", "interface": "eth-2"}},
    {"id": "LT-core-thanhloa", "medium": "fiber", "capacity_mbps": 1000,
     "a": {"site": "ls-core", "device": "ls-core-mw1", "interface": "eth-1"},
     "b": {"site": "bp-thanhloa", "device": "bptl-sw1", "interface": "Gi0/49"}},
    {"id": "LT-thanhloa-bason", "medium": "fiber", "capacity_mbps": 1000,
     "a": {"site": "bp-thanhloa", "device": "bptl-sw1", "interface": "Gi0/50"},
     "b": {"site": "bp-bason", "device": "bpbs-mw1", "interface": "radio-1"}},
)
INTERFACES = {"ls-core-mw1": ["radio-1", "eth-1", "eth-2"], "ms-mw1": ["radio-1", "eth-2"],
              "bptl-sw1": ["Gi0/49", "Gi0/50"]}
DASHBOARDS = load_dashboards()
TARGETS = targets(DASHBOARDS)
FALLBACK = " or vector(0)"
# Counts of trouble the lab slice cannot show: its DC plant file always reports mains ok.
# For these only the whole query (with its 0 fallback) must return data; the part before
# the fallback still runs against Prometheus (a syntax or label error would fail).
EMPTY_IN_LAB = {
    "site/DC plant without mains/A",
    "power/DC plants without mains/A",
}


def _slice_inventory(dest: Path, port: int) -> Path:
    """The KEEP_* part of inventory.yaml on 127.0.0.22x:port, polled every 5 s, alerts on."""
    data = yaml.safe_load((REPO_ROOT / "inventory.yaml").read_text())
    data["credentials"] = {"lab-v2c": {"version": "2c", "community_env": COMMUNITY_VAR}}
    data["defaults"] = {"interval": 5, "timeout": 2, "retries": 1, "port": port}
    sites = slice_sites(data["sites"], KEEP_SITES, KEEP_DEVICES, NO_AGENT, FIRST_ADDRESS)
    for dev in (d for site in sites for d in site["devices"] if d["id"] in INTERFACES):
        dev["interfaces"] = INTERFACES[dev["id"]]
    for dev in (d for site in sites for d in site["devices"]):
        # Loopback answers ping whatever the lab plays: the ends of L08 are pinged (the
        # ping panels' data); the devices without an agent model dead ones, not pinged.
        if dev["id"] in PINGED:
            dev["icmp"] = True
        elif dev["id"] in NO_AGENT:
            dev["icmp"] = False
    data["sites"] = sites
    data["links"] = [ln for ln in data["links"] if ln["id"] in KEEP_LINKS] + list(EXTRA_LINKS)
    data.pop("reports", None)  # planners' candidates name sites the slice leaves out
    # The built-in rules; the engine state and outbox (no receivers) next to the inventory.
    data["alerts"] = {"state_dir": "alerts", "tick": 1}
    dest.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return dest


class Live:
    """The running Prometheus and the API calls the test makes as Grafana would."""

    def __init__(self, prom: Prometheus, started: float) -> None:
        self.prom = prom
        self.started = started  # Unix time before borderwatch was started

    def query(self, expr: str) -> list[dict[str, Any]]:
        # POST: the map's query carries every site and is long for a GET URL.
        data = urllib.parse.urlencode({"query": expr}).encode()
        with urllib.request.urlopen(self.prom.url + "/api/v1/query", data=data,
                                    timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def query_range(self, expr: str) -> list[dict[str, Any]]:
        now = time.time()
        data = urllib.parse.urlencode({"query": expr, "start": now - 120, "end": now,
                                       "step": 2}).encode()
        with urllib.request.urlopen(self.prom.url + "/api/v1/query_range", data=data,
                                    timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def series(self, selector: str) -> list[dict[str, str]]:
        params = urllib.parse.urlencode({"match[]": selector, "start": time.time() - 300})
        with urllib.request.urlopen(f"{self.prom.url}/api/v1/series?{params}",
                                    timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Lab agents → `borderwatch run` → Prometheus, until every kind of data has arrived."""
    base = tmp_path_factory.mktemp("grafana")
    port = free_port(slice_addresses(KEEP_DEVICES, FIRST_ADDRESS))
    inv = _slice_inventory(base / "inventory.yaml", port)
    env = {**os.environ, COMMUNITY_VAR: COMMUNITY}
    specs, skipped = agent_specs(load_inventory(inv, env=env))
    assert skipped == list(NO_AGENT)
    lab = Lab(specs, base / "lab")
    proc = prom = None
    try:
        lab.prepare()
        report = lab.start()
        assert not report.failed, [(a.spec.device_id, a.error) for a in report.failed]
        http_port = free_tcp_port()
        started = time.time()
        log = open(base / "borderwatch.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [BORDERWATCH, "run", "--inventory", str(inv), "--listen",
             f"127.0.0.1:{http_port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
        prom = start_prometheus(base / "prometheus", [f"127.0.0.1:{http_port}"],
                                scrape_interval="1s")
        live = Live(prom, started)
        # Ready when every device has an up value and link traffic (two polls) is scraped.
        prom.wait_for("count(borderwatch_device_up)",
                      lambda r: bool(r) and r[0]["value"][1] == str(len(KEEP_DEVICES)), 60)
        prom.wait_for("count(borderwatch_link_utilization_ratio)",
                      lambda r: bool(r) and int(r[0]["value"][1]) >= 4, 60)
        prom.wait_for("count(borderwatch_radio_signal_dbm)",
                      lambda r: bool(r) and int(r[0]["value"][1]) >= 2, 30)
        prom.wait_for("count(borderwatch_icmp_rtt_average_seconds)",
                      lambda r: bool(r) and r[0]["value"][1] == str(len(PINGED)), 60)
        # The engine has opened the isolation incident, found its root cause (bp-thanhloa
        # down, once both sites count as dark), and it is scraped.
        prom.wait_for('borderwatch_alert_firing{alertname="SiteIsolated"} and on(incident) '
                      'borderwatch_incident_open{root_cause="site:bp-thanhloa"}',
                      lambda r: bool(r), 60)
        time.sleep(3)  # a few more scrapes so rate() over the range has two points
        yield live
    finally:
        if prom is not None:
            prom.stop()
        if proc is not None:
            stop_process(proc)
            log.close()
        lab.stop()


def test_the_slice_has_what_the_panels_need(live: Live) -> None:
    up = {r["metric"]["device"]: r["value"][1] for r in live.query("borderwatch_device_up")}
    assert up == {d: "0" if d in NO_AGENT else "1" for d in KEEP_DEVICES}, up
    links = {r["metric"]["link"]: r["value"][1] for r in live.query("borderwatch_link_up")}
    assert links == {"L08": "1", "L22": "1", "L08-eth2": "0", "LT-core-thanhloa": "1"}, links
    status = {r["metric"]["site"]: r["metric"]["status"]
              for r in live.query("borderwatch_site_status == 1")}
    assert status == {"ls-core": "up", "hub-mauson": "up", "bg-banchat": "up",
                      "bp-thanhloa": "down", "bp-bason": "isolated"}, status
    lost = {r["metric"]["site"] for r in live.query("borderwatch_site_redundancy_lost == 1")}
    assert lost == {"hub-mauson"}


def test_the_incident_panel_shows_the_isolation(live: Live) -> None:
    """The open-incidents table: severity, root cause, cut-off sites and since, per incident."""
    panel = next(p for p in DASHBOARDS["overview"]["panels"] if p["title"] == "Open incidents")
    rows = live.query(panel["targets"][0]["expr"])
    (row,) = [r for r in rows if "bp-bason" in r["metric"].get("cut_off", "")]
    labels = row["metric"]
    assert (labels["status"], labels["severity"]) == ("firing", "critical"), labels
    assert labels["root_cause"] == "site:bp-thanhloa"
    assert labels["cut_off"] == "bp-bason, bp-thanhloa"
    # "since" is the engine's firing time in ms (Grafana's dateTimeAsIso): during this run
    assert live.started <= float(row["value"][1]) / 1000 <= time.time()


def _first_data(live: Live, target: Target) -> dict[str, str]:
    """The first variable values for which the target returns data; AssertionError if none."""
    dash = DASHBOARDS[target.dashboard]
    names = variables_used(target.expr)
    tried = []
    for values in assignments(dash, names, live.series):
        expr = substitute(target.expr, values)
        result = live.query(expr) if target.instant else live.query_range(expr)
        tried.append({n: values[n] for n in names})
        if result:
            return tried[-1]
    raise AssertionError(f"{target.id}: no data for any of {tried}\n{target.expr[:400]}")


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_panel_query_returns_data(live: Live, target: Target) -> None:
    """Data for some real value of the variables; a `or vector(0)` stat must have data
    before its fallback too (the lab shows a device, a site and a link down), so the
    fallback cannot hide a query that matches nothing."""
    _first_data(live, target)
    if target.expr.endswith(FALLBACK):
        bare = Target(target.dashboard, target.panel, target.ref,
                      target.expr.removesuffix(FALLBACK), target.instant)
        if target.id in EMPTY_IN_LAB:
            with pytest.raises(AssertionError, match="no data"):
                _first_data(live, bare)  # still runs: a broken query raises another error
        else:
            _first_data(live, bare)


def test_a_query_without_data_is_caught(live: Live) -> None:
    """The check above can fail: a misspelt metric, or a site with no radio, has no data."""
    for expr in ('borderwatch_radio_signal_dbmm{site="$site"}',
                 'borderwatch_radio_signal_dbm{site="$site", device="bptl-sw1"}'):
        with pytest.raises(AssertionError, match="no data"):
            _first_data(live, Target("site", "bogus", "A", expr, instant=True))


def test_site_variable_follows_the_commune(live: Live) -> None:
    """The commune list comes from borderwatch_site_info; picking one narrows the site list
    to its sites (and All to every site)."""
    dash = DASHBOARDS["site"]
    commune_var, site_var = dash["templating"]["list"]
    inventory = yaml.safe_load((REPO_ROOT / "inventory.yaml").read_text())
    commune_of = {s["id"]: s["commune"] for s in inventory["sites"]}
    communes = variable_values(commune_var, {}, live.series)
    assert communes[0] == ".*"  # All
    assert sorted(communes[1:]) == sorted({commune_of[s] for s in KEEP_SITES})
    seen = set()
    for commune in communes[1:]:
        sites = set(variable_values(site_var, {"commune": commune}, live.series))
        assert sites and all(commune_of[s] == commune for s in sites), (commune, sites)
        seen |= sites
    assert seen == set(KEEP_SITES)
    assert set(variable_values(site_var, {"commune": ".*"}, live.series)) == set(KEEP_SITES)


def test_map_colours_each_site_by_its_status(live: Live) -> None:
    """The geomap query: one status code per site with its name, commune and coordinates."""
    panel = next(p for p in DASHBOARDS["overview"]["panels"] if p["type"] == "geomap")
    rows = live.query(substitute(panel["targets"][0]["expr"], {"commune": ".*"}))
    by_site = {r["metric"]["site"]: (r["value"][1], r["metric"]) for r in rows}
    assert set(by_site) == set(KEEP_SITES)
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    text = {code: m["text"] for code, m in mapping["options"].items()}
    shown = {site: text[value] for site, (value, _) in by_site.items()}
    assert shown == {"ls-core": "up", "hub-mauson": "up", "bg-banchat": "up",
                     "bp-thanhloa": "down", "bp-bason": "isolated"}, shown
    inventory = yaml.safe_load((REPO_ROOT / "inventory.yaml").read_text())
    site = next(s for s in inventory["sites"] if s["id"] == "hub-mauson")
    labels = by_site["hub-mauson"][1]
    assert (float(labels["lat"]), float(labels["lon"])) == (site["lat"], site["lon"])
    assert (labels["commune"], labels["name"]) == (site["commune"], site["name"])
    one_commune = substitute(panel["targets"][0]["expr"], {"commune": site["commune"]})
    assert {r["metric"]["commune"] for r in live.query(one_commune)} == {site["commune"]}
