"""Availability to the second on a hand-made day written through the real history writer
(report_history.small_world), read back by `borderwatch report --format json`: up / down /
isolated / unknown per site, groups, MTTR/MTBF, outages and the root-cause ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_history import DAY_END, EXPECTED, T0, H, run_report, small_world, write_inventory

from borderwatch.reports.period import Period


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("world")
    return write_inventory(tmp / "inv.yaml"), small_world(tmp / "history.sqlite")


def report(world: tuple[Path, Path], tmp_path: Path, *extra: str) -> dict:
    inv, history = world
    p = Period(T0, DAY_END)
    out = tmp_path / "r.json"
    result = run_report(["--from", p.label(T0).replace(" ", "T"), "--to",
                         p.label(DAY_END).replace(" ", "T"), "--inventory", str(inv),
                         "--history", str(history), "--format", "json", "--lang", "en",
                         "-o", str(out), *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_seconds_per_site_are_exact(world, tmp_path: Path) -> None:
    doc = report(world, tmp_path)
    got = {s["id"]: s["seconds"] for s in doc["sites"]}
    assert got == EXPECTED
    assert doc["empty"] is False
    unknown = {s["id"]: s["unknown_causes"] for s in doc["sites"]}
    assert unknown["cm-y"] == {"collector-gap": H, "not-polled-yet": 600.0}
    assert unknown["core"] == {"collector-gap": H}


def test_groups_sum_their_sites(world, tmp_path: Path) -> None:
    doc = report(world, tmp_path, "--by", "commune")
    assert doc["availability"]["by"] == "commune"
    rows = {r["key"]: r for r in doc["availability"]["rows"]}
    dd = rows["xã Đồng Đăng"]  # hub-a and bp-x
    assert dd["sites"] == 2
    assert dd["seconds"] == {k: EXPECTED["hub-a"][k] + EXPECTED["bp-x"][k]
                             for k in EXPECTED["bp-x"]}
    kinds = {r["key"]: r for r in doc["groups"]["kind"]}
    assert kinds["border_post"]["seconds"] == EXPECTED["bp-x"]


def test_link_media_and_mttr_mtbf(world, tmp_path: Path) -> None:
    doc = report(world, tmp_path, "--by", "medium")
    media = {r["key"]: r for r in doc["availability"]["rows"]}
    mw = media["microwave"]  # L2 alone: down 05:00-05:30, collector gap 10:00-11:00
    assert mw["seconds"] == {"up": 24 * H - 0.5 * H - H, "degraded": 0.0, "down": 0.5 * H,
                             "unknown": H}
    assert (mw["failures"], mw["mttr_seconds"], mw["mtbf_seconds"]) == (1, 1800.0, 81000.0)
    sites = {s["id"]: s for s in doc["sites"]}
    bp = sites["bp-x"]  # two runs: 1 h behind the hub, 30 min behind the faded hop
    assert (bp["failures"], bp["mttr_seconds"], bp["mtbf_seconds"]) == \
        (2, 2700.0, EXPECTED["bp-x"]["up"] / 2)
    assert bp["availability_pct"] == round(100 * EXPECTED["bp-x"]["up"] / (24 * H), 4)
    assert bp["meets_sla"] is False and sites["core"]["meets_sla"] is None


def test_outages_and_root_cause_ranking(world, tmp_path: Path) -> None:
    doc = report(world, tmp_path)
    assert [(o["incident"], o["root_cause"], o["sites"], o["duration_seconds"])
            for o in doc["outages"]] == [
        ("inc-1", ["site:hub-a"], ["hub-a", "bp-x"], 3600.0),
        ("inc-2", ["link:L2"], ["bp-x"], 1800.0)]
    assert [(r["element"], r["class"], r["site_hours"], r["site_hours_isolated"],
             r["site_hours_down"], r["sites"]) for r in doc["root_causes"]] == [
        ("site:hub-a", "hub", 2.0, 1.0, 1.0, ["bp-x", "hub-a"]),
        ("link:L2", "link", 0.5, 0.5, 0.0, ["bp-x"])]


def test_capacity_from_roll_ups(world, tmp_path: Path) -> None:
    doc = report(world, tmp_path)
    cap = doc["capacity"]
    assert [r["link"] for r in cap["hot_links"]] == ["L4"]  # p95 0.95 > 0.8
    assert cap["hot_links"][0]["p95_pct"] == 95.0
    assert cap["fade"][0]["link"] == "L2" and cap["fade"][0]["fade_margin_min_db"] == 4.5
    assert cap["battery"] == [{"site": "hub-a", "site_name": "Dong Dang node",
                               "device": "hub-a-ups", "on_battery_seconds": 1800.0,
                               "charge_min_pct": 55.0}]


def test_a_period_inside_the_day_is_clipped(world, tmp_path: Path) -> None:
    inv, history = world
    out = tmp_path / "r.json"
    p = Period(T0, DAY_END)
    result = run_report(["--from", p.label(T0 + 2.5 * H).replace(" ", "T"),
                         "--to", p.label(T0 + 5.25 * H).replace(" ", "T"),
                         "--inventory", str(inv), "--history", str(history),
                         "--format", "json", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    bp = next(s for s in doc["sites"] if s["id"] == "bp-x")
    assert bp["seconds"] == {"up": 2.0 * H, "down": 0.0, "isolated": 0.75 * H,
                             "unknown": 0.0}
