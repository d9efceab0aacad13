"""End to end over the history engineer's simulated month (tests/history/month_network.py,
driven through the real NetworkState, topology analysis, recorder and writer): `borderwatch
report --format json` gives exactly the seconds of up / down / isolated / unknown per site
the script implies, the outages with their root causes, and the site-hours per cause."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from report_history import REPO, run_report

sys.path.insert(0, str(REPO / "tests" / "history"))
from month_network import (
    DEPLETED,
    HUB_FAIL,
    L2_CUT,
    MONTH,
    STEP,
    STOPPED,
    T0,
    VSAT_LOSS,
    H,
)
from test_simulated_month import run_month

from borderwatch.reports.period import Period

UNKNOWN = STOPPED[1] - STOPPED[0] + STEP  # the collector's gap, then a minute to first polls

INVENTORY = """\
schema_version: 1
credentials:
  c: {version: 2c, community_env: BW_TEST_COMMUNITY}
sites:
  - {id: core, name: Core, kind: core, devices: [
      {id: core-r, address: 127.0.0.1, credential: c, interfaces: [ge1, ge4, ge5]}]}
  - {id: hub, name: Hub, kind: hub, devices: [
      {id: hub-r, address: 127.0.0.2, credential: c, interfaces: [ge1, ge2, ge3, ge4]}]}
  - {id: p1, name: Post 1, kind: border_post, devices: [
      {id: p1-r, address: 127.0.0.3, credential: c, interfaces: [ge1]}]}
  - {id: p2, name: Post 2, kind: border_post, devices: [
      {id: p2-r, address: 127.0.0.4, credential: c, interfaces: [ge1]}]}
  - {id: p3, name: Post 3, kind: border_post, devices: [
      {id: p3-vsat, address: 127.0.0.5, credential: c, interfaces: [sat0]},
      {id: p3-ups, role: ups, address: 127.0.0.6, credential: c}]}
links:
  - {id: L1, medium: fiber, capacity_mbps: 1000, a: {site: core, device: core-r, interface: ge1},
     b: {site: hub, device: hub-r, interface: ge1}}
  - {id: L6, medium: microwave, capacity_mbps: 100,
     a: {site: core, device: core-r, interface: ge5}, b: {site: hub, device: hub-r, interface: ge4}}
  - {id: L2, medium: fiber, capacity_mbps: 1000, a: {site: hub, device: hub-r, interface: ge2},
     b: {site: p1, device: p1-r, interface: ge1}}
  - {id: L3, medium: fiber, capacity_mbps: 1000, a: {site: hub, device: hub-r, interface: ge3},
     b: {site: p2, device: p2-r, interface: ge1}}
  - {id: L4, medium: vsat, capacity_mbps: 4, a: {site: p3, device: p3-vsat, interface: sat0},
     b: {site: core, device: core-r, interface: ge4}}
"""


def dur(window: tuple[float, float]) -> float:
    return window[1] - window[0]


def expected(down: float = 0.0, isolated: float = 0.0) -> dict[str, float]:
    return {"up": MONTH - UNKNOWN - down - isolated, "down": down, "isolated": isolated,
            "unknown": UNKNOWN}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("month")
    history = tmp / "history.sqlite"
    run_month(history)
    inv = tmp / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    p = Period(T0, T0 + MONTH)
    out = tmp / "report.json"
    result = run_report(["--from", p.label(T0).replace(" ", "T"),
                         "--to", p.label(T0 + MONTH).replace(" ", "T"),
                         "--inventory", str(inv), "--history", str(history),
                         "--format", "json", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    return json.loads(Path(out).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_site_seconds_are_exact(doc: dict) -> None:
    got = {s["id"]: s["seconds"] for s in doc["sites"]}
    assert got == {
        "core": expected(),
        "hub": expected(down=dur(HUB_FAIL)),
        "p1": expected(isolated=dur(L2_CUT) + dur(HUB_FAIL)),
        "p2": expected(isolated=dur(HUB_FAIL)),
        "p3": expected(down=dur(DEPLETED), isolated=dur(VSAT_LOSS)),
    }


@pytest.mark.slow
def test_outages_and_root_causes(doc: dict) -> None:
    assert [(o["kind"], o["root_cause"], o["sites"], o["duration_seconds"])
            for o in doc["outages"]] == [
        ("isolated", ["link:L2"], ["p1"], dur(L2_CUT)),
        ("isolated", ["site:hub"], ["hub", "p1", "p2"], dur(HUB_FAIL)),
        ("down", ["site:p3"], ["p3"], dur(DEPLETED)),
        ("isolated", ["link:L4"], ["p3"], dur(VSAT_LOSS))]
    hours = {r["element"]: r["site_hours"] for r in doc["root_causes"]}
    assert hours == {"site:hub": 3 * dur(HUB_FAIL) / H, "link:L2": dur(L2_CUT) / H,
                     "site:p3": dur(DEPLETED) / H, "link:L4": dur(VSAT_LOSS) / H}
