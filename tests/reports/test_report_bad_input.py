"""Bad input to `borderwatch report`: one clear line on stderr and an exit code, never a
traceback. Real files and a real SQLite lock, in a real process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from report_history import REPO, empty_history, run_report

INVENTORY = REPO / "inventory.yaml"
PERIOD = ["--from", "2026-11-01", "--to", "2026-12-01"]


def _clean_failure(result, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("borderwatch report: ")
    return result.stderr


def test_missing_history_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "history.sqlite"
    err = _clean_failure(run_report([*PERIOD, "--inventory", str(INVENTORY),
                                     "--history", str(missing), "--format", "json"]), 1)
    assert err == f"borderwatch report: {missing}: no such history file\n"


def test_corrupt_history_file(tmp_path: Path) -> None:
    bad = tmp_path / "history.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    err = _clean_failure(run_report([*PERIOD, "--inventory", str(INVENTORY),
                                     "--history", str(bad)]), 1)
    assert str(bad) in err and ("corrupt" in err or "not a borderwatch history" in err)


def test_some_other_sqlite_file(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    err = _clean_failure(run_report([*PERIOD, "--inventory", str(INVENTORY),
                                     "--history", str(other)]), 1)
    assert "not a borderwatch history file" in err


def test_locked_history_file(tmp_path: Path) -> None:
    path = empty_history(tmp_path / "history.sqlite")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta VALUES ('held', 'by a test')")
        err = _clean_failure(run_report([*PERIOD, "--inventory", str(INVENTORY),
                                         "--history", str(path)]), 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in err and "locked" in err


def test_from_after_to(tmp_path: Path) -> None:
    err = _clean_failure(run_report(["--from", "2026-12-01", "--to", "2026-11-01",
                                     "--inventory", str(INVENTORY)]), 2)
    assert "is not before --to" in err


@pytest.mark.parametrize(("args", "words"), [
    (["--from", "last-fortnight"], "cannot read the time 'last-fortnight'"),
    ([*PERIOD, "--format", "csv"], "--format csv needs -o DIR"),
    ([*PERIOD, "--util-threshold", "80"], "--util-threshold is a ratio"),
])
def test_bad_arguments(args: list[str], words: str) -> None:
    err = _clean_failure(run_report([*args, "--inventory", str(INVENTORY)]), 2)
    assert words in err


def test_invalid_inventory_is_reported_with_its_line(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("schema_version: 1\nsites:\n  - {id: a, name: A, kind: castle}\n")
    err = _clean_failure(run_report([*PERIOD, "--inventory", str(inv), "--history",
                                     str(empty_history(tmp_path / "h.sqlite"))]), 1)
    assert f"{inv}:3: sites[a].kind" in err


def test_period_without_data_gives_an_empty_report_that_says_so(tmp_path: Path) -> None:
    history = empty_history(tmp_path / "history.sqlite")
    out = tmp_path / "r.json"
    result = run_report([*PERIOD, "--inventory", str(INVENTORY), "--history", str(history),
                         "--format", "json", "--lang", "en", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == "borderwatch report: No history data in this period.\n"
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["empty"] is True and doc["notice"] == "No history data in this period."
    assert doc["outages"] == [] and doc["root_causes"] == [] and doc["timeline"] == []
    assert all(s["seconds"]["unknown"] == 30 * 86400 and s["in_history"] is False
               for s in doc["sites"])
    html = tmp_path / "r.html"
    result = run_report([*PERIOD, "--inventory", str(INVENTORY), "--history", str(history),
                         "--lang", "vi", "-o", str(html)])
    assert result.returncode == 0, result.stderr
    assert "Không có dữ liệu lịch sử trong kỳ này." in html.read_text(encoding="utf-8")


def test_inventory_without_a_core_site_reports_that_planning_needs_one(tmp_path: Path) -> None:
    """Reachability is measured from the core: without a core site the planning section says
    so (in both formats), where empty tables would read as "no single point of failure"."""
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY.read_text(encoding="utf-8").replace("kind: core", "kind: hub"),
                   encoding="utf-8")
    history = empty_history(tmp_path / "history.sqlite")
    args = [*PERIOD, "--inventory", str(inv), "--history", str(history), "--lang", "en"]
    result = run_report([*args, "--format", "json", "-o", str(tmp_path / "r.json")])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    planning = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["planning"]
    assert planning["unavailable"] == "no_core" and planning["single_points"] == []
    result = run_report([*args, "-o", str(tmp_path / "r.html")])
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="planning-unavailable">Not available: the inventory has no site of kind core' in html
    assert 'id="spof-table"' not in html
